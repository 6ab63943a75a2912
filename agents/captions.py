"""Per-modality emotion captions for a clip: what the director writes into the Reference Footage library.

Authentic-Dubber's director has an LLM describe each library clip's emotion per modality (scene, face,
text, audio); the library embeds those captions (MiniLM) and retrieves by cosine per modality (DESIGN 1-3).
Here that is two steps:

1. **Descriptors** (rules, deterministic): one function per modality turns measured numbers into plain
   words (``describe_scene``, ``describe_face``, ``describe_text``, ``describe_audio``). They only say what
   was measured: "dim, cold bluish light, saturated colours, almost no motion".
2. **Captions** (``CaptionWriter``): the LLM rewrites a descriptor into one short emotional sentence through
   a few-shot prompt per modality ("The scene is cold and dark, heavy with dread."). The CPU model is a
   270M *base* model: it follows examples, not instructions, so each prompt is a handful of worked
   examples (the one nearest the descriptor last) and the reply is cut at the first newline and
   validated. A reply that is empty, not words, holds numbers, runs over 200 characters, loops, or
   contradicts its descriptor (a "quiet" voice the descriptor calls loud, brows it never mentions, an
   emotion the expression model did not read), and any LLM error or timeout, falls back to the rules
   sentence (the descriptor itself, labelled), with a warning that names the failure. Nothing is ever
   invented on failure.

Captions are cached on disk (``<cache_dir>/captions``) keyed by modality, descriptor, model id and
``PROMPT_VERSION``, so rebuilding a library costs no LLM time; ``CaptionWriter(use_llm=False)`` writes the
rules sentences only, for fast builds (a ``--no-llm`` switch maps onto it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dubber.config import get_config
from dubber.files import atomic_write_json

if TYPE_CHECKING:
    from agents.llm.base import LLMBackend
    from perception.features import VisualFeatures
    from perception.records import AudioFeatures

log = logging.getLogger(__name__)

MODALITIES: tuple[str, ...] = ("scene", "face", "text", "audio")
PROMPT_VERSION = "captions-1"  # bump when a prompt, the validation or the descriptors' wording changes
MAX_CAPTION_CHARS = 200
# descriptors that carry no evidence: always the rules sentence, never an LLM mood
NO_EVIDENCE = frozenset({"no face is visible", "no voiced speech detected"})
CAPTION_MAX_NEW_TOKENS = 24  # text captions: the few-shot ones are 8-14 tokens
GUIDED_MAX_NEW_TOKENS = 14  # the mood completing a guided caption: the few-shot ones are 2-6 tokens


# ---------------------------------------------------------------------------------------------- scene
_HUES: tuple[tuple[float, str], ...] = (
    # upper bound of the hue_mean range (0..1 colour wheel, red at 0) -> adjective
    (0.04, "reddish"), (0.11, "orange"), (0.19, "yellowish"), (0.45, "greenish"), (0.55, "cyan"),
    (0.72, "bluish"), (0.85, "purplish"), (0.95, "pinkish"), (1.01, "reddish"),
)  # fmt: skip


def _band(value: float, bands: tuple[tuple[float, str], ...], last: str) -> str:
    """The word of the first band whose upper bound is above ``value``; ``last`` beyond them all."""
    for upper, word in bands:
        if value < upper:
            return word
    return last


def _hue_word(hue: float) -> str:
    return _band(hue % 1.0, _HUES, "reddish")


def describe_scene(visual: VisualFeatures) -> str:
    """Light, colour and motion of the whole frame in words.

    Bands were set on the corpus's mood backgrounds (``corpora.scenes.MOODS`` rendered by
    ``corpora.faces.render_backgrounds`` and measured by ``perception.scene.scene_stats``): brightness runs
    from 0.10 (fear, night) to 0.85 (happy, bright day), saturation from 0.15 (neutral room) to 0.78
    (angry red), motion of a drifting background is ~0.0005 and a speaking face adds ~0.003.
    """
    s = visual.scene
    parts = [
        _band(
            s["brightness_mean"],
            ((0.15, "very dark"), (0.3, "dark"), (0.45, "dim"), (0.65, "evenly lit"), (0.8, "bright")),
            "very bright",
        )
    ]
    warmth, sat = s["warmth"], s["saturation_mean"]
    temperature = "warm" if warmth > 0.2 else "cold" if warmth < -0.1 else ""
    hue = _hue_word(s["hue_mean"]) if sat >= 0.15 else "grey"
    parts.append(" ".join(w for w in (temperature, hue, "light") if w))
    parts.append(
        _band(
            sat,
            ((0.15, "washed-out colours"), (0.3, "muted colours"), (0.55, "rich colours")),
            "saturated colours",
        )
    )
    if s["brightness_std"] < 0.04:
        parts.append("flat low-contrast light")
    elif s["brightness_std"] > 0.2:
        parts.append("high contrast")
    motion = s["motion_mean"]
    parts.append(
        _band(
            motion,
            ((0.003, "almost no motion"), (0.01, "little motion"), (0.03, "steady motion")),
            "fast, busy motion",
        )
    )
    if motion >= 0.005 and s["motion_std"] > 1.5 * motion:
        parts.append("sudden jolts")
    return ", ".join(parts)


# ----------------------------------------------------------------------------------------------- face
# Typical landmark geometry of a neutral *speaking* drawn face, and the change that counts as one step.
# Obtained by drawing 6 random ``corpora.faces.FaceStyle``s (rng seed 0) with ``emotion_pose('neutral')``
# at mouth openings 0, 0.25, 0.45, 0.6 and 0.8 over the neutral mood background, tracking them with
# ``perception.face.FaceTracker`` and taking the per-style median of ``perception.geometry`` measures, then
# the mean over styles (the across-style spread is in the comment). Full-intensity emotion poses measured
# the same way, for scale: happy corner lift 0.173 / width 1.033; sad corner lift 0.005, eyes 0.155;
# angry corner lift 0.033, eyes 0.205; fear brows 0.342, eyes 0.216; surprise brows 0.346, eyes 0.219;
# disgust brows 0.255, corner lift 0.015. (The landmark fit barely follows a drawn brow's lowering.)
# Real footage has other typical values: pass ``reference=`` to ``describe_face`` for it.
FACE_REFERENCE: dict[str, tuple[float, float]] = {
    "brow_raise": (0.278, 0.020),  # across-style sd 0.019
    "brow_gap": (0.344, 0.025),  # sd 0.024
    "eye_open": (0.186, 0.010),  # sd 0.006
    "mouth_corner_lift": (0.062, 0.025),  # sd 0.008
    "mouth_open": (0.211, 0.100),  # sd 0.011; speech moves it far more than any expression
    "mouth_width": (0.832, 0.050),  # sd 0.017
}


def _z(geometry: dict[str, float], name: str, reference: dict[str, tuple[float, float]]) -> float:
    value = geometry.get(name, float("nan"))
    typical, step = reference[name]
    return (value - typical) / step if value is not None and math.isfinite(value) else float("nan")


def _graded(z: float, high: tuple[tuple[float, str], ...], low: tuple[tuple[float, str], ...]) -> str | None:
    """The word of the first ``high`` step that ``z`` reaches (z >= t), else of the first ``low`` step
    (z <= t); None in between or when ``z`` is NaN (not measured)."""
    word = next((w for t, w in high if z >= t), None)
    return word or next((w for t, w in low if z <= t), None)


# (geometry measure, steps up from typical, steps down), strongest first
_FACE_LADDERS: tuple[tuple[str, tuple[tuple[float, str], ...], tuple[tuple[float, str], ...]], ...] = (
    ("eye_open", ((2.5, "eyes very wide"), (1, "eyes wide")), ((-4, "eyes nearly shut"), (-1, "eyes narrowed"))),
    ("mouth_corner_lift", ((3, "lip corners pulled up in a broad smile"), (1, "lip corners up")),
     ((-2.5, "lip corners pulled down hard"), (-1, "lip corners down"))),
    ("mouth_width", ((2, "mouth stretched wide"),), ((-1, "mouth narrowed"),)),
    ("mouth_open", ((2, "jaw dropped open"),), ((-1.5, "mouth mostly closed"),)),
)  # fmt: skip


def describe_face(
    visual: VisualFeatures, reference: dict[str, tuple[float, float]] | None = None, top: int = 3
) -> str:
    """Brows, eyes and mouth relative to a typical neutral face, then the FER model's leading readings."""
    ref = FACE_REFERENCE if reference is None else reference
    if visual.face_share <= 0:
        return "no face is visible"
    g = visual.geometry
    parts: list[str] = []
    brow = _graded(
        _z(g, "brow_raise", ref),
        ((2.5, "raised high"), (1, "raised")),
        ((-2.5, "lowered hard"), (-1, "lowered")),
    )
    brow_words = [brow] if brow else []
    if _z(g, "brow_gap", ref) <= -1:
        brow_words.append("drawn together")
    if brow_words:
        parts.append("brows " + " and ".join(brow_words))
    for name, high, low in _FACE_LADDERS:
        word = _graded(_z(g, name, ref), high, low)
        if word:
            parts.append(word)
    if not parts:
        measured = any(math.isfinite(v) for v in g.values() if v is not None)
        parts.append("features close to a relaxed face" if measured else "landmarks not measured")
    text = ", ".join(parts)
    ranked = sorted(visual.expression.items(), key=lambda kv: -kv[1])
    shown = [(k, p) for k, p in ranked[:top] if p >= 0.15] or ranked[:1]
    text += "; the expression model reads " + ", ".join(f"{k} {p:.2f}" for k, p in shown)
    if visual.face_share < 0.5:
        text += f"; face seen in only {visual.face_share:.0%} of frames"
    return text


# ----------------------------------------------------------------------------------------------- text
_CAPS_OK = {"I", "OK", "TV", "USA", "UK", "FBI", "CIA", "DNA", "ID"}  # all-caps words that are not shouting


def describe_text(text: str, max_chars: int = 240) -> str:
    """The line in quotes, then its punctuation cues (exclamation, question, ellipsis, all-caps words...)."""
    line = " ".join(str(text).split())
    cues: list[str] = []
    bangs = line.count("!")
    if bangs:
        cues.append("several exclamations" if bangs > 1 else "exclamation")
    if "?" in line:
        cues.append("question")
    if "..." in line or "\u2026" in line:
        cues.append("trailing off with an ellipsis")
    if "--" in line or "\u2014" in line or " - " in line:
        cues.append("broken by a dash")
    caps = [
        w
        for w in re.findall(r"[A-Za-z][A-Za-z']*", line)
        if len(w) >= 2 and w.isupper() and w.strip("'") not in _CAPS_OK
    ]
    if caps:
        cues.append("all-caps words: " + " ".join(dict.fromkeys(caps)))
    if re.search(r"\b([A-Za-z])-\1", line, flags=re.IGNORECASE):
        cues.append("stammer")
    drawn = re.findall(r"\b\w*([A-Za-z])\1\1\w*", line)
    if drawn:
        cues.append("drawn-out word")
    if len(line) > max_chars:
        line = line[: max_chars - 1].rstrip() + "\u2026"
    return f'"{line}" ({"; ".join(cues) if cues else "plain statement"})'


# ---------------------------------------------------------------------------------------------- audio
def describe_audio(features: AudioFeatures) -> str:
    """Pitch level and movement, loudness, pace and pauses of the speech in words.

    Bands were set on 40 clips of the synthetic corpus (flite / espeak voices reshaped with WORLD, 16 kHz):
    voiced-frame energy runs about -19 dBFS (angry) to -29 dBFS (sad); F0 coefficient of variation 0.07
    (neutral) to 0.2 (excited); eGeMAPS loudness peaks 2.6 to 5.2 per second; voiced share 0.4 to 0.73.
    Levels depend on recording gain, so real footage should be loudness-normalised first.
    """
    s = features.summary()
    if s["voiced_share"] < 0.05 or s["f0_mean_hz"] <= 0:  # a few stray voiced frames are no speech
        return "no voiced speech detected"
    f0 = s["f0_mean_hz"]
    parts = [
        _band(f0, ((100, "very low"), (140, "low"), (200, "medium"), (260, "high")), "very high")
        + f" pitch (about {f0:.0f} Hz)"
    ]
    cv = s["f0_std_hz"] / f0
    parts.append(
        _band(
            cv,
            ((0.08, "flat monotone intonation"), (0.12, "steady intonation"), (0.16, "lively intonation")),
            "wide pitch swings",
        )
    )
    voiced = features.voiced
    energy = features.energy_db[voiced] if voiced.any() and len(voiced) == len(features.energy_db) else None
    level = float(energy.mean()) if energy is not None and len(energy) else s["energy_mean_db"]
    parts.append(
        _band(
            level,
            ((-28, "quiet, subdued voice"), (-25, "soft voice"), (-21.5, "normal loudness")),
            "loud voice",
        )
    )
    rate = features.egemaps.get("loudnessPeaksPerSec") if features.egemaps else None
    if rate is not None and math.isfinite(rate):
        parts.append(_band(rate, ((3.0, "slow pace"), (4.3, "moderate pace")), "fast pace"))
    vs = s["voiced_share"]
    if vs < 0.45:
        parts.append("long pauses")
    elif vs > 0.68:
        parts.append("continuous, hardly any pauses")
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------------- prompts
# How the LLM writes a caption. Measured on 20 corpus clips, the 270M base model, asked for a whole
# sentence, mostly copied the nearest example's sentence, contradicting the descriptor (a "quiet" voice the
# descriptor calls loud) in 40% of captions. So for scene, face and audio the caption is *guided*: it
# starts with the descriptor's own words (its "stem": the descriptor without numbers or the expression
# readings) and the model continues it with the mood only, "Dark, warm reddish light, ...: a scene
# charged with rage." The text caption is written whole: the line's wording is what it interprets.
# Examples per modality: (descriptor, the model's part). Written for this prompt; never corpus lines.
_EXAMPLES: dict[str, tuple[str, str, tuple[tuple[str, str], ...]]] = {
    # modality: (what the descriptor is called, what the caption is called, examples)
    "scene": (
        "Look",
        "Mood",
        (
            ("evenly lit, grey light, washed-out colours, almost no motion", "a calm, ordinary scene"),
            ("very bright, warm yellowish light, saturated colours, steady motion",
             "a cheerful, joyful scene"),
            ("dark, cold bluish light, rich colours, almost no motion", "a lonely, sorrowful scene"),
            ("very dark, greenish light, muted colours, little motion, sudden jolts",
             "a scene of creeping fear"),
            ("dark, warm reddish light, saturated colours, fast, busy motion", "a scene charged with rage"),
        ),
    ),
    "face": (
        "Face",
        "Emotion",
        (
            ("features close to a relaxed face; the expression model reads neutral 0.70",
             "calm and neutral"),
            ("eyes narrowed, lip corners pulled up in a broad smile, mouth stretched wide; the expression "
             "model reads happy 0.77", "pure joy"),
            ("eyes narrowed, lip corners pulled down hard; the expression model reads sad 0.61",
             "deep sadness"),
            ("brows raised high, eyes very wide; the expression model reads fear 0.44, surprise 0.30",
             "sudden fear"),
            ("brows lowered and drawn together, eyes wide, lip corners down; the expression model reads "
             "angry 0.52, neutral 0.21", "an angry glare"),
        ),
    ),
    "text": (
        "Line",
        "Feeling",
        (
            ('"The train leaves at nine." (plain statement)', "A plain fact: calm and neutral."),
            ('"We won! I can\'t believe we actually won!" (several exclamations)',
             "Cheering twice over: overjoyed happiness."),
            ('"I really thought she would come back..." (trailing off with an ellipsis)',
             "A line that trails off: quiet sadness and longing."),
            ('"Wait, you did all this for me?" (question)', "An amazed question: happy surprise."),
            ('"Please, don\'t leave me alone in here." (plain statement)',
             "A pleading request: frightened and anxious."),
            ('"Get out of my house, NOW!" (exclamation; all-caps words: NOW)',
             "A shouted order to leave: furious anger."),
        ),
    ),
    "audio": (
        "Voice",
        "Tone",
        (
            ("medium pitch (about 170 Hz), steady intonation, normal loudness, moderate pace",
             "calm and neutral"),
            ("high pitch (about 240 Hz), wide pitch swings, loud voice, fast pace", "bursting joy"),
            ("very low pitch (about 90 Hz), flat monotone intonation, quiet, subdued voice, slow pace",
             "weary sadness"),
            ("high pitch (about 220 Hz), steady intonation, soft voice, fast pace, long pauses",
             "nervous fear"),
            ("low pitch (about 120 Hz), lively intonation, loud voice, fast pace", "forceful anger"),
        ),
    ),
}  # fmt: skip
GUIDED: frozenset[str] = frozenset({"scene", "face", "audio"})  # captions that start with the stem

_HEADERS = {
    "scene": "How a film shot looks, and the mood it sets.",
    "face": "A character's facial expression, and the emotion it shows.",
    "text": "A line of film dialogue, and the feeling behind it, in one short sentence.",
    "audio": "How a line is spoken, and the emotion in the voice.",
}

_DTYPE_NAMES = {"bf16": "bfloat16", "fp32": "float32", "float": "float32", "fp16": "float16"}

_RULE_PREFIX = {"scene": "Scene", "face": "Face", "text": "Line", "audio": "Voice"}


def caption_stem(modality: str, descriptor: str) -> str | None:
    """The words a guided caption starts with: the descriptor without numbers in parentheses and without
    the expression model's readings, capitalised; None for the text modality (written whole)."""
    _check_modality(modality)
    if modality not in GUIDED:
        return None
    stem = _one_line(descriptor).split(";", 1)[0]
    stem = re.sub(r"\s*\([^)]*\d[^)]*\)", "", stem).strip(" ,.")
    return stem[:1].upper() + stem[1:] if stem else None


def caption_prompt(modality: str, descriptor: str) -> str:
    """The few-shot prompt whose continuation is the caption, or for a guided modality the mood that
    completes ``<stem>:``."""
    _check_modality(modality)
    given, wanted, examples = _EXAMPLES[modality]
    descriptor = _one_line(descriptor)
    lines = [_HEADERS[modality], ""]
    # the most similar example goes last: a small model leans on the nearest example, so the words it
    # borrows then fit this descriptor best
    mine = set(re.findall(r"[a-z]+", descriptor.lower()))

    def overlap(example: tuple[str, str]) -> float:
        theirs = set(re.findall(r"[a-z]+", example[0].lower()))
        return len(mine & theirs) / max(1, len(mine | theirs))

    for d, c in sorted(examples, key=overlap):
        lines += [f"{given}: {d}", f"{wanted}: {example_caption(modality, d, c)}", ""]
    stem = caption_stem(modality, descriptor)
    lines += [f"{given}: {descriptor}", f"{wanted}:" + (f" {stem}:" if stem else "")]
    return "\n".join(lines)


def example_caption(modality: str, descriptor: str, written: str) -> str:
    """A whole caption from the model's part: ``<stem>: <mood>.`` for guided modalities."""
    stem = caption_stem(modality, descriptor)
    return f"{stem}: {written}." if stem else written


def rules_caption(modality: str, descriptor: str) -> str:
    """The fallback sentence: the descriptor itself, labelled with its modality (it adds nothing)."""
    _check_modality(modality)
    text = _one_line(descriptor).rstrip(" .;,")
    return f"{_RULE_PREFIX[modality]}: {text}."


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _check_modality(modality: str) -> None:
    if modality not in MODALITIES:
        raise ValueError(f"unknown caption modality {modality!r}; one of {', '.join(MODALITIES)}")


def _w(*words: str) -> frozenset[str]:
    return frozenset(words)


# Consistency checks of an LLM caption against its descriptor (the small model sometimes copies an example's
# words instead of the descriptor's). Each axis lists its levels as (words a caption may use, words the
# descriptor uses for that level): a caption naming a level while the descriptor names only other levels of
# the same axis contradicts what was measured ("quiet" for a loud voice, "red" light for a cyan scene).
_Axis = tuple[tuple[frozenset[str], frozenset[str]], ...]
_AXES: dict[str, tuple[_Axis, ...]] = {
    "scene": (
        ((_w("bright", "brightly", "sunny", "sunlit"), _w("bright")),
         (_w("even", "evenly"), _w("evenly")),
         (_w("dark", "darkness", "dim", "gloomy", "shadowy", "night"), _w("dark", "dim"))),
        ((_w("warm"), _w("warm")), (_w("cold", "cool", "icy", "chilly"), _w("cold"))),
        ((_w("red", "reddish", "crimson", "scarlet"), _w("reddish")),
         (_w("orange"), _w("orange")),
         (_w("yellow", "yellowish", "golden"), _w("yellowish")),
         (_w("green", "greenish", "sickly"), _w("greenish")),
         (_w("cyan", "teal", "turquoise"), _w("cyan")),
         (_w("blue", "bluish"), _w("bluish")),
         (_w("purple", "purplish", "violet"), _w("purplish")),
         (_w("pink", "pinkish"), _w("pinkish")),
         (_w("grey", "gray", "greyish"), _w("grey"))),
        ((_w("still", "stillness", "motionless"), _w("almost")),
         (_w("slight"), _w("little")),
         (_w("steady"), _w("steady")),
         (_w("busy", "restless", "hectic"), _w("busy"))),
    ),
    "face": (
        ((_w("raised"), _w("raised")), (_w("lowered", "furrowed"), _w("lowered"))),
        ((_w("wide", "widened"), _w("wide")),
         (_w("narrowed", "narrow", "squinting", "shut"), _w("narrowed", "shut"))),
        ((_w("smile", "smiling", "beaming", "grin", "grinning"), _w("smile", "up")),
         (_w("drooping", "frown", "frowning", "downturned"), _w("down"))),
    ),
    "text": (),
    "audio": (
        ((_w("loud", "loudly", "shouting", "booming"), _w("loud")),
         (_w("normal"), _w("normal")),
         (_w("quiet", "quietly", "soft", "softly", "subdued", "hushed", "whisper"), _w("quiet", "soft"))),
        ((_w("fast", "rapid", "quick", "hurried"), _w("fast")),
         (_w("moderate"), _w("moderate")),
         (_w("slow", "slowly"), _w("slow"))),
        ((_w("high", "shrill"), _w("high")), (_w("medium"), _w("medium")), (_w("low", "deep"), _w("low"))),
        ((_w("flat", "monotone"), _w("flat")), (_w("steady"), _w("steady")),
         (_w("lively", "swings", "swinging"), _w("lively", "swings"))),
    ),
}  # fmt: skip
# A caption may only name what its descriptor names: facial features and their states, a question or a
# shout in the line.
_FEATURES: dict[str, tuple[tuple[frozenset[str], frozenset[str]], ...]] = {
    "face": (
        (_w("brow", "brows", "eyebrows"), _w("brows")),
        (_w("eye", "eyes"), _w("eyes")),
        (_w("raised"), _w("raised")),
        (_w("lowered", "furrowed"), _w("lowered", "together")),
        (_w("widened"), _w("wide")),
        (_w("narrowed", "squinting"), _w("narrowed", "shut")),
        (_w("smile", "smiling", "beaming", "grin", "grinning"), _w("smile", "up")),
        (_w("drooping", "frown", "frowning", "downturned"), _w("down")),
    ),
    "text": (
        (_w("question", "questions", "asks", "asking", "asked"), _w("question")),
        (_w("shouted", "shout", "shouting", "shouts", "yelled", "yelling", "exclaims"),
         _w("exclamation", "exclamations", "caps")),
        (_w("trails", "trailing"), _w("trailing")),
        (_w("plain"), _w("plain")),
    ),
}  # fmt: skip
# Emotion words, for the face caption: it may only name an emotion the expression model's readings list.
EMOTION_WORDS: dict[str, frozenset[str]] = {
    "angry": _w("angry", "anger", "rage", "furious", "fury", "glare", "glaring", "irritated", "hostile"),
    "disgust": _w("disgust", "disgusted", "revulsion", "revolted", "repulsed"),
    "fear": _w(
        "fear", "afraid", "frightened", "scared", "terror", "terrified", "dread", "nervous", "anxious"
    ),
    "happy": _w("happy", "happiness", "joy", "joyful", "cheerful", "delight", "delighted", "glad"),
    "sad": _w("sad", "sadness", "sorrow", "sorrowful", "grief", "tears", "downcast", "gloomy", "mournful"),
    "surprise": _w(
        "surprise", "surprised", "amazed", "amazement", "astonished", "startled", "shock", "shocked"
    ),
    "neutral": _w("neutral", "calm", "relaxed", "composed"),
}
_CALM = _w("calm", "relaxed", "peaceful", "peacefulness", "gentle", "tranquil")


def contradiction(modality: str, descriptor: str, caption: str) -> str | None:
    """Why the caption contradicts the descriptor (e.g. "quiet" for a loud voice), or None."""
    said = set(re.findall(r"[a-z]+", descriptor.lower()))
    wrote = set(re.findall(r"[a-z]+", caption.lower()))
    for axis in _AXES.get(modality, ()):
        levels = [i for i, (_, marks) in enumerate(axis) if said & marks]
        for i, (words, _) in enumerate(axis):
            hit = wrote & words
            if hit and levels and i not in levels:
                return (
                    f"{sorted(hit)[0]!r} where the descriptor says {sorted(said & axis[levels[0]][1])[0]!r}"
                )
    for words, marks in _FEATURES.get(modality, ()):
        hit = wrote & words
        if hit and not said & marks:
            return f"{sorted(hit)[0]!r}, which the descriptor does not say"
    if modality == "audio" and wrote & _CALM and said & _w("loud", "fast", "swings"):
        return f"{sorted(wrote & _CALM)[0]!r} for a loud, fast or swinging voice"
    if modality == "scene" and wrote & _CALM and said & _w("busy", "jolts"):
        return f"{sorted(wrote & _CALM)[0]!r} for a busy, jolting scene"
    if modality == "face" and "reads" in said:
        read = set(re.findall(r"([a-z]+) \d", descriptor.split("reads", 1)[1]))
        for emotion, words in EMOTION_WORDS.items():
            hit = wrote & words
            if hit and emotion not in read:
                return f"{sorted(hit)[0]!r} while the expression model reads {', '.join(sorted(read))}"
    return None


def validate_caption(
    reply: str, modality: str | None = None, descriptor: str | None = None, *, truncated: bool = False
) -> str:
    """The caption from an LLM reply (first line, trimmed), or ``ValueError`` saying what is wrong.

    With ``modality`` and ``descriptor`` it also rejects a reply that contradicts the descriptor, and for a
    guided modality the reply is the mood completing the stem: the caption is ``<stem>: <mood>.``.
    ``truncated``: the reply ran into the token limit; it is kept only up to its last whole clause."""
    text = str(reply).strip().splitlines()[0].strip() if str(reply).strip() else ""
    stem = caption_stem(modality, descriptor) if modality is not None and descriptor is not None else None
    text = text.strip(" \"'`*" + (":;,." if stem else ""))
    if not text:
        raise ValueError("empty reply")
    if truncated and text[-1] not in ".!?":
        cut = max(text.rfind(","), text.rfind(";"), text.rfind(":"))
        if cut < 0:
            raise ValueError(f"cut short by the token limit: {text!r}")
        text = text[:cut].rstrip()
    letters = sum(c.isalpha() for c in text)
    if letters < (3 if stem else 8) or letters < 0.6 * len(text.replace(" ", "")):
        raise ValueError(f"not words: {text[:60]!r}")
    words = re.findall(r"[a-z']+", text.lower())
    if stem is None and len(words) < 3:
        raise ValueError(f"too short: {text!r}")
    if stem is not None and len(words) > 14:
        raise ValueError(f"too long for a mood ({len(words)} words): {text[:80]!r}")
    if any(c.isdigit() for c in text):
        raise ValueError(f"numbers in a caption (it should be words only): {text!r}")
    if _loops(words):
        raise ValueError(f"repetition loop: {text[:80]!r}")
    if modality is not None and descriptor is not None:
        clash = contradiction(modality, descriptor, text)
        if clash:
            raise ValueError(f"contradicts the descriptor ({clash}): {text!r}")
    if stem is not None:
        text = f"{stem}: {text.rstrip('.!?')}"
    if text[-1] not in ".!?":
        text += "."
    if len(text) > MAX_CAPTION_CHARS:
        raise ValueError(f"too long ({len(text)} chars)")
    return text


def _loops(words: list[str]) -> bool:
    """True for greedy decoding's typical loops: a word doubled back to back ("dark, dark"), a 2-4 word
    phrase three times in a row, or one content word (4+ letters) three times anywhere."""
    for i in range(len(words) - 1):
        if words[i] == words[i + 1] and len(words[i]) >= 3:
            return True
    for n in (2, 3, 4):
        for i in range(len(words) - 3 * n + 1):
            if words[i : i + n] == words[i + n : i + 2 * n] == words[i + 2 * n : i + 3 * n]:
                return True
    counts: dict[str, int] = {}
    for w in words:
        if len(w) >= 4:
            counts[w] = counts.get(w, 0) + 1
            if counts[w] >= 3:
                return True
    return False


# ---------------------------------------------------------------------------------------------- writer
@dataclass(frozen=True)
class Caption:
    modality: str
    text: str
    source: str  # "llm" or "rules"


class CaptionWriter:
    """Writes one caption per modality: the LLM's rewrite of the descriptor, or the rules sentence.

    ``backend``: an ``LLMBackend`` (default: ``agents.llm.get_backend()``, loaded on the first cache miss).
    ``use_llm=False``: rules sentences only (fast library builds; what a ``--no-llm`` switch sets).
    ``timeout_s``: per-caption LLM time limit (default: the backend's ``llm.timeout_s``).
    ``cache``: read and write the on-disk caption cache under ``cache_dir`` (default
    ``<config cache_dir>/captions``).

    Counters: ``llm_calls`` (generations run), ``cache_hits``, ``fallbacks`` (LLM failures that fell back).
    """

    def __init__(
        self,
        backend: LLMBackend | None = None,
        use_llm: bool = True,
        *,
        timeout_s: float | None = None,
        max_new_tokens: int = CAPTION_MAX_NEW_TOKENS,
        cache: bool = True,
        cache_dir: str | Path | None = None,
    ):
        self._backend = backend
        self.use_llm = bool(use_llm)
        self.timeout_s = timeout_s
        self.max_new_tokens = int(max_new_tokens)
        self.cache = bool(cache)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else get_config().cache_dir / "captions"
        self.llm_calls = 0
        self.cache_hits = 0
        self.fallbacks = 0
        self._lock = threading.Lock()

    # -- model --------------------------------------------------------------------------------------
    @property
    def backend(self) -> LLMBackend:
        if self._backend is None:
            from agents.llm import get_backend

            self._backend = get_backend()
        return self._backend

    @property
    def model_id(self) -> str:
        """The model (and weight precision) in the cache key; known from the configuration without loading
        the model, so a rebuild whose captions are all cached never loads it."""
        if self._backend is not None:
            b = self._backend
            dtype = str(getattr(b, "dtype", "") or "").replace("torch.", "")
            return f"{b.name}:{b.model_id}|{_DTYPE_NAMES.get(dtype, dtype)}"
        cfg = get_config().llm
        if cfg.model:
            model = str(Path(cfg.model).expanduser()) if cfg.backend == "transformers" else cfg.model
        else:
            from agents.llm.transformers_backend import GEMMA_MODEL_ID

            model = GEMMA_MODEL_ID
        dtype = str(cfg.dtype).strip().lower()
        if cfg.backend == "vllm":
            dtype = ""  # vLLM reports no dtype attribute: keep the key the same whichever way it is built
        return f"{cfg.backend}:{model}|{_DTYPE_NAMES.get(dtype, dtype)}"

    # -- cache --------------------------------------------------------------------------------------
    def _cache_path(self, modality: str, descriptor: str) -> Path:
        key = json.dumps([modality, _one_line(descriptor), self.model_id, PROMPT_VERSION])
        digest = hashlib.sha1(key.encode("utf-8")).hexdigest()
        return self.cache_dir / digest[:2] / f"{digest}.json"

    def _cache_get(self, path: Path) -> Caption | None:
        if not self.cache or not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return Caption(data["modality"], data["text"], data["source"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("caption cache entry %s is unreadable (%s); writing it again", path, exc)
            return None

    def _cache_put(self, path: Path, caption: Caption, descriptor: str) -> None:
        if not self.cache:
            return
        data = {**asdict(caption), "descriptor": descriptor, "model": self.model_id, "prompt": PROMPT_VERSION}
        atomic_write_json(path, data, indent=None)

    # -- captions -----------------------------------------------------------------------------------
    def caption(self, modality: str, descriptor: str) -> Caption:
        """One caption for ``descriptor`` (from a ``describe_*`` function) of ``modality``."""
        _check_modality(modality)
        descriptor = _one_line(descriptor)
        if not self.use_llm or descriptor in NO_EVIDENCE:
            # nothing measured, nothing to interpret: the LLM would only invent a mood
            return Caption(modality, rules_caption(modality, descriptor), "rules")
        path = self._cache_path(modality, descriptor)
        cached = self._cache_get(path)
        if cached is not None:
            with self._lock:
                self.cache_hits += 1
            return cached
        from agents.llm.base import LLMOutputError, LLMTimeoutError
        from dubber.errors import DubberError

        with self._lock:
            self.llm_calls += 1
        try:
            reply = self.backend.generate(
                caption_prompt(modality, descriptor),
                max_new_tokens=self._token_limit(modality),
                stop=["\n"],
                timeout_s=self.timeout_s,
            )
        except (LLMTimeoutError, LLMOutputError) as exc:
            # transient (time) or backend-side: not cached, the next build tries the LLM again
            return self._fallback(modality, descriptor, f"{type(exc).__name__}: {exc}")
        except DubberError:
            raise  # a missing or misconfigured model is the user's to fix, not something to hide
        except Exception as exc:  # noqa: BLE001 - any runtime failure of the model falls back, loudly
            return self._fallback(modality, descriptor, f"{type(exc).__name__}: {exc}")
        try:
            text = validate_caption(reply, modality, descriptor, truncated=self._hit_limit(reply, modality))
        except ValueError as exc:
            # greedy decoding repeats itself: the same descriptor gives the same garbage, so cache it
            caption = self._fallback(modality, descriptor, f"unusable reply ({exc})")
            self._cache_put(path, caption, descriptor)
            return caption
        caption = Caption(modality, text, "llm")
        self._cache_put(path, caption, descriptor)
        return caption

    def _hit_limit(self, reply: str, modality: str) -> bool:
        """Whether generation stopped at ``max_new_tokens`` rather than at the end of the line."""
        try:
            n = self.backend.count_tokens(reply) - 1  # count_tokens adds one BOS
        except NotImplementedError:
            n = len(reply.split()) * 4 // 3  # about 1.3 tokens per English word
        return n >= self._token_limit(modality) - 1

    def _token_limit(self, modality: str) -> int:
        return min(self.max_new_tokens, GUIDED_MAX_NEW_TOKENS) if modality in GUIDED else self.max_new_tokens

    def _fallback(self, modality: str, descriptor: str, why: str) -> Caption:
        with self._lock:
            self.fallbacks += 1
        log.warning("%s caption: LLM failed (%s); using the rules sentence", modality, why)
        return Caption(modality, rules_caption(modality, descriptor), "rules")

    def descriptors(
        self,
        visual: VisualFeatures | None,
        text: str | None,
        audio_features: AudioFeatures | None = None,
    ) -> dict[str, str]:
        """The descriptor of every modality the inputs cover (scene and face need ``visual``...)."""
        out: dict[str, str] = {}
        if visual is not None:
            out["scene"] = describe_scene(visual)
            out["face"] = describe_face(visual)
        if text is not None and str(text).strip():
            out["text"] = describe_text(text)
        if audio_features is not None:
            out["audio"] = describe_audio(audio_features)
        return out

    def caption_clip(
        self,
        visual: VisualFeatures | None,
        text: str | None,
        audio_features: AudioFeatures | None = None,
    ) -> dict[str, Caption]:
        """Captions for one clip: scene and face (from ``visual``), text, and audio when given."""
        return {m: self.caption(m, d) for m, d in self.descriptors(visual, text, audio_features).items()}

    def stats(self) -> dict[str, int]:
        return {"llm_calls": self.llm_calls, "cache_hits": self.cache_hits, "fallbacks": self.fallbacks}
