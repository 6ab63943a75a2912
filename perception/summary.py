"""The per-clip perception summary: plain JSON-able numbers a person (or the director LLM) can read."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from perception.records import ClipPerception


def curve_stats(values: np.ndarray) -> dict[str, float | None]:
    """Mean, spread and range of a per-frame curve, ignoring frames without a face (NaN)."""
    v = values[~np.isnan(values)]
    if v.size == 0:
        return {"mean": None, "std": None, "min": None, "p90": None, "max": None}
    return {
        "mean": round(float(v.mean()), 4),
        "std": round(float(v.std()), 4),
        "min": round(float(v.min()), 4),
        "p90": round(float(np.percentile(v, 90)), 4),
        "max": round(float(v.max()), 4),
    }


def summarise(p: ClipPerception) -> dict:
    expression = p.expression.as_dict()
    out: dict = {
        "source": p.source,
        "frames": p.num_frames,
        "fps": p.fps,
        "duration_s": round(p.num_frames / p.fps, 3),
        "face": {
            "share": round(p.face.face_share, 4),
            "frames_with_face": int(p.face.has_face.sum()),
        },
        "lips": {
            "inner_opening": curve_stats(p.lips.inner_opening),
            "outer_opening": curve_stats(p.lips.outer_opening),
            "width": curve_stats(p.lips.width),
        },
        "expression": {"probabilities": expression, "top": max(expression, key=expression.get)},
        "scene": p.scene.as_dict(),
    }
    if p.audio is not None:
        audio = p.audio.summary()
        audio["has_speaker_embedding"] = p.audio.speaker_embedding is not None
        audio["egemaps_count"] = len(p.audio.egemaps)
        out["audio"] = audio
    if p.text is not None:
        out["text"] = {
            "raw": p.text.raw,
            "normalised": p.text.normalised,
            "language": p.text.language,
            "phonemes": " ".join(p.text.phonemes),
            "num_phonemes": sum(1 for t in p.text.phonemes if t.strip()),
        }
    if "av_sync" in p.extras:
        out["av_sync"] = p.extras["av_sync"]
    out["timings_s"] = {k: round(v, 3) for k, v in p.timings.items()}
    return out
