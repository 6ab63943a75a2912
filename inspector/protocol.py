"""The inspector's JSON API (``/logs/api/...``): one pydantic model per response.

Messages travel as plain JSON maps (``ground.message_log.plain``: bytes become ``{"bytes": n}``), each with the
byte ``offset`` it starts at in its log; audio is never inlined: a take says where its wav and its F0 and
energy curves are.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

LogKind = Literal["session", "plain"]  # ground.message_log (with .index) | dubber dub --log


class Damage(BaseModel):
    """Where a log stops being readable; everything before ``offset`` is shown."""

    offset: int  # byte offset of the first frame that could not be read
    messages: int  # complete messages before it
    problem: str
    bytes: int  # the file's size when it was read
    torn_tail: bool = False  # the last frame is cut short: a crash, or a log still being written


class SessionSummary(BaseModel):
    id: str
    kind: LogKind
    job: str | None = None  # the batch job whose line log this is
    path: str  # relative to the inspected folder
    messages: int
    lines: int
    lines_ended: int
    takes: int
    errors: int
    closed: bool
    first: float | None = None
    last: float | None = None
    bytes: int
    damage: Damage | None = None


class JobSummary(BaseModel):
    """A batch job's folder (it holds ``job.json``); its line logs are its sessions."""

    id: str
    path: str
    info: dict[str, Any] = Field(default_factory=dict)  # job.json as it is
    problem: str | None = None  # job.json unreadable
    sessions: list[str] = Field(default_factory=list)


class Listing(BaseModel):
    directory: str
    sessions: list[SessionSummary]
    jobs: list[JobSummary]


class TakeAudio(BaseModel):
    chunks: int  # audio messages (0: the take message carried the audio itself)
    samples: int
    sample_rate: int
    seconds: float
    wav: str  # URL of the assembled take
    prosody: str  # URL of its F0 and energy


class TakeView(BaseModel):
    take: int
    guidance: dict[str, Any] | None = None  # performed: the line's, or the last review's revision
    references: list[dict[str, Any]] = Field(default_factory=list)
    take_message: dict[str, Any] | None = None
    review: dict[str, Any] | None = None
    audio: TakeAudio | None = None
    chosen: bool = False


class LineView(BaseModel):
    line: int
    text: str | None = None
    character: str | None = None
    status: str = "running"  # running, done, cancelled, failed
    emotion: str | None = None
    redirected: bool = False
    chosen_take: int | None = None
    request: dict[str, Any] | None = None
    perception: dict[str, Any] | None = None
    guidance: dict[str, Any] | None = None
    accept: dict[str, Any] | None = None
    line_end: dict[str, Any] | None = None
    takes: list[TakeView] = Field(default_factory=list)
    errors: list[dict[str, Any]] = Field(default_factory=list)
    messages: list[dict[str, Any]] = Field(default_factory=list)  # every message but audio chunks


class SessionView(BaseModel):
    summary: SessionSummary
    session: list[dict[str, Any]]  # session-level frames (session, closed, line 0 errors, ...)
    lines: list[LineView]
    end_offset: int  # where live following starts reading


class Prosody(BaseModel):
    """A take's F0 (Hz, 0 unvoiced) and frame energy (dBFS) every ``hop_ms``: WORLD DIO + StoneMask."""

    hop_ms: float
    sample_rate: int
    seconds: float
    f0: list[float]
    energy_db: list[float]


class ApiError(BaseModel):
    code: str
    message: str
