"""One clip record -> one library row: perception, captions, embeddings (DESIGN sections 1 and 3).

Two stages, so that the heavy one can run on Ray workers and the other stays in the one writer process:

1. ``perceive_record`` (any process): visual features of the video (face, expression, scene; cached on
   disk by ``perception.features``), the speech's prosody and eGeMAPS (``perception.audio``), the speaker
   d-vector, and the audio emotion features (eGeMAPS without MFCCs + WORLD prosody statistics of the
   trimmed utterance, ``evaluation.emotion``, cached per clip). Returns a picklable ``PerceivedClip``.
2. ``RowMaker.rows`` (the driver): the director's captions per modality (LLM or rules sentences,
   ``retrieval.captions``), their MiniLM embeddings in one batch, the normalised audio emotion vector, and the
   row dict that ``ReferenceLibrary.upsert`` writes.

The audio emotion vector is z-normalised with *fixed* statistics stored in ``library.audio_norm`` (fitted
once on a training split by ``dubber library audio-norm``), so a row never changes when other rows are
added; z-scores are clipped (outliers would dominate the cosine) and the vector is L2-normalised.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from corpora.records import ClipRecord
from ground.config import DubberConfig, get_config
from ground.errors import BadInputError, MissingComponentError
from ground.files import atomic_write_json
from retrieval.schema import AUDIO_DIM, CAPTION_MODALITIES, SEARCH_MODALITIES, check_row

if TYPE_CHECKING:
    from perception.features import VisualFeatures
    from perception.pipeline import ClipPerceiver
    from perception.records import AudioFeatures
    from retrieval.captions import Caption, CaptionWriter

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------- audio emotion vector
@dataclass
class AudioNorm:
    """Fixed per-feature mean and std for the audio emotion vector, and the features' names."""

    names: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    num_clips: int = 0
    source: str = ""

    @property
    def digest(self) -> str:
        """Short hash of the statistics: part of the extractor version (new statistics -> rows redone)."""
        blob = json.dumps([self.names, np.round(self.mean, 6).tolist(), np.round(self.std, 6).tolist()])
        return hashlib.sha1(blob.encode()).hexdigest()[:8]

    @classmethod
    def fit(cls, X: np.ndarray, names: Sequence[str], source: str = "") -> AudioNorm:
        """Statistics of the selected features over the rows of ``X`` (n, len(names)); NaN-aware."""
        from perception.speech_emotion import selected_names

        keep = selected_names(names)
        if len(keep) != AUDIO_DIM:
            raise ValueError(f"{len(keep)} audio emotion features, the library schema stores {AUDIO_DIM}")
        idx = [list(names).index(n) for n in keep]
        Xs = np.asarray(X, dtype=np.float64)[:, idx]
        mean = np.nan_to_num(np.nanmean(Xs, axis=0))
        std = np.nan_to_num(np.nanstd(Xs, axis=0), nan=1.0)
        std = np.where(std > 1e-9, std, 1.0)  # a constant feature carries no information: leave it at 0
        return cls(names=tuple(keep), mean=mean, std=std, num_clips=int(Xs.shape[0]), source=source)

    def save(self, path: str | Path) -> None:
        path = Path(path)
        data = {
            "names": list(self.names),
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
            "num_clips": self.num_clips,
            "source": self.source,
        }
        atomic_write_json(path, data)

    @classmethod
    def load(cls, path: str | Path) -> AudioNorm:
        path = Path(path)
        hint = "make it with: dubber library audio-norm --from CORPUS (its train split)"
        if not path.is_file():
            raise MissingComponentError("audio emotion statistics not found", source=path, hint=hint)
        try:
            data = json.loads(path.read_text())
            norm = cls(
                names=tuple(data["names"]),
                mean=np.asarray(data["mean"], dtype=np.float64),
                std=np.asarray(data["std"], dtype=np.float64),
                num_clips=int(data.get("num_clips", 0)),
                source=str(data.get("source", "")),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise MissingComponentError(
                f"audio emotion statistics unreadable ({exc})", source=path, hint=hint
            ) from None
        if not len(norm.names) == len(norm.mean) == len(norm.std) == AUDIO_DIM:
            raise MissingComponentError(
                f"audio emotion statistics hold {len(norm.names)} features, the schema {AUDIO_DIM}",
                source=path,
                hint=hint,
            )
        return norm

    def apply(self, raw: np.ndarray, raw_names: Sequence[str], clip_z: float | None = None) -> np.ndarray:
        """(AUDIO_DIM,) float32 unit vector from one clip's raw features (NaN features sit at the mean)."""
        pos = {n: i for i, n in enumerate(raw_names)}
        missing = [n for n in self.names if n not in pos]
        if missing:
            raise ValueError(f"audio features lack {missing[:3]} (feature extractor changed?)")
        x = np.asarray(raw, dtype=np.float64)[[pos[n] for n in self.names]]
        z = np.nan_to_num((x - self.mean) / self.std, nan=0.0, posinf=0.0, neginf=0.0)
        limit = get_config().library.audio_clip_z if clip_z is None else clip_z
        z = np.clip(z, -limit, limit)
        norm = float(np.linalg.norm(z))
        return (z / norm if norm > 0 else z).astype(np.float32)


_norms: dict[str, AudioNorm] = {}
_norms_lock = threading.Lock()


def get_audio_norm(path: str | Path | None = None) -> AudioNorm:
    """The audio statistics at ``path`` (default ``library.audio_norm``), loaded once per process."""
    key = str(Path(path or get_config().library.audio_norm).resolve())
    with _norms_lock:
        if key not in _norms:
            _norms[key] = AudioNorm.load(key)
        return _norms[key]


def fit_audio_norm(
    records: Sequence[ClipRecord], out: str | Path, label: str = "", progress: bool = True
) -> AudioNorm:
    """Fit the audio statistics on ``records`` (their ground-truth audio) and write them to ``out``."""
    from perception.speech_emotion import record_features

    with_audio = [r for r in records if r.audio_path is not None and r.start_s is None]
    if len(with_audio) < 10:
        raise BadInputError(f"{len(with_audio)} clips with audio files; at least 10 are needed")
    X, names = record_features(with_audio, progress=progress)
    norm = AudioNorm.fit(X, names, source=label or f"{len(with_audio)} clips")
    norm.save(out)
    with _norms_lock:
        _norms.pop(str(Path(out).resolve()), None)
    return norm


# ---------------------------------------------------------------------------------------- versions
def extractor_version(use_llm: bool, captions: CaptionWriter | None = None) -> str:
    """Every piece that shapes a row: a row made under another string is stale and is redone."""
    from perception.features import EXTRACTOR_VERSION as VISUAL_VERSION
    from perception.speech_emotion import FEATURE_VERSION
    from retrieval.captions import PROMPT_VERSION

    cfg = get_config()
    if use_llm:
        from retrieval.captions import CaptionWriter

        writer = captions if captions is not None else CaptionWriter(use_llm=True)
        caption_mode = writer.model_id
    else:
        caption_mode = "rules"
    parts = (
        cfg.library.version,
        VISUAL_VERSION,
        f"{PROMPT_VERSION}:{caption_mode}",
        f"text:{Path(cfg.perception.sentence_model).name}",
        f"audio:{FEATURE_VERSION}:{get_audio_norm().digest}",
    )
    return "|".join(parts)


# ------------------------------------------------------------------------------------ stage 1: perceive
@dataclass
class PerceivedClip:
    """What perception found for one clip (picklable: it crosses from a Ray worker to the writer)."""

    record: ClipRecord
    visual: VisualFeatures
    audio: AudioFeatures  # prosody and eGeMAPS of the speech (no d-vector here: it is ``speaker_vector``)
    speaker_vector: np.ndarray
    audio_raw: np.ndarray  # eGeMAPS + prosody statistics of the trimmed utterance
    audio_names: tuple[str, ...]
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


def _span(record: ClipRecord) -> tuple[float, float] | None:
    if record.start_s is None and record.end_s is None:
        return None
    start = float(record.start_s or 0.0)
    end = float(record.end_s) if record.end_s is not None else math.inf
    if end <= start:
        raise BadInputError(f"empty time span {start:.3f}-{end:.3f} s", source=record.video_path)
    return start, end


def _visual(record: ClipRecord, perceiver: ClipPerceiver | None) -> VisualFeatures:
    from perception.features import from_perception, visual_features

    span = _span(record)
    if span is None:
        return visual_features(record.video_path, perceiver)  # cached on disk per video file
    # A cut of a longer file (a subtitle cue): perceive only its frames (not cached: the cache is per file)
    from perception.pipeline import ClipPerceiver
    from perception.records import VideoClip
    from perception.video import read_video

    cfg = get_config().media
    clip = read_video(record.video_path, fps=cfg.fps, with_audio=False, max_seconds=cfg.max_video_seconds)
    a = int(round(span[0] * clip.fps))
    b = clip.num_frames if math.isinf(span[1]) else int(round(span[1] * clip.fps))
    if b - a < 1:
        raise BadInputError(
            f"time span {span[0]:.2f}-{span[1]:.2f} s holds no video frame", source=clip.source
        )
    cut = VideoClip(frames=clip.frames[a:b], fps=clip.fps, source=f"{clip.source}@{span[0]:.2f}s")
    return from_perception((perceiver or ClipPerceiver()).perceive(cut, require_face=False))


def _speech(record: ClipRecord) -> tuple[np.ndarray, Path]:
    """The clip's speech at ``media.sample_rate``: its audio file, else the video's own audio track."""
    from perception.audio import check_audio, load_audio

    source = record.audio_path or record.video_path
    audio = load_audio(source)  # refuses missing, unreadable, silent or too-short audio with the reason
    span = _span(record)
    if span is not None:
        sr = get_config().media.sample_rate
        end = len(audio) if math.isinf(span[1]) else int(span[1] * sr)
        audio = check_audio(audio[int(span[0] * sr) : end], sr, source=f"{source}@{span[0]:.2f}s")
    return audio, Path(source)


def perceive_record(record: ClipRecord, perceiver: ClipPerceiver | None = None) -> PerceivedClip:
    """Stage 1 for one clip. Raises ``DubberError`` (bad media: the clip is recorded as failed) or
    ``MissingComponentError`` (a model is not installed: the whole build stops)."""
    from perception.audio import analyse_audio
    from perception.speaker import get_speaker_encoder
    from perception.speech_emotion import FeatureCache, utterance_features

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    visual = _visual(record, perceiver)
    t1 = time.perf_counter()
    timings["visual"] = t1 - t0
    audio, source = _speech(record)
    sr = get_config().media.sample_rate
    features = analyse_audio(audio, sr, with_egemaps=True, with_speaker=False)
    t2 = time.perf_counter()
    timings["audio"] = t2 - t1
    speaker = get_speaker_encoder().embed(audio, sr, source=str(source))  # one torch thread inside
    t3 = time.perf_counter()
    timings["speaker"] = t3 - t2
    if record.audio_path is not None and _span(record) is None:
        raw, names = FeatureCache().features(record.clip_id, record.audio_path)  # shared with EMO-ACC
    else:
        raw, names = utterance_features(audio, sr)
    timings["emotion_features"] = time.perf_counter() - t3
    return PerceivedClip(
        record=record,
        visual=visual,
        audio=features,
        speaker_vector=np.asarray(speaker, dtype=np.float32),
        audio_raw=np.asarray(raw, dtype=np.float64),
        audio_names=tuple(names),
        seconds=time.perf_counter() - t0,
        timings=timings,
    )


# ---------------------------------------------------------------------------------- stage 2: make rows
def _opt(x: float | None, digits: int = 4) -> float | None:
    return round(float(x), digits) if x is not None and math.isfinite(float(x)) else None


def prosody_stats(p: PerceivedClip) -> dict[str, float | None]:
    """F0 mean and range, rate and energy: what the row stores beside the audio emotion vector."""
    raw = dict(zip(p.audio_names, p.audio_raw, strict=True))
    summary = p.audio.summary()
    return {
        "f0_mean_hz": _opt(summary["f0_mean_hz"]) if summary["f0_mean_hz"] > 0 else None,
        "f0_range_st": _opt(raw.get("pr_f0_range_st")),
        "rate_per_s": _opt(raw.get("loudnessPeaksPerSec")),
        "energy_db": _opt(raw.get("pr_level_db")),
        "duration_s": _opt(p.audio.duration, 3),
    }


class RowMaker:
    """Captions, embeddings and rows for perceived clips; lives in the writer process."""

    def __init__(
        self,
        use_llm: bool = True,
        captions: CaptionWriter | None = None,
        config: DubberConfig | None = None,
    ):
        from retrieval.captions import CaptionWriter

        self.config = config or get_config()
        self.captions = captions if captions is not None else CaptionWriter(use_llm=use_llm)
        self.use_llm = self.captions.use_llm
        self.norm = get_audio_norm(self.config.library.audio_norm)
        self.version = extractor_version(self.use_llm, self.captions)

    def caption(self, p: PerceivedClip) -> dict[str, Caption]:
        return self.captions.caption_clip(p.visual, p.record.text, p.audio)

    def rows(self, clips: Sequence[PerceivedClip]) -> list[dict]:
        """One checked row dict per clip (the captions' embeddings are computed in one batch)."""
        from perception.text import get_sentence_embedder

        if not clips:
            return []
        caps = [self.caption(p) for p in clips]
        texts = [c[m].text for c in caps for m in SEARCH_MODALITIES]
        vectors = get_sentence_embedder().embed(texts).reshape(len(clips), len(SEARCH_MODALITIES), -1)
        now = time.time()
        rows: list[dict] = []
        for p, c, vecs in zip(clips, caps, vectors, strict=True):
            r = p.record
            row = {
                "clip_id": r.clip_id,
                "film": r.film,
                "character": r.character,
                "speaker": r.speaker,
                "language": r.language or "en",
                "split": r.split,
                "text": r.text,
                "start_s": r.start_s,
                "end_s": r.end_s,
                "video_path": str(r.video_path),
                "audio_path": str(r.audio_path) if r.audio_path else None,
                **{f"{m}_vector": vecs[i].tolist() for i, m in enumerate(SEARCH_MODALITIES)},
                "audio_vector": self.norm.apply(p.audio_raw, p.audio_names).tolist(),
                "speaker_vector": p.speaker_vector.tolist(),
                **{f"{m}_caption": c[m].text for m in CAPTION_MODALITIES},
                "caption_sources": ",".join(f"{m}={c[m].source}" for m in CAPTION_MODALITIES),
                **prosody_stats(p),
                "emotion": r.emotion,
                "intensity": r.intensity,
                "extractor_version": self.version,
                "built_at": now,
            }
            check_row(row)
            rows.append(row)
        return rows

    def query_vectors(
        self, visual: VisualFeatures | None = None, text: str | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """Caption vectors of a target that is not in the library (the director's silent clip and line):
        scene and face from ``visual``, text from ``text``; made exactly as library rows are."""
        from perception.text import get_sentence_embedder

        caps = self.captions.caption_clip(visual, text, None)
        mods = [m for m in SEARCH_MODALITIES if m in caps]
        if not mods:
            raise BadInputError("a query needs a video (scene, face) or a line (text)")
        vecs = get_sentence_embedder().embed([caps[m].text for m in mods])
        return {m: vecs[i] for i, m in enumerate(mods)}, {m: caps[m].text for m in mods}
