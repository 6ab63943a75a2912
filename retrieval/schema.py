"""The Reference Footage library's tables (LanceDB, pydantic ``LanceModel``) and the checks every row passes.

One row per clip (``ReferenceRow``): who, where and what is said; one caption per modality (scene, face,
text, audio) written by the director's caption writer, and the MiniLM embedding of the scene, face and text
captions (what retrieval compares); the audio emotion vector (eGeMAPS + WORLD prosody functionals, fixed
z-normalisation, L2-normalised: what the actor receives); the speaker d-vector; prosody statistics; the
label when the source has one; and the version of the extractors that made the row.

Beside it, in the same database: ``failed_clips`` (clips whose perception failed, with the reason),
``neighbours`` (training-time top-K, ``retrieval.neighbours``) and ``library_meta`` (key/value facts about
the build, e.g. whether captions came from the LLM).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from lancedb.pydantic import LanceModel, Vector

from ground.errors import BadInputError

CAPTION_DIM = 384  # all-MiniLM-L6-v2
SPEAKER_DIM = 256  # resemblyzer GE2E d-vector
AUDIO_DIM = 94  # eGeMAPSv02 functionals without the 16 MFCC ones (72) + 22 WORLD prosody statistics

SEARCH_MODALITIES: tuple[str, ...] = ("scene", "face", "text")  # what retrieval compares (DESIGN 1.2)
CAPTION_MODALITIES: tuple[str, ...] = ("scene", "face", "text", "audio")

FAILED_TABLE = "failed_clips"
NEIGHBOURS_TABLE = "neighbours"
META_TABLE = "library_meta"

# column -> expected length, checked before every write (LanceDB would refuse too, with a cryptic cast error)
VECTOR_DIMS: dict[str, int] = {
    "scene_vector": CAPTION_DIM,
    "face_vector": CAPTION_DIM,
    "text_vector": CAPTION_DIM,
    "audio_vector": AUDIO_DIM,
    "speaker_vector": SPEAKER_DIM,
}


def vector_column(modality: str) -> str:
    if modality not in CAPTION_MODALITIES and modality != "speaker":
        raise BadInputError(f"unknown modality {modality!r}", hint="one of " + ", ".join(SEARCH_MODALITIES))
    return f"{modality}_vector"


class ReferenceRow(LanceModel):
    clip_id: str
    film: str | None = None
    character: str | None = None
    speaker: str | None = None
    language: str = "en"
    split: str | None = None  # the source's split; training-time neighbours use the train split only
    text: str
    start_s: float | None = None  # time span inside the media file, when the clip is a cut of it
    end_s: float | None = None
    video_path: str  # media location (a path or URI as the corpus reader gave it)
    audio_path: str | None = None
    scene_vector: Vector(CAPTION_DIM)  # MiniLM embedding of scene_caption
    face_vector: Vector(CAPTION_DIM)
    text_vector: Vector(CAPTION_DIM)
    audio_vector: Vector(AUDIO_DIM)  # audio emotion: normalised eGeMAPS + prosody functionals
    speaker_vector: Vector(SPEAKER_DIM)
    scene_caption: str
    face_caption: str
    text_caption: str
    audio_caption: str
    caption_sources: str  # "scene=rules,face=llm,..." (the LLM falls back to rules sentences per caption)
    f0_mean_hz: float | None = None
    f0_range_st: float | None = None  # 5th to 95th percentile of voiced F0, semitones
    rate_per_s: float | None = None  # loudness peaks per second (eGeMAPS), a syllable-rate proxy
    energy_db: float | None = None  # mean level of the active speech frames, dBFS
    duration_s: float | None = None
    emotion: str | None = None
    intensity: float | None = None
    extractor_version: str
    built_at: float  # Unix seconds


class FailedClip(LanceModel):
    clip_id: str
    source: str  # the media file that failed
    reason: str
    extractor_version: str
    failed_at: float


class MetaRow(LanceModel):
    key: str
    value: str


def check_row(row: dict) -> None:
    """Refuse a row a search could not use: a vector of the wrong length or with NaN/inf, no clip id."""
    clip = row.get("clip_id")
    if not clip or not str(clip).strip():
        raise BadInputError("a library row has no clip_id")
    for column, dim in VECTOR_DIMS.items():
        vec = row.get(column)
        if vec is None:
            raise BadInputError(f"{column} is missing", source=clip)
        try:
            arr = np.asarray(vec, dtype=np.float64)
        except (TypeError, ValueError):
            raise BadInputError(f"{column} is not a vector of numbers", source=clip) from None
        n = arr.shape[0] if arr.ndim == 1 else -1
        if n != dim:
            raise BadInputError(
                f"{column} has {n if n >= 0 else arr.shape} dimensions, the library stores {dim}",
                source=clip,
                hint="was it made by another embedding model?",
            )
        if not np.isfinite(arr).all():
            raise BadInputError(f"{column} contains NaN or infinite values", source=clip)


def check_rows(rows: Iterable[dict]) -> None:
    seen: set[str] = set()
    for row in rows:
        check_row(row)
        if row["clip_id"] in seen:
            raise BadInputError("clip id appears twice in one write", source=row["clip_id"])
        seen.add(row["clip_id"])
