"""Compact per-clip visual features, cached on disk so corpora are perceived once.

Used by the director's face and scene cues and by the reference library build. A cache entry is keyed by
the video's absolute path, size and modification time and by ``EXTRACTOR_VERSION``: changing the
extractors (bump the version) or the file invalidates it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ground.config import get_config
from ground.files import atomic_write_json
from perception.geometry import GEOMETRY_FEATURES, clip_geometry
from perception.records import EXPRESSION_LABELS, ClipPerception

EXTRACTOR_VERSION = "visual-1"
SCENE_FEATURES: tuple[str, ...] = (
    "brightness_mean", "brightness_std", "saturation_mean", "hue_mean", "warmth", "motion_mean", "motion_std",
)  # fmt: skip


@dataclass
class VisualFeatures:
    expression: dict[str, float]  # FER probabilities, clip mean
    geometry: dict[str, float]  # landmark measures, clip median (NaN without a face)
    scene: dict[str, float]
    colour_mean: list[float]
    face_share: float
    num_frames: int
    version: str = EXTRACTOR_VERSION

    def face_vector(self) -> np.ndarray:
        """FER probabilities then geometry; NaN geometry (no face) becomes 0."""
        v = [self.expression[k] for k in EXPRESSION_LABELS] + [self.geometry[k] for k in GEOMETRY_FEATURES]
        return np.nan_to_num(np.asarray(v, dtype=np.float32))

    def scene_vector(self) -> np.ndarray:
        hue = self.scene["hue_mean"] * 2 * np.pi  # circular: encode as a point on the colour wheel
        v = [self.scene[k] for k in SCENE_FEATURES if k != "hue_mean"] + [np.cos(hue), np.sin(hue)]
        return np.asarray(v + list(self.colour_mean), dtype=np.float32)


def from_perception(p: ClipPerception) -> VisualFeatures:
    scene = p.scene.as_dict()
    return VisualFeatures(
        expression={k: float(v) for k, v in p.expression.as_dict().items()},
        geometry=clip_geometry(p.face),
        scene={k: float(scene[k]) for k in SCENE_FEATURES},
        colour_mean=[float(c) for c in scene["colour_mean"]],
        face_share=round(p.face.face_share, 4),
        num_frames=p.num_frames,
    )


def _cache_path(video: Path) -> Path:
    st = video.stat()
    key = f"{video.resolve()}|{st.st_size}|{st.st_mtime_ns}|{EXTRACTOR_VERSION}"
    digest = hashlib.sha1(key.encode()).hexdigest()
    return get_config().cache_dir / "features" / digest[:2] / f"{digest}.json"


def visual_features(video: str | Path, perceiver=None, use_cache: bool = True) -> VisualFeatures:
    """Perceive ``video`` (no audio, no text) and return its compact features, cached."""
    video = Path(video)
    path = _cache_path(video) if use_cache and video.exists() else None
    if path is not None and path.is_file():
        return VisualFeatures(**json.loads(path.read_text()))
    if perceiver is None:
        from perception.pipeline import ClipPerceiver

        perceiver = ClipPerceiver()
    features = from_perception(perceiver.perceive(video, require_face=False))
    if path is not None:
        atomic_write_json(path, asdict(features), indent=None)
    return features
