"""The ``open`` corpus design (the default): a corpus the models cannot solve by memorizing it.

The first corpus had 67 sentence templates shared by every split, one face drawing, and light chosen by the
emotion; every learned part memorized those, and failed on footage made elsewhere (DESIGN section 7). Here:

* **Open text.** Lines come from the shipped sentence pool (``corpora.sentences``: thousands of real
  English sentences, their emotion wording labelled by a lexicon, not by where they came from). Each
  sentence belongs to one part of the pool: training sentences, or one held-out part per test split, so a
  test line is never a sentence the models trained on.
* **Many looks.** Every character has one of several face drawing styles, its own framing and head turn;
  expression intensity runs down to a neutral face on a share of emotional lines. One drawing style and
  one scene palette are held out whole for ``test-new-look``.
* **Light that does not give the label away.** On most films each scene has its own named palette; only
  on the rest does the light follow the line's emotion (as in the first corpus).
* **Many voices**, with whole voices held out for ``test-unseen-speakers``.

Splits, each testing one kind of novelty (``leakage_report`` proves each holds):

==================== ============= ========== ==================================================
split                sentences     voices     looks (drawing, palette)
==================== ============= ========== ==================================================
train, valid         train part    seen       seen
test-new-sentences   held out      seen       seen
test-unseen-speakers held out      held out   seen
test-new-look        held out      seen       held-out drawing and palette
==================== ============= ========== ==================================================
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from corpora.clip import ClipSpec
from ground.errors import BadInputError
from ground.messages import EMOTIONS, NEUTRAL

TEST_SPLITS_OPEN: tuple[str, ...] = ("test-new-sentences", "test-unseen-speakers", "test-new-look")


@dataclass(frozen=True)
class OpenDesign:
    """The knobs of the ``open`` design; the defaults are the shipped corpus's."""

    # shares of all clips per test split (the rest: train 90% / valid 10%)
    new_sentences_share: float = 0.06
    unseen_speakers_share: float = 0.06
    new_look_share: float = 0.06
    unseen_voices: int = 6
    # emotional lines whose words carry nothing of the emotion (the voice and the face must)
    neutral_wording_share: float = 0.3
    # emotional lines whose face shows nothing (a neutral face): the look cannot be trusted alone
    neutral_face_share: float = 0.2
    # films whose scene light is the scene's own palette (the rest: light follows the line's emotion)
    palette_film_share: float = 0.6
    cast_size: tuple[int, int] = (3, 7)  # characters per film, [low, high)
    clips_per_film: int = 40
    clutter: tuple[float, float] = (0.0, 1.0)  # a scene's background clutter, drawn uniformly


@dataclass
class _Character:
    name: str
    voice: str
    face: dict


def _split_pool(sentences: list, rng: np.random.Generator, design: OpenDesign) -> dict[str, list]:
    """The pool cut into disjoint parts: one per test split, the rest for train and valid."""
    order = rng.permutation(len(sentences))
    shares = {
        "test-new-sentences": design.new_sentences_share,
        "test-unseen-speakers": design.unseen_speakers_share,
        "test-new-look": design.new_look_share,
    }
    parts: dict[str, list] = {}
    start = 0
    for split, share in shares.items():
        # 1.5 times the clips' share: each held-out line gets a sentence of its own, with room to choose
        # the wording
        n = max(16, int(round(1.5 * share * len(sentences))))
        parts[split] = [sentences[i] for i in order[start : start + n]]
        start += n
    parts["train"] = [sentences[i] for i in order[start:]]
    return parts


class _SentenceDealer:
    """Deals sentences of one pool part by (wording, emotion), each at most ``max_uses`` times.

    Lexicon labels are scarce for some classes (a few dozen disgust sentences in the whole pool): past
    ``max_uses`` such a line is worded neutrally instead, so no sentence becomes a template for its class.
    Neutral wording is plentiful; it cycles (in a new order) only if even that runs out.
    """

    def __init__(self, sentences: list, rng: np.random.Generator, max_uses: int):
        self.rng, self.max_uses = rng, max_uses
        self.by_key: dict[tuple[str, str | None], list] = defaultdict(list)
        for s in sentences:
            self.by_key[("emotional", s.emotion) if s.wording == "emotional" else ("neutral", None)].append(s)
        for group in self.by_key.values():
            rng.shuffle(group)
        self.next: dict[tuple, int] = defaultdict(int)

    def has(self, key: tuple[str, str | None]) -> bool:
        return self.next[key] < self.max_uses * len(self.by_key.get(key, ()))

    def deal(self, key: tuple[str, str | None]):
        group = self.by_key[key]
        if not group:
            raise BadInputError(f"the sentence pool has no {key[0]}ly worded sentences", hint="rebuild it")
        i = self.next[key]
        self.next[key] = i + 1
        if i and i % len(group) == 0:  # every sentence used once: a new order for the next round
            self.rng.shuffle(group)
        return group[i % len(group)]


def held_out_voices(voices: list[str], n: int, rng: np.random.Generator) -> set[str]:
    """``n`` voices kept out of training: the bank's recommended held-out set where those are among
    ``voices`` (it spans the engines, neural ones included), the rest drawn one engine at a time."""
    from corpora.voices import HELD_OUT_VOICES, VOICES_BY_ID

    chosen = [v for v in HELD_OUT_VOICES if v in voices][:n]
    by_engine: dict[str, list[str]] = defaultdict(list)
    for v in voices:
        if v not in chosen:
            by_engine[VOICES_BY_ID[v].engine if v in VOICES_BY_ID else "?"].append(v)
    engines = sorted(by_engine)
    while len(chosen) < n and any(by_engine.values()):
        for engine in engines:
            if by_engine[engine] and len(chosen) < n:
                chosen.append(by_engine[engine].pop(int(rng.integers(len(by_engine[engine])))))
    return set(chosen)


def plan_open(num_clips: int, seed: int, voices: list[str], design: OpenDesign | None = None) -> list:
    """Films, characters, scenes and lines of the ``open`` design; deterministic in ``seed``."""
    from corpora.faces import DRAWINGS, FaceStyle
    from corpora.scenes import SCENE_PALETTES
    from corpora.sentences import load_sentence_pool
    from corpora.synth import FILM_WORDS, FIRST_NAMES, PlannedClip

    design = design or OpenDesign()
    if len(voices) < 3:
        raise BadInputError(f"the open design needs at least 3 voices, have {len(voices)}")
    rng = np.random.default_rng([seed, 0x0BE7])
    # a fifth of the voices at most, so a small bank still trains on most of its voices
    unseen = held_out_voices(voices, min(design.unseen_voices, max(1, len(voices) // 5)), rng)
    seen = [v for v in voices if v not in unseen]
    unseen_order = [v for v in voices if v in unseen]
    new_drawing, new_palette = DRAWINGS[-1], SCENE_PALETTES[-1]
    seen_drawings, seen_palettes = DRAWINGS[:-1], SCENE_PALETTES[:-1]
    pool = _split_pool(load_sentence_pool(), rng, design)
    # a test line is a sentence of its own; a training sentence is said at most twice (two voices)
    dealers = {part: _SentenceDealer(s, rng, 2 if part == "train" else 1) for part, s in pool.items()}

    # How many clips each split gets; films are made per split so a film's look and cast fit its split.
    n_test = {
        "test-new-sentences": int(round(design.new_sentences_share * num_clips)),
        "test-unseen-speakers": int(round(design.unseen_speakers_share * num_clips)),
        "test-new-look": int(round(design.new_look_share * num_clips)),
    }
    n_test = {k: max(1, v) if num_clips >= 40 else v for k, v in n_test.items()}
    n_main = num_clips - sum(n_test.values())
    if n_main < 2:
        raise BadInputError(f"too few clips ({num_clips}) for the open design", hint="at least 40")

    def character(f: int, c: int, voice: str, drawing_choices: tuple[str, ...]) -> _Character:
        style = FaceStyle.random(rng, drawing=str(rng.choice(drawing_choices)))
        first = FIRST_NAMES[int(rng.integers(len(FIRST_NAMES)))]
        return _Character(f"{first}_{f:03d}{c}", voice, style.to_dict())

    def film(f: int, cast_voices: list[str], drawings: tuple[str, ...], palettes: tuple[str, ...] | None):
        """A film: its cast, and three recurring scenes, each with a palette or emotion-following light."""
        name = f"{FILM_WORDS[f % len(FILM_WORDS)]} {f // len(FILM_WORDS) + 1}"
        cast = [character(f, c, v, drawings) for c, v in enumerate(cast_voices)]
        by_palette = palettes is not None and (
            palettes == (new_palette,) or rng.random() < design.palette_film_share
        )
        scenes = [
            {
                "seed": int(rng.integers(1 << 30)),
                "palette": str(rng.choice(palettes)) if by_palette else None,
                "clutter": float(np.round(rng.uniform(*design.clutter), 2)),
            }
            for _ in range(3)
        ]
        return {"name": name, "cast": cast, "scenes": scenes}

    def cast_of(voice_pool: list[str]) -> list[str]:
        size = int(rng.integers(*design.cast_size))
        return [str(v) for v in rng.choice(voice_pool, size=min(size, len(voice_pool)), replace=False)]

    films_of: dict[str, list[dict]] = {}
    f = 0
    for split, n, voice_pool, drawings, palettes in (
        ("main", n_main, seen, seen_drawings, seen_palettes),
        ("test-new-sentences", n_test["test-new-sentences"], seen, seen_drawings, seen_palettes),
        ("test-unseen-speakers", n_test["test-unseen-speakers"], unseen_order, seen_drawings, seen_palettes),
        ("test-new-look", n_test["test-new-look"], seen, (new_drawing,), (new_palette,)),
    ):
        films_of[split] = []
        for _ in range(max(1, int(np.ceil(n / design.clips_per_film))) if n else 0):
            films_of[split].append(film(f, cast_of(voice_pool), drawings, palettes))
            f += 1
    # every seen voice speaks in training: a voice no main film cast gets a guest part in one
    cast_main = {c.voice for fl in films_of["main"] for c in fl["cast"]}
    for v in seen:
        if v not in cast_main:
            fl = films_of["main"][int(rng.integers(len(films_of["main"])))]
            fl["cast"].append(character(len(fl["cast"]), 9, v, seen_drawings))

    plan = []
    i = 0
    for split, films in films_of.items():
        n = n_main if split == "main" else n_test[split]
        emotions = [EMOTIONS[j % len(EMOTIONS)] for j in range(n)]
        rng.shuffle(emotions)
        dealer = dealers["train" if split == "main" else split]
        for emotion in emotions:
            fl = films[int(rng.integers(len(films)))]
            actor = fl["cast"][int(rng.integers(len(fl["cast"])))]
            scene = fl["scenes"][int(rng.integers(len(fl["scenes"])))]
            intensity = 0.0 if emotion == NEUTRAL else float(np.round(rng.uniform(0.3, 1.0), 2))
            emotional_key = ("emotional", emotion)
            if (
                emotion == NEUTRAL
                or rng.random() < design.neutral_wording_share
                or not dealer.has(emotional_key)
            ):
                key: tuple[str, str | None] = ("neutral", None)
            else:
                key = emotional_key
            sentence = dealer.deal(key)
            face_intensity = (
                0.0
                if rng.random() < design.neutral_face_share
                else float(np.round(intensity * rng.uniform(0.5, 1.0), 3))
            )
            split_name = ("train" if rng.random() < 0.9 else "valid") if split == "main" else split
            spec = ClipSpec(
                clip_id=f"c{i:05d}",
                text=sentence.text,
                voice_id=actor.voice,
                emotion=emotion,
                intensity=intensity,
                character=actor.name,
                film=fl["name"],
                face_intensity=face_intensity,
                scene_seed=scene["seed"],
                face_style=actor.face,
                seed=int(rng.integers(1 << 30)),
                scene_palette=scene["palette"],
                scene_clutter=scene["clutter"],
            )
            plan.append(
                PlannedClip(
                    spec=spec, split=split_name, speaker=actor.voice, wording=key[0], sentence_id=sentence.id
                )
            )
            i += 1
    return plan


def leakage_report(rows: list[dict]) -> dict:
    """What of the held-out material reached training: normalised test sentences, held-out voices, the
    held-out drawing and palette, found in ``train`` or ``valid`` rows. Every list is empty when the splits
    hold. Rows carry ``split``, ``text``, ``speaker``, ``drawing`` and ``palette`` (the manifest's)."""
    from corpora.sentences import normalise_sentence

    fit = [r for r in rows if r["split"] in ("train", "valid")]
    fit_text = {normalise_sentence(r["text"]) for r in fit}
    fit_voices = {r["speaker"] for r in fit}
    fit_drawings = {r.get("drawing") for r in fit}
    fit_palettes = {r.get("palette") for r in fit}
    report: dict[str, dict[str, list]] = {}
    for split in TEST_SPLITS_OPEN:
        test = [r for r in rows if r["split"] == split]
        found = {
            "sentences": sorted({r["text"] for r in test if normalise_sentence(r["text"]) in fit_text}),
            "voices": sorted({r["speaker"] for r in test} & fit_voices)
            if split == "test-unseen-speakers"
            else [],
            "drawings": sorted({r.get("drawing") for r in test} & fit_drawings)
            if split == "test-new-look"
            else [],
            "palettes": sorted({r.get("palette") for r in test} & fit_palettes)
            if split == "test-new-look"
            else [],
        }
        report[split] = found
    return report
