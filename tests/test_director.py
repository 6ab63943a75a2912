"""The director: guidance targets, cue fusion on real features, and the review loop on real audio takes."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from agents.cues import ContextCue, CueInput, TextPrototypeCue
from agents.director import Director, ReviewPolicy
from ground.messages import EMOTIONS, AcceptMessage, GuidanceMessage, ReviewMessage, TakeMessage


@pytest.fixture(scope="module")
def director():
    return Director(write_directions=False)


def test_guidance_targets_follow_the_emotion(director):
    angry = director.guidance_for("angry", 0.9, text="Get out!")
    sad = director.guidance_for("sad", 0.9, text="He is gone.")
    neutral = director.guidance_for("neutral", 0.0)
    assert angry.pace > 1.0 > sad.pace
    assert angry.energy_db > neutral.energy_db > sad.energy_db
    assert angry.arousal > sad.arousal and angry.valence < 0 and sad.valence < 0
    assert abs(sum(angry.probabilities.values()) - 1) < 1e-6
    assert "angry" in angry.direction and angry.emotion == "angry"


def test_text_prototype_cue_reads_clear_lines():
    cue = TextPrototypeCue()
    lines = {
        "angry": "Get out of my house, I am so furious with you!",
        "sad": "She died last winter and I still cry every night.",
        "happy": "We won the prize, this is the best day ever!",
        "fear": "Please don't hurt me, I'm so scared.",
    }
    probs = cue.probabilities_batch(list(lines.values()))
    predicted = [EMOTIONS[i] for i in probs.argmax(axis=1)]
    assert predicted == list(lines), predicted


def test_context_cue_prefers_the_same_characters_recent_emotion():
    cue = ContextCue()
    x = CueInput(text="Fine.", character="Ada", history=[("Ada", "sad"), ("Bo", "happy"), ("Ada", "sad")])
    p = cue.probabilities(x)
    assert EMOTIONS[int(p.argmax())] == "sad"
    assert cue.probabilities(CueInput(text="x")).std() == 0  # no history: uniform


def test_review_loop_redirects_a_wrong_take_and_keeps_the_best(speaking_clip, tmp_path):
    """Take 1 is a neutral render of an angry line (a miss on emotion), take 2 is the real angry take."""
    from corpora.prosody import render_line
    from corpora.voices import get_voice
    from perception.speech_emotion import EmotionClassifier
    from tests.conftest import REPO

    model = REPO / "assets" / "models" / "emotion"
    assert (model / "model.joblib").is_file(), "the shipped emotion classifier is missing (make models)"
    classifier = EmotionClassifier.load(model)
    gt, sr = sf.read(speaking_clip / "audio.wav", dtype="float32")
    text = (speaking_clip / "line.txt").read_text().strip()
    flat = render_line(text, get_voice("flite_slt"), "neutral", 0.0, seed=7).audio
    num_frames = int(round(len(gt) / sr * 25))
    takes = {1: flat, 2: gt, 3: gt}
    messages = []
    d = Director(
        classifier=classifier,
        policy=ReviewPolicy(max_takes=3, max_duration_error_frames=1e9),
        write_directions=False,
    )
    guidance = d.guidance_for("angry", 0.8, text=text)
    result = d.run_line("s", 1, guidance, lambda g, n: (takes[n], sr), num_frames, emit=messages.append)
    kinds = [m.type for m in messages]
    assert kinds[0] == "guidance" and kinds[-1] == "accept"
    first_review = next(m for m in messages if isinstance(m, ReviewMessage))
    assert not first_review.accepted and first_review.revised is not None
    assert first_review.revised.revision == 1
    assert result.chosen.number >= 2
    assert result.chosen.scores.emotion_match > result.takes[0].scores.emotion_match
    assert sum(isinstance(m, TakeMessage) for m in messages) == len(result.takes)
    assert isinstance(messages[0], GuidanceMessage) and isinstance(messages[-1], AcceptMessage)
    assert np.isfinite(result.chosen.quality())


def test_each_miss_gets_its_own_remedy(director):
    """A sync miss moves the speech by the measured offset, a voice miss pulls the timbre to the prompt, an
    emotion miss pushes the prosody away from what the take was heard as, or, when the take is heard
    confidently as an emotion the director nearly chose, switches to it."""
    from ground.messages import TakeScores

    sad = director.guidance_for("sad", 0.6, text="He is gone.")
    late = director.revise(sad, TakeScores(duration_error_frames=0, sync_offset_frames=3))
    assert late.sync_shift_frames == -3 and late.emotion == "sad" and late.voice_match == 0
    assert (
        director.revise(late, TakeScores(duration_error_frames=0, sync_offset_frames=-1)).sync_shift_frames
        == -3
    )
    drifting = director.revise(sad, TakeScores(duration_error_frames=0, speaker_similarity=0.3))
    assert drifting.voice_match == 0.5 and drifting.sync_shift_frames == 0
    assert (
        director.revise(drifting, TakeScores(duration_error_frames=0, speaker_similarity=0.3)).voice_match
        == 1.0
    )

    heard_angry = TakeScores(
        duration_error_frames=0, emotion_match=0.1, predicted_emotion="angry", predicted_probability=0.7
    )
    pushed = director.revise(sad, heard_angry)  # the director never considered angry: stay sad, calmer
    assert pushed.emotion == "sad" and pushed.intensity < sad.intensity
    assert pushed.pitch_shift_st < sad.pitch_shift_st and pushed.energy_db < sad.energy_db
    assert pushed.pace < sad.pace

    probs = np.array([{"sad": 0.45, "fear": 0.35}.get(e, 0.2 / 6) for e in EMOTIONS])
    torn = director.guidance_for("sad", 0.6, probs, text="Don't leave me here.")
    heard_fear = heard_angry.model_copy(update={"predicted_emotion": "fear"})
    assert director.revise(torn, heard_fear).emotion == "fear"
    unsure = heard_fear.model_copy(update={"predicted_probability": 0.4})
    assert director.revise(torn, unsure).emotion == "sad"


# ---------------------------------------------------------------- languages, session context, LLM failure
def test_lines_in_other_languages_are_refused_with_the_reason():
    from agents.language import UnsupportedLanguageError, check_language

    assert check_language("I told you never to come back here!", ("en",)).language == "en"
    assert check_language("Ok.", ("en",))  # too short to tell: accepted, never refused on a guess
    with pytest.raises(UnsupportedLanguageError, match="French"):
        check_language("Je ne sais pas pourquoi tu es revenu ici.", ("en",))
    with pytest.raises(UnsupportedLanguageError, match="script"):
        check_language("お前は誰だ", ("en",))
    with pytest.raises(UnsupportedLanguageError, match="declared as German"):
        check_language("Hello there, old friend.", ("en",), declared="de")


def test_direct_cli_refuses_a_french_line_before_perceiving(speaking_clip):
    from tests.conftest import run_dubber

    r = run_dubber(
        "direct", "--video", str(speaking_clip / "video.mp4"), "--text", "Je ne sais pas pourquoi tu es là."
    )
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("error: the line looks like French")
    assert "Traceback" not in r.stderr


@pytest.fixture(scope="module")
def shipped_fusion():
    from agents.fusion import EmotionFusion
    from tests.conftest import REPO

    return EmotionFusion.load(REPO / "assets" / "models" / "director", use_llm=False)


def test_session_keeps_earlier_decisions_and_leans_on_them(shipped_fusion, tmp_path):
    from agents.session import DirectorSession

    ambiguous = "Well, that is that, then."  # no face, no scene: only the words and the session
    fresh = DirectorSession(Director(fusion=shipped_fusion, write_directions=False), "a")
    before = fresh.direct(1, ambiguous, None, "Ada")
    session = DirectorSession(Director(fusion=shipped_fusion, write_directions=False), "b")
    for i, text in enumerate(["She is gone and nothing will bring her back.", "I miss her every day."]):
        session.record(i + 1, "Ada", session.director.guidance_for("sad", 0.8, text=text), text)
    session.record(3, "Bo", session.director.guidance_for("happy", 0.8), "We won!")
    after = session.direct(4, ambiguous, None, "Ada")
    assert after.probabilities["sad"] > before.probabilities["sad"]
    context = next(e for e in after.evidence if e.cue == "context")
    assert context.note == "says sad"  # Ada's lines, not Bo's
    assert session.characters == {
        "Ada": {"lines": 3, "last_emotion": after.emotion},
        "Bo": {"lines": 1, "last_emotion": "happy"},
    }
    resumed = DirectorSession.from_context(session.director, session.context())
    assert [d.emotion for d in resumed.decisions] == [d.emotion for d in session.decisions]


class FailingLLM:
    """A backend that fails the way real ones do: timing out, or replying with garbage."""

    name, model_id = "failing", "failing"

    def __init__(self, mode: str):
        self.mode = mode
        self.calls = 0

    def generate(self, prompt, max_new_tokens=None, stop=None, *, timeout_s=None):
        from llm import LLMTimeoutError

        self.calls += 1
        if self.mode == "timeout":
            raise LLMTimeoutError("no reply within 60 s")
        return "}}}} ..."

    def label_logprobs(self, prompt, labels, **kwargs):
        from llm import LLMTimeoutError

        self.calls += 1
        if self.mode == "timeout":
            raise LLMTimeoutError("no reply within 60 s")
        return {label: float("nan") for label in labels}


@pytest.mark.parametrize("mode", ["timeout", "garbage"])
def test_a_failing_llm_gives_way_to_the_other_cues_with_a_warning(mode, speaking_clip, caplog):
    from agents.director import DIRECTION_TEMPLATES, level_word
    from agents.fusion import EmotionFusion
    from perception.features import visual_features
    from tests.conftest import REPO

    llm = FailingLLM(mode)
    fusion = EmotionFusion.load(REPO / "assets" / "models" / "director", llm_backend=llm)
    assert "llm" in fusion.cues
    d = Director(fusion=fusion, llm=llm)
    text = (speaking_clip / "line.txt").read_text().strip()
    with caplog.at_level("WARNING"):
        g = d.direct(CueInput(text=text, visual=visual_features(speaking_clip / "video.mp4")))
    assert llm.calls >= 2  # it was asked, for the label scores and for the direction
    assert g.emotion == "angry"  # decided by the words, the face and the scene
    llm_evidence = next(e for e in g.evidence if e.cue == "llm")
    assert llm_evidence.note == "no evidence (uniform)"
    assert g.direction == DIRECTION_TEMPLATES["angry"].format(level=level_word(g.intensity))
    warnings = " ".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert "LLM cue failed" in warnings and ("direction" in warnings)


def test_direct_cli_prints_guidance_and_updates_the_session_context(speaking_clip, tmp_path):
    import json

    from ground.messages import EmotionGuidance
    from tests.conftest import run_dubber

    ctx = tmp_path / "scene.json"
    ctx.write_text(json.dumps({"history": [{"character": "Ada", "emotion": "angry", "line": 1}]}))
    r = run_dubber(
        "direct", "--video", str(speaking_clip / "video.mp4"), "--text", "You did it anyway!",
        "--character", "Ada", "--context-file", str(ctx), "--update-context", "--no-llm", "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    g = EmotionGuidance.model_validate(out["guidance"])
    assert {m: len(v) for m, v in out["references"].items()} == {"scene": 3, "face": 3, "text": 3}
    assert g.emotion == "angry" and {e.cue for e in g.evidence} >= {"text", "face", "scene", "context"}
    history = json.loads(ctx.read_text())["history"]
    assert [(h["line"], h["character"]) for h in history] == [(1, "Ada"), (2, "Ada")]


def test_a_fusion_trained_with_the_llm_keeps_a_trained_stacker_without_it(tmp_path, caplog):
    """``--no-llm`` decides by a stacker trained on the remaining cues, not by an untrained product."""
    import numpy as np

    from agents.cues import NUM_CLASSES
    from agents.fusion import CueTable, EmotionFusion
    from ground.messages import EMOTIONS

    rng = np.random.default_rng(0)
    labels = [EMOTIONS[i % NUM_CLASSES] for i in range(160)]
    y = np.array([EMOTIONS.index(e) for e in labels])

    def cue(reliability: float) -> np.ndarray:  # right with probability `reliability`, else a random class
        said = np.where(rng.random(len(y)) < reliability, y, rng.integers(0, NUM_CLASSES, len(y)))
        p = np.full((len(y), NUM_CLASSES), 0.3 / (NUM_CLASSES - 1))
        p[np.arange(len(y)), said] = 0.7
        return p

    uniform = np.full((len(y), NUM_CLASSES), 1 / NUM_CLASSES)
    table = CueTable(
        {"text": cue(0.8), "face": cue(0.1), "scene": cue(0.1), "llm": cue(0.6), "context": uniform}, labels
    )
    fusion = EmotionFusion(use_llm=True, llm_backend=FailingLLM("garbage"))
    fusion.fit_stacker(table)
    fusion.save(tmp_path / "fusion")
    loaded = EmotionFusion.load(tmp_path / "fusion", use_llm=False)
    assert "llm" not in loaded.cues and loaded.stacker is not None
    assert loaded.stacker is not fusion.stacker  # its own, fit without the LLM's column
    accuracy = loaded.evaluate(table)
    assert accuracy["fused"] >= accuracy["text"] - 0.05 > 0.6  # it learned to follow the words
    # a fusion saved before this (one stacker, with the LLM) says so when used without it
    import joblib

    state = joblib.load(tmp_path / "fusion" / "fusion.joblib")
    state.pop("stackers")
    joblib.dump(state, tmp_path / "fusion" / "fusion.joblib")
    with caplog.at_level("WARNING"):
        old = EmotionFusion.load(tmp_path / "fusion", use_llm=False)
    assert old.stacker is None and "untrained product" in caplog.text


def test_the_llm_reads_the_perception_summary_and_the_session_before_the_line(speaking_clip):
    from agents.cues import LLMLabelCue
    from perception.features import visual_features

    visual = visual_features(speaking_clip / "video.mp4")
    cue = LLMLabelCue()
    seen = cue.prompt(CueInput(text="You did it anyway!", visual=visual, character="Ada",
                               history=[("Ada", "angry"), ("Bo", "happy")]))  # fmt: skip
    query = seen.rsplit("\n\n", 1)[-1]  # after the worked examples
    assert query.startswith("Face: ") and "Scene: " in query and "the expression model reads" in query
    assert "previous line: angry." in query  # Ada's, not Bo's
    assert query.endswith('Line: "You did it anyway!"\nEmotion:')
    words_only = cue.prompt(CueInput(text="You did it anyway!")).rsplit("\n\n", 1)[-1]
    assert words_only == 'Line: "You did it anyway!"\nEmotion:'
