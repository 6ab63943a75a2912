"""Typed director-actor messages and their one wire format (msgpack).

The same pydantic types are used in-process, between Ray actors, on the websocket and in the message logs.
Every message carries ``type`` (the discriminator), ``session``, ``line``, ``take`` and ``ts`` (Unix
seconds). ``encode`` turns a message into one msgpack map; ``decode`` validates a map back into its type and
raises ``MessageError`` (a ``DubberError``) on anything malformed or unknown. Audio travels as PCM16 bytes.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

import msgpack
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from ground.errors import DubberError

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise", "contempt")
"""The emotion classes, the one list every room uses; fixed order: the index of a name is its class id
(``corpora.emotions`` says why these eight and how each one sounds)."""

NEUTRAL = "neutral"


class MessageError(DubberError):
    """A frame that is not valid msgpack, or not a known, well-formed message."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=False)


class Evidence(_Model):
    """What one cue said: its name, its probabilities over the emotion classes and a short note."""

    cue: str  # "llm", "text", "face", "scene", "context"
    probabilities: dict[str, float]
    weight: float = 1.0
    note: str = ""


class EmotionGuidance(_Model):
    """The director's instruction for one take."""

    emotion: str
    probabilities: dict[str, float]  # over EMOTIONS, sums to 1
    intensity: float = Field(ge=0.0, le=1.0)
    valence: float = Field(ge=-1.0, le=1.0)
    arousal: float = Field(ge=0.0, le=1.0)
    pace: float = Field(gt=0.0, le=3.0, default=1.0)  # speaking-rate factor relative to the voice's own
    pitch_shift_st: float = Field(ge=-12.0, le=12.0, default=0.0)  # F0 level target, semitones
    energy_db: float = Field(ge=-20.0, le=20.0, default=0.0)
    direction: str = Field(max_length=400)  # one sentence for the actor
    evidence: list[Evidence] = Field(default_factory=list)
    revision: int = 0  # 0 for the first guidance of a line, +1 per re-direction
    # remedies of a re-direction (0: none): move the speech this many video frames later (-: earlier) to
    # meet the lips after a sync miss; pull the timbre this far towards the voice prompt's after a voice miss
    sync_shift_frames: int = Field(ge=-25, le=25, default=0)
    voice_match: float = Field(ge=0.0, le=1.0, default=0.0)

    @field_validator("emotion")
    @classmethod
    def _known_emotion(cls, v: str) -> str:
        if v not in EMOTIONS:
            raise ValueError(f"unknown emotion {v!r}; one of {', '.join(EMOTIONS)}")
        return v

    @field_validator("probabilities")
    @classmethod
    def _distribution(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = set(v) - set(EMOTIONS)
        if unknown:
            raise ValueError(f"unknown emotion classes {sorted(unknown)}")
        total = sum(v.values())
        if not 0.99 <= total <= 1.01 or any(p < 0 for p in v.values()):
            raise ValueError(f"probabilities must be >= 0 and sum to 1 (sum {total:.3f})")
        return v


class ReferenceClip(_Model):
    """A library clip the director retrieved for one modality."""

    clip_id: str
    modality: str  # "scene", "face", "text"
    similarity: float
    caption: str = ""
    emotion: str | None = None
    audio_emotion: list[float] = Field(default_factory=list)


class TakeScores(_Model):
    duration_error_frames: float
    sync_offset_frames: int | None = None
    sync_confidence: float | None = None
    speaker_similarity: float | None = None
    emotion_match: float | None = None  # probability of the guided emotion under the audio classifier
    predicted_emotion: str | None = None
    predicted_probability: float | None = None  # the classifier's probability of predicted_emotion


class _Envelope(_Model):
    session: str
    line: int = 0
    take: int = 0
    ts: float = Field(default_factory=time.time)


class LineRequest(_Envelope):
    type: Literal["request"] = "request"
    text: str
    character: str | None = None
    clip_id: str | None = None
    timecode_s: float | None = None
    context: str = ""


class PerceptionReport(_Envelope):
    type: Literal["perception"] = "perception"
    summary: dict[str, Any]


class GuidanceMessage(_Envelope):
    type: Literal["guidance"] = "guidance"
    guidance: EmotionGuidance


class ReferencesMessage(_Envelope):
    type: Literal["references"] = "references"
    references: list[ReferenceClip]


PCM16_SCALE = 32767.0


def to_pcm16(audio: np.ndarray) -> bytes:
    """Little-endian signed 16-bit mono PCM of float audio in [-1, 1] (values outside are clipped)."""
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    x = np.clip(np.nan_to_num(x), -1.0, 1.0)
    return np.round(x * PCM16_SCALE).astype("<i2").tobytes()


class AudioChunk(_Envelope):
    type: Literal["audio"] = "audio"
    seq: int
    sample_rate: int
    pcm16: bytes  # little-endian mono PCM16


class TakeMessage(_Envelope):
    type: Literal["take"] = "take"
    duration_s: float
    sample_rate: int
    pcm16: bytes = b""  # empty when the audio was streamed as AudioChunk messages


class ReviewMessage(_Envelope):
    type: Literal["review"] = "review"
    scores: TakeScores
    accepted: bool
    reason: str
    revised: EmotionGuidance | None = None


class AcceptMessage(_Envelope):
    type: Literal["accept"] = "accept"
    chosen_take: int
    scores: TakeScores
    reason: str


class ErrorMessage(_Envelope):
    type: Literal["error"] = "error"
    code: str  # e.g. "bad_input", "malformed_frame", "unknown_type", "too_large", "internal"
    message: str


Message = Annotated[
    LineRequest
    | PerceptionReport
    | GuidanceMessage
    | ReferencesMessage
    | AudioChunk
    | TakeMessage
    | ReviewMessage
    | AcceptMessage
    | ErrorMessage,
    Field(discriminator="type"),
]
MESSAGE_TYPES: tuple[str, ...] = (
    "request", "perception", "guidance", "references", "audio", "take", "review", "accept", "error",
)  # fmt: skip
_adapter: TypeAdapter = TypeAdapter(Message)


def to_dict(message: BaseModel) -> dict[str, Any]:
    return message.model_dump(mode="python")


def from_dict(data: Any) -> Message:
    if not isinstance(data, dict):
        raise MessageError(f"a message must be a map, got {type(data).__name__}")
    kind = data.get("type")
    if kind not in MESSAGE_TYPES:
        raise MessageError(f"unknown message type {kind!r}; one of {', '.join(MESSAGE_TYPES)}")
    try:
        return _adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "message"
        raise MessageError(f"bad {kind!r} message: {where}: {first['msg']}") from None


def encode(message: BaseModel) -> bytes:
    return msgpack.packb(to_dict(message), use_bin_type=True)


def decode(frame: bytes) -> Message:
    try:
        data = msgpack.unpackb(frame, raw=False, strict_map_key=True)
    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError, TypeError) as exc:
        raise MessageError(f"frame is not valid msgpack ({type(exc).__name__}: {exc})") from None
    return from_dict(data)
