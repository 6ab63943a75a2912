"""Facial-expression geometry from the 68 landmarks: a few action-unit-like measures per frame.

The FER model reads photographs; these measures read any face the landmarks fit, drawn ones included.
All distances are divided by the inter-ocular distance and measured in the face's own frame (rotated so
the eyes are level), so head roll and size do not change them.

- ``brow_raise``: eyebrow height above the eye centres (AU1/AU2 up, AU4 down)
- ``brow_gap``: distance between the inner brow ends (AU4 pulls them together)
- ``eye_open``: eyelid gap (AU5 widens, AU7/blinks narrow)
- ``mouth_corner_lift``: lip corners above the lip centre line (AU12 smile up, AU15 down)
- ``mouth_open``: inner-lip gap (speech and AU26/27)
- ``mouth_width``: corner-to-corner distance (AU20 stretch, AU18 pucker)
"""

from __future__ import annotations

import numpy as np

from perception.records import FaceTrack

GEOMETRY_FEATURES: tuple[str, ...] = (
    "brow_raise", "brow_gap", "eye_open", "mouth_corner_lift", "mouth_open", "mouth_width",
)  # fmt: skip

_RIGHT_EYE, _LEFT_EYE = list(range(36, 42)), list(range(42, 48))
_RIGHT_BROW, _LEFT_BROW = list(range(17, 22)), list(range(22, 27))


def expression_geometry(track: FaceTrack) -> np.ndarray:
    """(T, 6) float32 per-frame measures in GEOMETRY_FEATURES order; NaN where there is no face."""
    lm = track.landmarks.astype(np.float64)
    out = np.full((len(lm), len(GEOMETRY_FEATURES)), np.nan)
    for i in np.flatnonzero(track.has_face):
        p = lm[i]
        if not np.isfinite(p).all():
            continue
        r_eye, l_eye = p[_RIGHT_EYE].mean(0), p[_LEFT_EYE].mean(0)
        axis = l_eye - r_eye
        iod = float(np.linalg.norm(axis))
        if iod < 1e-6:
            continue
        c, s = axis / iod
        # Rotate into the face frame: x along the eye line, y down the face, unit = inter-ocular distance.
        rot = np.array([[c, s], [-s, c]])
        q = (p - (r_eye + l_eye) / 2) @ rot.T / iod
        brow_y = np.concatenate([q[_RIGHT_BROW, 1], q[_LEFT_BROW, 1]]).mean()
        eye_y = np.concatenate([q[_RIGHT_EYE, 1], q[_LEFT_EYE, 1]]).mean()
        lid = np.abs(
            q[[37, 38, 43, 44], 1] - q[[41, 40, 47, 46], 1]
        ).mean()  # upper minus lower eyelid, both eyes
        lip_centre_y = (q[[51, 62], 1].mean() + q[[57, 66], 1].mean()) / 2
        corners_y = q[[48, 54], 1].mean()
        out[i] = (
            eye_y - brow_y,
            float(np.linalg.norm(q[21] - q[22])),
            lid,
            lip_centre_y - corners_y,
            float(np.abs(q[[61, 62, 63], 1] - q[[67, 66, 65], 1]).mean()),
            float(np.linalg.norm(q[48] - q[54])),
        )
    return out.astype(np.float32)


def clip_geometry(track: FaceTrack) -> dict[str, float]:
    """Per-clip medians (robust to blinks and speech) of each measure; NaN when no face is found."""
    g = expression_geometry(track)
    valid = ~np.isnan(g).any(axis=1)
    if not valid.any():
        return dict.fromkeys(GEOMETRY_FEATURES, float("nan"))
    med = np.median(g[valid], axis=0)
    return {name: round(float(v), 4) for name, v in zip(GEOMETRY_FEATURES, med, strict=True)}
