"""Descriptors: what perception measured about a clip, in plain words, one function per modality
(``describe_scene``, ``describe_face``, ``describe_text``, ``describe_audio``). Deterministic rules; they only
say what was measured ("dim, cold bluish light, saturated colours, almost no motion"). The director reads them
in its perception summary and the caption writer (``retrieval.captions``) turns them into captions.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from perception.features import VisualFeatures
    from perception.records import AudioFeatures

NO_EVIDENCE = frozenset({"no face is visible", "no voiced speech detected"})
"""Descriptors that carry no evidence: always the rules sentence, never an LLM mood."""


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
