"""Typed records produced by perception, shared by the director, the actor, the library and the corpus.

Arrays are numpy; per-video-frame arrays have length T (frames at ``MediaConfig.fps``). Frames without a
face carry NaN in every landmark-derived value and ``False`` in ``has_face``: they are never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

EXPRESSION_LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


@dataclass
class VideoClip:
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB, resampled to ``fps``
    fps: float
    source: str
    audio: np.ndarray | None = None  # (N,) float32 mono in [-1, 1], if the container has an audio track
    sample_rate: int | None = None

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps


@dataclass
class FaceTrack:
    landmarks: np.ndarray  # (T, 68, 2) float32 pixel coordinates (x, y), NaN where no face
    boxes: np.ndarray  # (T, 4) float32 left, top, right, bottom, NaN where no face
    has_face: np.ndarray  # (T,) bool

    @property
    def face_share(self) -> float:
        return float(self.has_face.mean()) if len(self.has_face) else 0.0


@dataclass
class LipFeatures:
    """Mouth geometry per video frame, normalised by the inter-ocular distance."""

    inner_opening: np.ndarray  # (T,) inner-lip gap (landmarks 61-63 vs 67-65)
    outer_opening: np.ndarray  # (T,) outer-lip height (50-52 vs 58-56)
    width: np.ndarray  # (T,) mouth-corner distance (48-54)
    mouth_crops: np.ndarray  # (T, S, S) uint8 grey mouth crops, zeros where no face

    def as_matrix(self) -> np.ndarray:
        """(T, 3) float32 [inner, outer, width] for a learned lip encoder."""
        return np.stack([self.inner_opening, self.outer_opening, self.width], axis=1).astype(np.float32)


@dataclass
class ExpressionProbs:
    per_frame: np.ndarray  # (T, 7) probabilities over EXPRESSION_LABELS, NaN where no face
    labels: tuple[str, ...] = EXPRESSION_LABELS

    @property
    def clip(self) -> np.ndarray:
        """Mean over frames with a face; uniform when there is none."""
        valid = ~np.isnan(self.per_frame).any(axis=1)
        if not valid.any():
            return np.full(len(self.labels), 1.0 / len(self.labels), dtype=np.float32)
        return self.per_frame[valid].mean(axis=0).astype(np.float32)

    def as_dict(self) -> dict[str, float]:
        return {label: round(float(p), 4) for label, p in zip(self.labels, self.clip, strict=True)}


@dataclass
class SceneStats:
    brightness_mean: float  # 0..1, mean luma
    brightness_std: float
    saturation_mean: float  # 0..1
    hue_mean: float  # 0..1 circular mean
    warmth: float  # mean (R - B) in -1..1
    colour_mean: tuple[float, float, float]  # RGB 0..1
    motion_mean: float  # mean absolute frame difference, 0..1
    motion_std: float

    def as_dict(self) -> dict[str, float | list[float]]:
        d = dict(self.__dict__)
        d["colour_mean"] = [round(c, 4) for c in self.colour_mean]
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in d.items()}


@dataclass
class AudioFeatures:
    duration: float
    sample_rate: int
    f0: np.ndarray  # (F,) Hz per 10 ms frame, 0 where unvoiced
    voiced: np.ndarray  # (F,) bool
    energy_db: np.ndarray  # (F,) frame RMS in dBFS
    egemaps: dict[str, float] = field(default_factory=dict)  # 88 eGeMAPSv02 functionals
    speaker_embedding: np.ndarray | None = None  # (256,) GE2E d-vector, L2-normalised

    def summary(self) -> dict[str, float]:
        f0v = self.f0[self.voiced]
        return {
            "duration_s": round(self.duration, 3),
            "voiced_share": round(float(self.voiced.mean()) if len(self.voiced) else 0.0, 4),
            "f0_mean_hz": round(float(f0v.mean()), 2) if len(f0v) else 0.0,
            "f0_std_hz": round(float(f0v.std()), 2) if len(f0v) else 0.0,
            "energy_mean_db": round(float(self.energy_db.mean()), 2),
            "energy_std_db": round(float(self.energy_db.std()), 2),
        }


@dataclass
class TextFeatures:
    raw: str
    normalised: str
    phonemes: list[str]  # IPA phoneme tokens from espeak-ng, words separated by " "
    language: str
    embedding: np.ndarray | None = None  # (384,) MiniLM sentence embedding, L2-normalised


@dataclass
class ClipPerception:
    """Everything perception knows about one clip; ``summary()`` is what the director reads."""

    source: str
    num_frames: int
    fps: float
    face: FaceTrack
    lips: LipFeatures
    expression: ExpressionProbs
    scene: SceneStats
    audio: AudioFeatures | None = None
    text: TextFeatures | None = None
    timings: dict[str, float] = field(default_factory=dict)
    extras: dict = field(default_factory=dict)  # derived measurements, e.g. "av_sync"

    def summary(self) -> dict:
        from perception.summary import summarise

        return summarise(self)
