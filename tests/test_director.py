"""The director: guidance targets, cue fusion on real features, and the review loop on real audio takes."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from agents.cues import ContextCue, CueInput, TextPrototypeCue
from agents.director import Director, ReviewPolicy
from dubber.messages import EMOTION_CLASSES, AcceptMessage, GuidanceMessage, ReviewMessage, TakeMessage


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
    predicted = [EMOTION_CLASSES[i] for i in probs.argmax(axis=1)]
    assert predicted == list(lines), predicted


def test_context_cue_prefers_the_same_characters_recent_emotion():
    cue = ContextCue()
    x = CueInput(text="Fine.", character="Ada", history=[("Ada", "sad"), ("Bo", "happy"), ("Ada", "sad")])
    p = cue.probabilities(x)
    assert EMOTION_CLASSES[int(p.argmax())] == "sad"
    assert cue.probabilities(CueInput(text="x")).std() == 0  # no history: uniform


def test_review_loop_redirects_a_wrong_take_and_keeps_the_best(speaking_clip, tmp_path):
    """Take 1 is a neutral render of an angry line (a miss on emotion), take 2 is the real angry take."""
    from corpora.prosody import render_line
    from corpora.voices import get_voice
    from evaluation.emotion import EmotionClassifier
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
