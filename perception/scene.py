"""Scene colour, light and motion statistics of a clip (what the director reads as the "scene" cue).

Computed on frames subsampled to at most ~64 px on the long side: these are global statistics, and
full-resolution work would cost far more than the face pipeline for no change in the numbers.
"""

from __future__ import annotations

import numpy as np

from perception.records import SceneStats

_TARGET_SIDE = 64


def _downscale(frames: np.ndarray) -> np.ndarray:
    """Strided subsampling to about _TARGET_SIDE px (box averaging is not needed for means)."""
    h, w = frames.shape[1:3]
    step = max(1, int(np.ceil(max(h, w) / _TARGET_SIDE)))
    return frames[:, ::step, ::step, :3].astype(np.float32) / 255.0


def scene_stats(frames: np.ndarray) -> SceneStats:
    """Brightness, saturation, hue, warmth, mean colour and motion of (T, H, W, 3) uint8 RGB frames."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or len(frames) == 0:
        raise ValueError(f"scene_stats needs (T, H, W, 3) frames with T > 0, got shape {frames.shape}")
    x = _downscale(frames)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    luma = 0.299 * r + 0.587 * g + 0.114 * b
    mx, mn = x.max(axis=-1), x.min(axis=-1)
    chroma = mx - mn
    sat = np.where(mx > 1e-6, chroma / np.maximum(mx, 1e-6), 0.0)
    # Hue angle from the opponent-colour form (no branching on the max channel); grey pixels carry no
    # hue, so the circular mean is weighted by chroma.
    alpha = r - 0.5 * (g + b)
    beta = (np.sqrt(3.0) / 2.0) * (g - b)
    angle = np.arctan2(beta, alpha)
    wsum = float(chroma.sum())
    if wsum > 1e-6:
        hue = float(np.arctan2((np.sin(angle) * chroma).sum(), (np.cos(angle) * chroma).sum()))
        hue_mean = (hue / (2 * np.pi)) % 1.0
    else:
        hue_mean = 0.0
    per_frame_luma = luma.mean(axis=(1, 2))
    if len(x) > 1:
        # Motion: mean absolute difference of consecutive frames, one value per frame pair.
        diffs = np.abs(np.diff(x, axis=0)).mean(axis=(1, 2, 3))
        motion_mean, motion_std = float(diffs.mean()), float(diffs.std())
    else:
        motion_mean = motion_std = 0.0
    return SceneStats(
        brightness_mean=float(per_frame_luma.mean()),
        brightness_std=float(luma.std()),
        saturation_mean=float(sat.mean()),
        hue_mean=float(hue_mean),
        warmth=float((r - b).mean()),
        colour_mean=(float(r.mean()), float(g.mean()), float(b.mean())),
        motion_mean=motion_mean,
        motion_std=motion_std,
    )
