"""The websocket protocol of a live dubbing session: typed msgpack frames both ways, and their limits.

Every websocket message is one binary frame holding one msgpack map with a ``type``. The client sends
``open`` (first), then ``clip``, ``line``, ``cancel`` and ``close`` frames; the server answers ``ready``,
``clip_registered``, the director-actor messages of ``ground.messages`` (request, perception, guidance,
references, audio, take, review, accept, error), ``line_end`` per line and ``closed``. ``docs/protocol.md``
is the reference; this module is the one place the frames are defined.

``decode_client`` turns bytes into a client frame or raises ``ProtocolError`` with the error code the
server sends back; ``decode_server`` does the same for whatever the server sends (used by the client and
the message logs).
"""

from __future__ import annotations

import re
import time
from typing import Annotated, Any, Literal

import msgpack
from pydantic import BaseModel, ConfigDict, Field, StrictBytes, TypeAdapter, ValidationError, model_validator

from ground.errors import DubberError, without_paths
from ground.messages import MESSAGE_TYPES, ErrorMessage, from_dict

PROTOCOL_VERSION = 1
# clip ids, session ids, character names: never a path (matched whole: ``$`` would let a trailing newline in)
ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# names Windows keeps for devices, and names made of dots only, are refused as ids even where they match
RESERVED_IDS = re.compile(r"\.+|(?i:con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?")
MAX_LINE = 2**31 - 1  # line numbers fit the message log's index
MAX_DEPTH = 8  # nesting of a client frame (open -> voices -> character -> voice is 3)


class ProtocolError(DubberError):
    """A frame the server refuses; ``code`` goes into the error frame sent back."""

    def __init__(self, code: str, problem: str, line: int = 0):
        self.code, self.line = code, line
        super().__init__(problem)


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _ClientFrame(_Frame):
    # strict: msgpack carries types, so a bool is not a number, bytes are not a name, 16000.0 is not a rate
    model_config = ConfigDict(extra="forbid", strict=True)


def is_id(value: object) -> bool:
    return isinstance(value, str) and bool(ID_PATTERN.fullmatch(value)) and not RESERVED_IDS.fullmatch(value)


# -- client -> server -------------------------------------------------------------------------------------
class Voice(_ClientFrame):
    """A character's voice prompt: an audio file's bytes (wav, flac, ogg), or raw PCM16 with its rate."""

    audio: StrictBytes | None = None  # msgpack bin, never a str: a path is not a voice
    pcm16: StrictBytes | None = None
    sample_rate: int | None = Field(default=None, ge=8000, le=192000)

    @model_validator(mode="after")
    def _one_kind(self) -> Voice:
        if (self.audio is None) == (self.pcm16 is None):
            raise ValueError("give audio (file bytes) or pcm16 with sample_rate, one of them")
        if self.pcm16 is not None and (self.sample_rate is None or len(self.pcm16) % 2):
            raise ValueError("pcm16 needs sample_rate and an even number of bytes (16-bit samples)")
        return self


class OpenFrame(_ClientFrame):
    type: Literal["open"] = "open"
    voices: dict[str, Voice] = Field(min_length=1, max_length=64)  # character -> prompt; "*": any other
    sample_rate: int = 16000  # of the audio streamed back: 16000, 24000 or 48000
    max_takes: int | None = Field(default=None, ge=1, le=10)  # at most the server's director.max_takes
    name: str | None = Field(
        default=None, max_length=128
    )  # a label for the log; the session id is the server's
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}$")
    protocol: Literal[1] = PROTOCOL_VERSION

    @model_validator(mode="after")
    def _character_names(self) -> OpenFrame:
        if self.sample_rate not in (16000, 24000, 48000):
            raise ValueError(f"sample_rate {self.sample_rate}: one of 16000, 24000, 48000")
        bad = [name for name in self.voices if name != "*" and not is_id(name)]
        if bad:
            raise ValueError(
                f"character name {bad[0][:40]!r} must match {ID_PATTERN.pattern} (not a device name)"
            )
        return self


class ClipFrame(_ClientFrame):
    """Register a clip once, to use it by id in several lines."""

    type: Literal["clip"] = "clip"
    clip_id: str = Field(max_length=64)
    video: StrictBytes


class LineFrame(_ClientFrame):
    type: Literal["line"] = "line"
    line: int = Field(ge=1, le=MAX_LINE)
    text: str = Field(max_length=4096)  # the director refuses an absurdly long line with its own reason
    character: str | None = Field(default=None, max_length=64)
    clip_id: str | None = Field(default=None, max_length=64)  # a clip registered earlier, or
    video: StrictBytes | None = None  # the clip itself (msgpack bin; a str, e.g. a path, is refused)
    timecode_s: float | None = Field(default=None, ge=0, le=360_000)
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}$")
    fit: Literal["refuse", "speed"] = "refuse"


class CancelFrame(_ClientFrame):
    type: Literal["cancel"] = "cancel"
    line: int = Field(ge=0, le=MAX_LINE)


class CloseFrame(_ClientFrame):
    type: Literal["close"] = "close"


ClientFrame = Annotated[
    OpenFrame | ClipFrame | LineFrame | CancelFrame | CloseFrame, Field(discriminator="type")
]
CLIENT_TYPES = ("open", "clip", "line", "cancel", "close")
_client = TypeAdapter(ClientFrame)


# -- server -> client (besides ground.messages) -------------------------------------------------------------
class _ServerFrame(_Frame):
    session: str
    ts: float = Field(default_factory=time.time)


class ReadyFrame(_ServerFrame):
    type: Literal["ready"] = "ready"
    sample_rate: int
    max_takes: int
    characters: list[str]
    limits: dict[str, float]
    protocol: int = PROTOCOL_VERSION


class ClipRegistered(_ServerFrame):
    type: Literal["clip_registered"] = "clip_registered"
    clip_id: str
    seconds: float | None = None


class LineEnd(_ServerFrame):
    type: Literal["line_end"] = "line_end"
    line: int
    status: Literal["done", "cancelled", "failed"]
    chosen_take: int | None = None
    takes: int = 0
    duration_s: float | None = None
    seconds: float | None = None  # from the line's arrival to its end
    first_chunk_s: float | None = None  # from the line's arrival to its first audio chunk
    warnings: list[str] = Field(default_factory=list)


class ClosedFrame(_ServerFrame):
    type: Literal["closed"] = "closed"
    lines: int
    reason: str = "closed by the client"


class LoggedOpen(_ServerFrame):
    """What the message log keeps of an ``open`` frame (the voices' audio is not logged, only its size)."""

    type: Literal["session"] = "session"
    name: str | None = None
    client: str = ""
    sample_rate: int
    max_takes: int
    voices: dict[str, float]  # character -> seconds


class LoggedLine(_ServerFrame):
    """What the log keeps of a ``line`` frame (the clip's bytes are not logged)."""

    type: Literal["line"] = "line"
    line: int
    text: str
    character: str | None = None
    clip_id: str | None = None
    video_bytes: int = 0
    timecode_s: float | None = None


class LoggedCancel(_ServerFrame):
    type: Literal["cancel"] = "cancel"
    line: int


ServerFrame = Annotated[
    ReadyFrame | ClipRegistered | LineEnd | ClosedFrame | LoggedOpen | LoggedLine | LoggedCancel,
    Field(discriminator="type"),
]
SERVER_TYPES = ("ready", "clip_registered", "line_end", "closed", "session", "line", "cancel")
_server = TypeAdapter(ServerFrame)
ALL_TYPES: tuple[str, ...] = tuple(MESSAGE_TYPES) + SERVER_TYPES


def pack(frame: BaseModel | dict) -> bytes:
    data = frame if isinstance(frame, dict) else frame.model_dump(mode="python")
    return msgpack.packb(data, use_bin_type=True)


def unpack(data: bytes, max_bytes: int | None = None) -> Any:
    if max_bytes is not None and len(data) > max_bytes:
        raise ProtocolError("too_large", f"frame of {len(data)} bytes; the limit is {max_bytes}")
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=True)
    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError, TypeError) as exc:
        raise ProtocolError("malformed_frame", f"frame is not valid msgpack ({type(exc).__name__})") from None


def shown(value: object, limit: int = 40) -> str:
    """A client's value as an error message may show it: short, one line, never the whole of it."""
    text = (
        repr(value)
        if isinstance(value, str | int | float | bool | type(None))
        else f"a {type(value).__name__}"
    )
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_error(exc: ValidationError, kind: str) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"][1:])[:80] or "frame"
    return f"bad {kind!r} frame: {where}: {first['msg'][:200]}"


def _depth(item: Any, limit: int) -> bool:
    """Whether ``item`` nests deeper than ``limit`` maps and arrays (without recursion)."""
    stack = [(item, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return False


def decode_client(data: bytes, max_bytes: int | None = None):
    """Bytes from a client -> a client frame; ``ProtocolError`` (too_large, malformed_frame, unknown_type,
    bad_frame) otherwise. Every refusal names the problem in one short line."""
    item = unpack(data, max_bytes)
    if not isinstance(item, dict):
        raise ProtocolError("malformed_frame", f"a frame must be a map, got {type(item).__name__}")
    if _depth(item, MAX_DEPTH):
        raise ProtocolError("malformed_frame", f"frame nests deeper than {MAX_DEPTH} levels")
    kind = item.get("type")
    if kind not in CLIENT_TYPES:
        raise ProtocolError(
            "unknown_type", f"unknown frame type {shown(kind)}; one of {', '.join(CLIENT_TYPES)}"
        )
    line = item.get("line") if kind in ("line", "cancel") else 0
    line = line if isinstance(line, int) and not isinstance(line, bool) and 0 <= line <= MAX_LINE else 0
    try:
        return _client.validate_python(item)
    except ValidationError as exc:
        raise ProtocolError("bad_frame", _first_error(exc, kind), line=line) from None


def server_from_dict(item: Any):
    """A map the server sent (or logged) -> its typed frame: a ``ground.messages`` message or a frame here."""
    if not isinstance(item, dict):
        raise ProtocolError("malformed_frame", f"a frame must be a map, got {type(item).__name__}")
    kind = item.get("type")
    if kind in MESSAGE_TYPES:
        return from_dict(item)
    if kind not in SERVER_TYPES:
        raise ProtocolError("unknown_type", f"unknown frame type {kind!r}")
    try:
        return _server.validate_python(item)
    except ValidationError as exc:
        raise ProtocolError("bad_frame", _first_error(exc, kind)) from None


def decode_server(data: bytes):
    return server_from_dict(unpack(data))


def error_frame(session: str, code: str, message: str, line: int = 0) -> ErrorMessage:
    """The error frame a client gets: server paths left out of its message."""
    return ErrorMessage(session=session, line=line, code=code, message=without_paths(message))


def check_id(value: str, what: str) -> str:
    if not is_id(value):
        raise ProtocolError("bad_frame", f"{what} must match {ID_PATTERN.pattern} (not a device name)")
    return value
