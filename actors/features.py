"""What the actor reads for one clip, computed once and cached: phonemes, lip motion, and for training the
ground-truth acoustic frames and the speaker's d-vector.

Training reads these from the ``FeatureStore`` (one ``.npz`` per clip), so an epoch never touches video or
audio. ``clip_inputs`` is the same computation for a new clip at dubbing time (no ground truth there).
Lip motion is the perception room's landmarks (inner and outer opening, width) with a face-present channel;
frames without a face are zeros with the channel at 0, never guessed.
"""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from corpora.records import ClipRecord
from ground.config import get_config
from ground.files import replacing

log = logging.getLogger(__name__)

FEATURE_VERSION = "actor-features-1"
LIP_DIM = 4  # inner opening, outer opening, width, face present


@dataclass
class ClipInputs:
    """The actor's inputs for one clip; ``acoustics``/``dvector`` only where ground truth exists."""

    clip_id: str
    text: str
    phonemes: list[str]
    lips: np.ndarray  # (T_video, LIP_DIM) float32
    acoustics: np.ndarray | None = None  # (T_video * frames_per_video_frame, layout.dim) float32
    dvector: np.ndarray | None = None  # (256,) of the clip's own speech
    speaker: str | None = None
    emotion: str | None = None
    intensity: float | None = None
    split: str | None = None
    meta: dict = field(default_factory=dict)

    @property
    def num_video_frames(self) -> int:
        return int(self.lips.shape[0])


def lip_matrix(lips, has_face: np.ndarray) -> np.ndarray:
    m = lips.as_matrix()  # (T, 3), NaN where no face
    present = (has_face & np.isfinite(m).all(axis=1)).astype(np.float32)
    return np.concatenate([np.nan_to_num(m) * present[:, None], present[:, None]], axis=1).astype(np.float32)


def video_lips(video: str | Path, perceiver=None) -> np.ndarray:
    """(T, LIP_DIM) lip motion of a video at the configured frame rate."""
    from perception.face import lip_features
    from perception.pipeline import ClipPerceiver
    from perception.video import read_video

    perceiver = perceiver or ClipPerceiver()
    cfg = perceiver.config
    clip = read_video(video, fps=cfg.media.fps, with_audio=False, max_seconds=cfg.media.max_video_seconds)
    track = perceiver.face_tracker.track(clip.frames)
    lips = lip_features(clip.frames, track, cfg.perception.mouth_crop_size)
    return lip_matrix(lips, np.asarray(track.has_face, dtype=bool))


def clip_inputs(rec: ClipRecord, perceiver=None, with_targets: bool = True) -> ClipInputs:
    from perception.audio import load_audio
    from perception.text import normalise_text, phonemize

    cfg = get_config()
    lips = video_lips(rec.video_path, perceiver)
    x = ClipInputs(
        clip_id=rec.clip_id,
        text=rec.text,
        phonemes=phonemize(normalise_text(rec.text, rec.language)),
        lips=lips,
        speaker=rec.speaker,
        emotion=rec.emotion,
        intensity=rec.intensity,
        split=rec.split,
    )
    if with_targets and rec.audio_path is not None:
        from actors.acoustics import extract_acoustics
        from perception.speaker import get_speaker_encoder

        audio = load_audio(rec.audio_path, sample_rate=cfg.media.sample_rate)
        frames = len(lips) * cfg.media.frames_per_video_frame
        x.acoustics = extract_acoustics(audio, cfg.media.sample_rate, frames).astype(np.float32)
        x.dvector = get_speaker_encoder().embed(audio, cfg.media.sample_rate).astype(np.float32)
    return x


def source_fingerprint(rec: ClipRecord) -> str:
    """What a clip's features were made from: its text and its media files' sizes and modification times.
    A corpus rendered again at the same path reuses clip ids for other clips; their cached features must
    not be taken for the new ones (measured: a re-rendered corpus trained on another corpus's phonemes,
    lips and acoustics, with this corpus's timings, until this check)."""
    parts = [rec.text]
    for path in (rec.video_path, rec.audio_path):
        if path is not None and Path(path).is_file():
            st = Path(path).stat()
            parts.append(f"{Path(path).name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


class FeatureStore:
    """One ``.npz`` per clip under ``<cache_dir>/actor-features/<FEATURE_VERSION>/<corpus>/``, where
    ``<corpus>`` names the corpus folder and a digest of its absolute path: clip ids are only unique
    within a corpus (two corpora both have a ``c00000``). Each entry keeps its ``source_fingerprint``, so a
    corpus rendered again at the same path is computed again. Writes are atomic."""

    def __init__(self, root: str | Path | None = None, corpus: str | Path | None = None):
        if root is None:
            root = get_config().cache_dir / "actor-features" / FEATURE_VERSION
            if corpus is not None:
                resolved = Path(corpus).resolve()
                digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
                root = root / f"{resolved.name}-{digest}"
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, clip_id: str) -> Path:
        return self.root / f"{clip_id}.npz"

    def has(self, clip_id: str, source: str | None = None) -> bool:
        """Whether the clip is stored (and, given ``source``, stored from that source)."""
        path = self.path(clip_id)
        if not path.is_file():
            return False
        if source is None:
            return True
        try:
            with np.load(path, allow_pickle=True) as z:
                return z["meta"].item().get("source") == source
        except Exception:  # noqa: BLE001 - an unreadable entry is recomputed
            return False

    def put(self, x: ClipInputs, source: str | None = None) -> None:
        arrays = {"lips": x.lips, "phonemes": np.array(x.phonemes, dtype=object)}
        if x.acoustics is not None:
            arrays["acoustics"] = x.acoustics
        if x.dvector is not None:
            arrays["dvector"] = x.dvector
        meta = {
            "clip_id": x.clip_id, "text": x.text, "speaker": x.speaker, "emotion": x.emotion,
            "intensity": x.intensity, "split": x.split, "source": source,
        }  # fmt: skip
        with replacing(self.path(x.clip_id), suffix=".npz") as tmp:
            np.savez(tmp, meta=np.array(meta, dtype=object), **arrays)

    def get(self, clip_id: str) -> ClipInputs:
        with np.load(self.path(clip_id), allow_pickle=True) as z:
            meta = z["meta"].item()
            meta.pop("source", None)
            return ClipInputs(
                phonemes=[str(p) for p in z["phonemes"]],
                lips=z["lips"],
                acoustics=z.get("acoustics"),
                dvector=z.get("dvector"),
                **meta,
            )


_worker_perceiver = None


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)  # one process per core already


def _compute(rec: ClipRecord, root: str) -> tuple[str, str | None]:
    global _worker_perceiver
    from perception.pipeline import ClipPerceiver

    if _worker_perceiver is None:
        _worker_perceiver = ClipPerceiver()
    try:
        FeatureStore(root).put(clip_inputs(rec, _worker_perceiver), source_fingerprint(rec))
        return rec.clip_id, None
    except Exception as exc:  # noqa: BLE001 - one bad clip is recorded, the rest go on
        return rec.clip_id, f"{type(exc).__name__}: {exc}"


def precompute(
    records: list[ClipRecord], store: FeatureStore | None = None, workers: int = 2, progress: bool = True
) -> dict[str, str]:
    """Features of every record not yet in ``store`` (resumable); returns ``{clip_id: reason}`` of failures."""
    from tqdm import tqdm

    store = store or FeatureStore()
    todo = [r for r in records if not store.has(r.clip_id, source_fingerprint(r))]
    failed: dict[str, str] = {}
    if not todo:
        return failed
    bar = tqdm(total=len(todo), desc="actor features", unit="clip", disable=not progress)
    with ProcessPoolExecutor(max_workers=max(1, workers), initializer=_init_worker) as pool:
        futures = [pool.submit(_compute, r, str(store.root)) for r in todo]
        for fut in as_completed(futures):
            clip_id, error = fut.result()
            if error:
                failed[clip_id] = error
                log.warning("actor features of %s failed: %s", clip_id, error)
            bar.update()
    bar.close()
    return failed
