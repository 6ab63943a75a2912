"""Face tracking with dlib (HOG frontal detector + 68-point shape predictor) and lip geometry.

Full HOG detection is the expensive step (~10x the shape predictor), so it runs every ``detect_every``
frames on a downscaled copy; in between, the shape predictor alone follows the face from the previous
box. A tracked frame is only trusted when its landmarks look like the face that was last detected
(similar spread, inside the frame, similar appearance); otherwise the detector runs on that frame at
once. Frames where no face is found stay NaN: nothing is interpolated.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import dlib
import numpy as np
from PIL import Image

from ground.config import get_config
from ground.errors import MissingComponentError
from perception.records import FaceTrack, LipFeatures

# Landmark indices (iBUG 68-point scheme).
LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)
MOUTH = slice(48, 68)
INNER_PAIRS = ((61, 67), (62, 66), (63, 65))
OUTER_PAIRS = ((50, 58), (51, 57), (52, 56))

_PATCH = 24  # side of the appearance patch used to tell a followed face from drift
_MIN_NCC = 0.45  # below this the tracked box no longer shows the detected face
_SPREAD_RANGE = (0.65, 1.5)  # allowed landmark spread relative to the last detection
_MAX_SCHEDULED_MISSES = 1  # detector misses tolerated while the tracked face still matches


def landmark_model_path(name: str = "shape_predictor_68_face_landmarks.dat") -> Path:
    """Path of a dlib model file shipped in the ``face-recognition-models`` wheel."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise MissingComponentError(
            "the face landmark model package is not installed", hint="pip install face-recognition-models"
        )
    path = Path(spec.submodule_search_locations[0]) / "models" / name
    if not path.is_file():
        raise MissingComponentError(
            f"dlib model file {name} is missing", source=path, hint="reinstall face-recognition-models"
        )
    return path


def to_grey(frame: np.ndarray) -> np.ndarray:
    """RGB uint8 -> luma uint8 with integer BT.601 weights (fast, no float image)."""
    if frame.ndim == 2:
        return np.ascontiguousarray(frame, dtype=np.uint8)
    f = frame.astype(np.uint16)
    return ((77 * f[..., 0] + 150 * f[..., 1] + 29 * f[..., 2]) >> 8).astype(np.uint8)


@dataclass
class _Ref:
    """What the last detection looked like: used to judge frames that are only tracked."""

    spread: float  # RMS distance of landmarks from their centroid
    box_scale: float  # box width / spread
    offset: np.ndarray  # (2,) box centre minus landmark centroid, in units of spread
    patch: np.ndarray  # (_PATCH*_PATCH,) zero-mean unit-norm grey patch of the box


def _spread(pts: np.ndarray) -> float:
    return float(np.sqrt(((pts - pts.mean(axis=0)) ** 2).sum(axis=1).mean()))


def _box_patch(grey: np.ndarray, box: np.ndarray) -> np.ndarray:
    crop = (
        Image.fromarray(grey).crop(tuple(int(round(v)) for v in box)).resize((_PATCH, _PATCH), Image.BILINEAR)
    )
    v = np.asarray(crop, dtype=np.float32).reshape(-1)
    v = v - v.mean()
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-6 else v


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class FaceTracker:
    """Loads dlib's detector and 68-point predictor once; ``track`` follows the main face of a clip."""

    def __init__(
        self,
        detect_every: int | None = None,
        max_detect_side: int | None = None,
        upsample: int | None = None,
        predictor_path: str | Path | None = None,
    ):
        cfg = get_config().perception
        self.detect_every = max(1, int(detect_every if detect_every is not None else cfg.detect_every))
        self.max_detect_side = int(max_detect_side if max_detect_side is not None else cfg.max_detect_side)
        self.upsample = int(upsample if upsample is not None else cfg.detector_upsample)
        path = Path(predictor_path) if predictor_path is not None else landmark_model_path()
        if not path.is_file():
            raise MissingComponentError("dlib 68-landmark model file is missing", source=path)
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(path))
        self.stats = {"detections": 0, "tracked": 0}

    # -- single steps -------------------------------------------------------------------------------
    def detect(self, grey: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """All faces in a grey frame as (box [l, t, r, b] in full-resolution pixels, score)."""
        self.stats["detections"] += 1
        h, w = grey.shape
        scale = min(1.0, self.max_detect_side / max(h, w)) if self.max_detect_side > 0 else 1.0
        small = grey
        if scale < 1.0:
            size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
            small = np.asarray(Image.fromarray(grey).resize(size, Image.BILINEAR))
        rects, scores, _ = self._detector.run(small, self.upsample, 0.0)
        out = []
        for r, s in zip(rects, scores, strict=True):
            box = np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], dtype=np.float64) / scale
            out.append((box, float(s)))
        return out

    def landmarks(self, grey: np.ndarray, box: np.ndarray) -> np.ndarray:
        """(68, 2) float landmarks for the face inside ``box``."""
        rect = dlib.rectangle(
            int(round(box[0])), int(round(box[1])), int(round(box[2])) - 1, int(round(box[3])) - 1
        )
        shape = self._predictor(grey, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)

    # -- tracking -----------------------------------------------------------------------------------
    def _pick(self, faces: list[tuple[np.ndarray, float]], prev_box: np.ndarray | None) -> np.ndarray:
        if prev_box is not None:
            # Stay on the same person when several faces are visible.
            best = max(faces, key=lambda f: _iou(f[0], prev_box))
            if _iou(best[0], prev_box) > 0.3:
                return best[0]
        return max(faces, key=lambda f: (f[0][2] - f[0][0]) * (f[0][3] - f[0][1]))[0]

    def _reference(self, grey: np.ndarray, box: np.ndarray, pts: np.ndarray) -> _Ref:
        spread = max(_spread(pts), 1e-3)
        centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
        return _Ref(
            spread=spread,
            box_scale=(box[2] - box[0]) / spread,
            offset=(centre - pts.mean(axis=0)) / spread,
            patch=_box_patch(grey, box),
        )

    def _follow_box(self, ref: _Ref, pts: np.ndarray) -> np.ndarray:
        """Box for the next frame: the detection box re-centred and re-scaled on the last landmarks."""
        spread = _spread(pts)
        centre = pts.mean(axis=0) + ref.offset * spread
        half = ref.box_scale * spread / 2
        return np.array([centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half])

    def _plausible(self, grey: np.ndarray, ref: _Ref, box: np.ndarray, pts: np.ndarray) -> bool:
        h, w = grey.shape
        ratio = _spread(pts) / ref.spread
        if not (_SPREAD_RANGE[0] <= ratio <= _SPREAD_RANGE[1]):
            return False
        cx, cy = pts.mean(axis=0)
        if not (0 <= cx < w and 0 <= cy < h):
            return False
        # Eyes must sit above the mouth (catches flipped/collapsed fits).
        if not pts[LEFT_EYE, 1].mean() < pts[MOUTH, 1].mean():
            return False
        return float(np.dot(_box_patch(grey, box), ref.patch)) >= _MIN_NCC

    def _follow(self, grey: np.ndarray, ref: _Ref, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Shape predictor only, from the previous landmarks; None when the result is not trustworthy."""
        self.stats["tracked"] += 1
        box = self._follow_box(ref, pts)
        new_pts = self.landmarks(grey, box)
        return (box, new_pts) if self._plausible(grey, ref, box, new_pts) else None

    def track(self, frames: np.ndarray) -> FaceTrack:
        """Landmarks and boxes of the main face in every frame of (T, H, W, 3) uint8 RGB frames."""
        frames = np.asarray(frames)
        t_count = len(frames)
        landmarks = np.full((t_count, 68, 2), np.nan, dtype=np.float32)
        boxes = np.full((t_count, 4), np.nan, dtype=np.float32)
        has_face = np.zeros(t_count, dtype=bool)
        ref: _Ref | None = None
        pts: np.ndarray | None = None
        box: np.ndarray | None = None
        since_detect = 0
        misses = 0
        for i in range(t_count):
            grey = to_grey(frames[i])
            candidate: tuple[np.ndarray, np.ndarray] | None = None  # (box, landmarks) followed from i-1
            scheduled = since_detect >= self.detect_every - 1
            if ref is not None and pts is not None and not scheduled:
                candidate = self._follow(grey, ref, pts)
                if candidate is not None:
                    box, pts = candidate
                    since_detect += 1
                    landmarks[i], boxes[i], has_face[i] = pts, box, True
                    continue
            # Scheduled detection, a followed face that no longer looks right, or no face yet.
            faces = self.detect(grey)
            since_detect = 0
            if faces:
                box = self._pick(faces, box if ref is not None else None)
                pts = self.landmarks(grey, box)
                ref = self._reference(grey, box, pts)
                misses = 0
            else:
                if ref is not None and pts is not None and scheduled and misses < _MAX_SCHEDULED_MISSES:
                    # The detector blinked on a routine check, but the followed face still matches.
                    candidate = self._follow(grey, ref, pts)
                if candidate is None:
                    ref = pts = box = None
                    continue
                box, pts = candidate
                misses += 1
            landmarks[i], boxes[i], has_face[i] = pts, box, True
        return FaceTrack(landmarks=landmarks, boxes=boxes, has_face=has_face)


def _pair_dist(lm: np.ndarray, pairs: tuple[tuple[int, int], ...]) -> np.ndarray:
    a = lm[:, [p[0] for p in pairs]]
    b = lm[:, [p[1] for p in pairs]]
    return np.linalg.norm(a - b, axis=-1).mean(axis=1)


def lip_features(frames: np.ndarray, track: FaceTrack, crop_size: int | None = None) -> LipFeatures:
    """Inner/outer lip opening and mouth width (over inter-ocular distance) plus grey mouth crops."""
    crop_size = int(crop_size or get_config().perception.mouth_crop_size)
    lm = track.landmarks.astype(np.float64)
    t_count = len(lm)
    # Normalising by the eye distance makes the values independent of face size and camera distance.
    iod = np.linalg.norm(lm[:, LEFT_EYE].mean(axis=1) - lm[:, RIGHT_EYE].mean(axis=1), axis=-1)
    iod = np.where(iod > 1e-6, iod, np.nan)
    inner = _pair_dist(lm, INNER_PAIRS) / iod
    outer = _pair_dist(lm, OUTER_PAIRS) / iod
    width = np.linalg.norm(lm[:, 48] - lm[:, 54], axis=-1) / iod
    crops = np.zeros((t_count, crop_size, crop_size), dtype=np.uint8)
    for i in np.flatnonzero(track.has_face):
        mouth = lm[i, MOUTH]
        if not np.isfinite(mouth).all():
            continue
        centre = (mouth.min(axis=0) + mouth.max(axis=0)) / 2
        # Side follows mouth width (stable under opening) so crops keep one scale through speech.
        side = max(1.7 * np.linalg.norm(lm[i, 48] - lm[i, 54]), 1.2 * np.ptp(mouth[:, 1]), 8.0)
        left, top = centre - side / 2
        region = tuple(int(round(v)) for v in (left, top, left + side, top + side))
        img = Image.fromarray(to_grey(frames[i])).crop(region).resize((crop_size, crop_size), Image.BILINEAR)
        crops[i] = np.asarray(img)
    nan = ~track.has_face
    for arr in (inner, outer, width):
        arr[nan] = np.nan
    return LipFeatures(
        inner_opening=inner.astype(np.float32),
        outer_opening=outer.astype(np.float32),
        width=width.astype(np.float32),
        mouth_crops=crops,
    )
