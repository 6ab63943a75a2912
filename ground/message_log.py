"""Message logs, the one library: every frame of a session or a dubbed line, one msgpack map each, appended
and flushed (fsynced where durability matters) per message, so a crash loses at most the message being written.

Two layouts share the frame format (the maps of ``ground.messages`` and ``ground.protocol``):

* a **session log** ``<dir>/<session>.msgpack`` with ``<session>.index`` beside it: one fixed-size record per
  frame (byte offset, length, line, take, type, time) so a filter reads only what it needs. The log is the
  truth: an index that is missing, short or has a gap anywhere (a crash between the two writes) is rebuilt
  from the log (``open_log``). Written by the server and the batch job (``SessionLogWriter``).
* a **plain log** (``dubber dub --log``): the frames alone (``MessageLogWriter``), read by ``read_log``.

Readers return every complete frame before damage and say where and why they stopped; ``take_pcm16`` and
``line_audio`` give a take's audio from its logged chunks (or the audio its take message carried).
"""

from __future__ import annotations

import base64
import os
import struct
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgpack

from ground.config import get_config
from ground.errors import BadInputError
from ground.messages import Message, MessageError, from_dict
from ground.protocol import ALL_TYPES, check_id, server_from_dict


class MessageLogWriter:
    """Appends frames (typed messages or their maps) to a log, each flushed (and fsynced with ``durable``)
    before ``append`` returns; with ``index`` also one record per frame to ``<log>.index`` beside it (a
    session log). The record is made before the frame is written and cannot fail (every field is clamped to
    its width), so a frame in the log always has its record in the index."""

    def __init__(self, path: str | Path, durable: bool = True, index: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.index_path = self.path.with_suffix(".index") if index else None
        self._log = self.path.open("ab")
        self._index = self.index_path.open("ab") if self.index_path else None
        self._codes = {t: i for i, t in enumerate(ALL_TYPES)}
        self.durable = durable
        self.count = 0
        self._lock = threading.Lock()

    @property
    def closed(self) -> bool:
        return self._log.closed

    def append(self, frame, blob: bytes | None = None) -> None:
        """Write one frame (a typed message or its map; ``blob``: its msgpack bytes when already packed)."""
        data = frame if isinstance(frame, dict) else frame.model_dump(mode="python")
        if blob is None:
            blob = msgpack.packb(data, use_bin_type=True)
        with self._lock:
            if self._log.closed:
                return
            record = _record(self._log.tell(), len(blob), data, self._codes) if self._index else None
            self._log.write(blob)
            self._log.flush()
            if self.durable:
                os.fsync(self._log.fileno())
            if record is not None:
                self._index.write(record)
                self._index.flush()
            self.count += 1

    __call__ = append

    def close(self) -> None:
        with self._lock:
            if not self._log.closed:
                self._log.close()
                if self._index is not None:
                    self._index.close()

    def __enter__(self) -> MessageLogWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SessionLogWriter(MessageLogWriter):
    """A session's log, ``<directory>/<session>.msgpack``, with its index."""

    def __init__(self, directory: str | Path, session: str, durable: bool = True):
        check_id(session, "session id")
        self.dir = Path(directory)
        super().__init__(self.dir / f"{session}.msgpack", durable=durable, index=True)


@dataclass
class LogContents:
    messages: list[Message] = field(default_factory=list)
    damaged_at: int | None = None  # byte offset of the first frame that could not be read
    problem: str | None = None


def scan_frames(data: bytes) -> tuple[list[tuple[int, int, object]], int | None, str | None]:
    """Every complete msgpack frame of a log's bytes as ``(offset, length, item)``, in order, up to the
    first damage, and where and what that damage is (None, None for a whole log). Every reader of either
    layout (``read_log``, ``open_log`` rebuilding an index, the inspector) walks a file with it."""
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=True, max_buffer_size=max(len(data), 1 << 20))
    unpacker.feed(data)
    frames: list[tuple[int, int, object]] = []
    offset = 0
    while True:
        try:
            item = unpacker.unpack()
        except msgpack.OutOfData:
            if offset < len(data):
                return frames, offset, f"truncated frame ({len(data) - offset} bytes at the end)"
            return frames, None, None
        except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError) as exc:
            return frames, offset, f"unreadable frame ({type(exc).__name__})"
        end = unpacker.tell()
        frames.append((offset, end - offset, item))
        offset = end


def read_log(path: str | Path) -> LogContents:
    frames, damaged_at, problem = scan_frames(Path(path).read_bytes())
    out = LogContents()
    for offset, _, item in frames:
        try:
            out.messages.append(from_dict(item))
        except MessageError as exc:
            out.damaged_at, out.problem = offset, str(exc)
            return out
    out.damaged_at, out.problem = damaged_at, problem
    return out


# -- session logs (indexed) -----------------------------------------------------------------------------
INDEX = struct.Struct("<QIiHBd")  # offset, length, line, take, type code, ts


def log_dir(config=None) -> Path:
    cfg = config or get_config()
    return Path(cfg.serving.log_dir or cfg.cache_dir / "sessions")


INT32 = (-(2**31), 2**31 - 1)


def _field(value, low: int, high: int) -> int:
    """An index field: the frame's integer when it fits the field's width, else 0 (the frame itself keeps
    the value; the index only speeds up lookups)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high else 0


def _index_values(data: dict) -> tuple[int, int, str | None, float]:
    """(line, take, type, ts) of a frame as its index record holds them, whatever the frame carries."""
    kind, ts = data.get("type"), data.get("ts")
    return (
        _field(data.get("line", 0), *INT32),
        _field(data.get("take", 0), 0, 2**16 - 1),
        kind if isinstance(kind, str) else None,
        float(ts) if isinstance(ts, int | float) and not isinstance(ts, bool) else 0.0,
    )


def _record(offset: int, length: int, data: dict, codes: dict[str, int]) -> bytes:
    line, take, kind, ts = _index_values(data)
    return INDEX.pack(offset, length, line, take, codes.get(kind, 255) if kind else 255, ts)


@dataclass
class Entry:
    offset: int
    length: int
    line: int
    take: int
    type: str
    ts: float

    @classmethod
    def of(cls, item: dict, offset: int = 0, length: int = 0) -> Entry:
        """The entry of a frame's map, its fields as the index record holds them."""
        line, take, kind, ts = _index_values(item)
        return cls(offset, length, line, take, kind or "?", ts)

    def matches(self, line: int | None = None, take: int | None = None, types=None) -> bool:
        return (
            (line is None or self.line == line)
            and (take is None or self.take == take)
            and (not types or self.type in types)
        )


@dataclass
class SessionLog:
    path: Path
    entries: list[Entry] = field(default_factory=list)
    damaged_at: int | None = None
    problem: str | None = None
    index_rebuilt: bool = False

    @property
    def session(self) -> str:
        return self.path.stem

    def select(self, line=None, take=None, types=None) -> list[Entry]:
        return [e for e in self.entries if e.matches(line, take, types)]

    def read(self, entries: list[Entry] | None = None) -> Iterator[tuple[Entry, dict]]:
        """The maps of the given entries (all by default), read by offset."""
        with self.path.open("rb") as f:
            for e in self.entries if entries is None else entries:
                f.seek(e.offset)
                yield e, msgpack.unpackb(f.read(e.length), raw=False, strict_map_key=True)

    def frames(self, entries: list[Entry] | None = None) -> Iterator[tuple[Entry, object]]:
        """Typed frames (validated), for code that wants the messages themselves."""
        for e, item in self.read(entries):
            yield e, server_from_dict(item)


def _scan(path: Path) -> tuple[list[Entry], int | None, str | None]:
    """Every complete frame of a log file, by walking it; where it is damaged, if it is."""
    frames, damaged_at, problem = scan_frames(path.read_bytes())
    out: list[Entry] = []
    for offset, length, item in frames:
        if not isinstance(item, dict):
            return out, offset, "a frame that is not a map"
        out.append(Entry.of(item, offset, length))
    return out, damaged_at, problem


def open_log(path: str | Path) -> SessionLog:
    """A session log with its index (rebuilt from the log when the index is missing, short or stale)."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError("no such session log", source=path)
    size = path.stat().st_size
    index = path.with_suffix(".index")
    codes = ALL_TYPES
    entries: list[Entry] = []
    if index.is_file():
        raw = index.read_bytes()
        n = len(raw) // INDEX.size
        for i in range(n):
            off, length, line, take, code, ts = INDEX.unpack_from(raw, i * INDEX.size)
            entries.append(Entry(off, length, line, take, codes[code] if code < len(codes) else "?", ts))
        # every frame in order, end to end: a record missing anywhere (not only at the end) shows as a gap
        ends = [0] + [e.offset + e.length for e in entries]
        if ends[-1] == size and all(e.offset == ends[i] for i, e in enumerate(entries)):
            return SessionLog(path, entries)
    entries, damaged, problem = _scan(path)
    return SessionLog(path, entries, damaged, problem, index_rebuilt=True)


def resolve(session: str, directory: Path | None = None) -> Path:
    """A session id (in the log folder) or the path of a log file (local use only: the CLI, never a
    client of the server)."""
    p = Path(session)
    if p.suffix == ".msgpack" and p.is_file():
        return p
    check_id(session, "session id")
    return (directory or log_dir()) / f"{session}.msgpack"


def list_sessions(directory: Path) -> list[dict]:
    out = []
    for path in sorted(directory.glob("*.msgpack")) if directory.is_dir() else []:
        log = open_log(path)
        lines = sorted({e.line for e in log.entries if e.line})
        ends = log.select(types={"line_end"})
        out.append(
            {
                "session": log.session,
                "messages": len(log.entries),
                "lines": len(lines),
                "lines_ended": len(ends),
                "errors": len(log.select(types={"error"})),
                "closed": bool(log.select(types={"closed"})),
                "first": log.entries[0].ts if log.entries else None,
                "last": log.entries[-1].ts if log.entries else None,
                "bytes": path.stat().st_size,
                "damaged": log.problem,
            }
        )
    return out


# -- audio and plain copies -----------------------------------------------------------------------------------------
def plain(item: dict, audio: bool = False) -> dict:
    """A JSON-able copy: bytes become their length (or base64 with ``audio``)."""

    def conv(v):
        if isinstance(v, bytes):
            return {"base64": base64.b64encode(v).decode()} if audio else {"bytes": len(v)}
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [conv(x) for x in v]
        return v

    return conv(item)


def take_pcm16(items: Iterable[dict], line: int, take: int) -> tuple[int, bytes] | None:
    """(sample rate, PCM16 bytes) of one take: its audio chunks in ``seq`` order, else the audio its ``take``
    message carried (a ``dubber dub --log`` log, whose actor streams no chunks); None when neither was logged."""
    chunks, rate, own = [], 0, None
    for item in items:
        if item.get("line") != line or item.get("take") != take:
            continue
        if item.get("type") == "audio":
            chunks.append((item.get("seq", 0), item.get("pcm16") or b""))
            rate = int(item.get("sample_rate") or rate)
        elif item.get("type") == "take" and item.get("pcm16"):
            own = (int(item.get("sample_rate") or 0), item["pcm16"])
    if chunks and rate:
        return rate, b"".join(p for _, p in sorted(chunks, key=lambda c: c[0]))
    return own if own and own[0] else None


def line_audio(log: SessionLog) -> dict[int, tuple[int, object]]:
    """line -> (sample rate, float32 audio of its chosen take), for the lines whose take audio was logged."""
    import numpy as np

    chosen = {e.line: item["chosen_take"] for e, item in log.read(log.select(types={"accept"}))}
    items = [item for _, item in log.read(log.select(types={"audio", "take"}))]
    out = {}
    for line, take in chosen.items():
        found = take_pcm16((i for i in items if i.get("line") == line), line, take)
        if found:
            rate, pcm = found
            out[line] = (rate, np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0)
    return out
