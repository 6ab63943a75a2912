"""``dubber logs``: the durable message log of every session, and the commands that inspect it.

A session's log is ``<log_dir>/<session>.msgpack``: every frame of the session (the director-actor messages
of ``dubber.messages``, audio chunks included, and the session's own frames of ``serving.protocol``) as one
msgpack map each, appended and flushed (and fsynced, ``serving.log_fsync``) per message, so a crash loses at
most the message being written. Beside it, ``<session>.index`` holds one fixed-size record per message
(byte offset, length, line, take, type, time) so a filter reads only what it needs; the log is the truth and
an index that is missing or short (a crash between the two writes) is rebuilt from it.

    dubber logs list [--json]
    dubber logs show SESSION [--line N] [--take T] [--type guidance,review] [--json]
    dubber logs tail SESSION [-n 20] [--follow]
    dubber logs export SESSION [--out FILE.json] [--wav DIR]
    dubber logs serve DIR [--host 127.0.0.1] [--port 8010]   # the browser view (inspector/)
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import struct
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

INDEX = struct.Struct("<QIiHBd")  # offset, length, line, take, type code, ts


def log_dir(config=None) -> Path:
    from dubber.config import get_config

    cfg = config or get_config()
    return Path(cfg.serving.log_dir or cfg.cache_dir / "sessions")


def _type_codes() -> tuple[str, ...]:
    from serving.protocol import ALL_TYPES

    return ALL_TYPES


class SessionLogWriter:
    """Appends frames (typed messages or their maps) to a session's log and index."""

    def __init__(self, directory: str | Path, session: str, durable: bool = True):
        from serving.protocol import check_id

        check_id(session, "session id")
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / f"{session}.msgpack"
        self.index_path = self.dir / f"{session}.index"
        self._log = self.path.open("ab")
        self._index = self.index_path.open("ab")
        self.durable = durable
        self.count = 0
        self._codes = {t: i for i, t in enumerate(_type_codes())}
        self._lock = threading.Lock()

    @property
    def closed(self) -> bool:
        return self._log.closed

    def append(self, frame, blob: bytes | None = None) -> None:
        """Write one frame (a typed message or its map; ``blob``: its msgpack bytes when already packed) and
        its index record; the frame is flushed (and fsynced) before this returns."""
        import msgpack

        data = frame if isinstance(frame, dict) else frame.model_dump(mode="python")
        if blob is None:
            blob = msgpack.packb(data, use_bin_type=True)
        with self._lock:
            if self._log.closed:
                return
            offset = self._log.tell()
            # the index record is made before the frame is written (it cannot fail: every field is clamped
            # to its width), so a frame in the log always has its record in the index
            record = _record(offset, len(blob), data, self._codes)
            self._log.write(blob)
            self._log.flush()
            if self.durable:
                os.fsync(self._log.fileno())
            self._index.write(record)
            self._index.flush()
            self.count += 1

    __call__ = append

    def close(self) -> None:
        with self._lock:
            if not self._log.closed:
                self._log.close()
                self._index.close()


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
        return [
            e
            for e in self.entries
            if (line is None or e.line == line)
            and (take is None or e.take == take)
            and (not types or e.type in types)
        ]

    def read(self, entries: list[Entry] | None = None) -> Iterator[tuple[Entry, dict]]:
        """The maps of the given entries (all by default), read by offset."""
        import msgpack

        with self.path.open("rb") as f:
            for e in self.entries if entries is None else entries:
                f.seek(e.offset)
                yield e, msgpack.unpackb(f.read(e.length), raw=False, strict_map_key=True)

    def frames(self, entries: list[Entry] | None = None) -> Iterator[tuple[Entry, object]]:
        """Typed frames (validated), for code that wants the messages themselves."""
        from serving.protocol import server_from_dict

        for e, item in self.read(entries):
            yield e, server_from_dict(item)


def _scan(path: Path) -> tuple[list[Entry], int | None, str | None]:
    """Every complete frame of a log file, by walking it; where it is damaged, if it is."""
    from dubber.message_log import scan_frames

    frames, damaged_at, problem = scan_frames(path.read_bytes())
    out: list[Entry] = []
    for offset, length, item in frames:
        if not isinstance(item, dict):
            return out, offset, "a frame that is not a map"
        line, take, kind, ts = _index_values(item)
        out.append(Entry(offset, length, line, take, kind or "?", ts))
    return out, damaged_at, problem


def open_log(path: str | Path) -> SessionLog:
    """A session log with its index (rebuilt from the log when the index is missing, short or stale)."""
    path = Path(path)
    if not path.is_file():
        from dubber.errors import BadInputError

        raise BadInputError("no such session log", source=path)
    size = path.stat().st_size
    index = path.with_suffix(".index")
    codes = _type_codes()
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
    from serving.protocol import check_id

    check_id(session, "session id")
    return (directory or log_dir()) / f"{session}.msgpack"


# -- presentation -----------------------------------------------------------------------------------------
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


def summary(item: dict) -> str:
    t = item.get("type")
    if t == "guidance":
        g = item.get("guidance", {})
        return f"{g.get('emotion')} {g.get('intensity', 0):.2f} pace {g.get('pace', 1):.2f}: {g.get('direction', '')}"
    if t == "audio":
        n = len(item.get("pcm16", b"")) // 2
        return f"chunk {item.get('seq')} {n} samples @ {item.get('sample_rate')} Hz"
    if t == "take":
        return f"{item.get('duration_s')} s"
    if t == "review":
        return f"{'accepted' if item.get('accepted') else 'rejected'}: {item.get('reason')}"
    if t == "accept":
        return f"take {item.get('chosen_take')} chosen: {item.get('reason')}"
    if t == "references":
        return ", ".join(f"{r['modality']}:{r['clip_id']}" for r in item.get("references", []))
    if t == "error":
        return f"{item.get('code')}: {item.get('message')}"
    if t == "line_end":
        return f"{item.get('status')} (take {item.get('chosen_take')}, {item.get('seconds')} s)"
    if t in ("request", "line"):
        return repr(item.get("text", ""))
    if t == "session":
        return f"voices {sorted(item.get('voices', {}))} @ {item.get('sample_rate')} Hz"
    return ""


def _fmt(e: Entry, item: dict) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(e.ts)) + f".{int(e.ts * 1000) % 1000:03d}"
    return f"{stamp}  line {e.line:>3}  take {e.take}  {e.type:<15} {summary(item)}"


# -- the command ------------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", type=Path, help="the log folder (default: serving.log_dir)")
    sub = p.add_subparsers(dest="logs_command", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="every session log: messages, lines, time span, damage")
    ls.add_argument("--json", action="store_true")
    for name, help_text in (
        ("show", "the messages of a session"),
        ("tail", "the last messages of a session, and (--follow) new ones as they come"),
        ("export", "a session as JSON (and the chosen take of each line as wav with --wav)"),
    ):
        s = sub.add_parser(name, help=help_text)
        s.add_argument("session", help="a session id, or a .msgpack log file")
        s.add_argument("--line", type=int)
        s.add_argument("--take", type=int)
        s.add_argument("--type", help="message types, comma-separated (e.g. guidance,review,accept)")
        s.add_argument("--json", action="store_true", help="one JSON object per message")
        if name == "tail":
            s.add_argument("-n", type=int, default=20)
            s.add_argument("--follow", "-f", action="store_true")
        if name == "export":
            s.add_argument("--out", type=Path, help="write the JSON here (default: stdout)")
            s.add_argument("--audio", action="store_true", help="keep the audio bytes (base64)")
            s.add_argument("--wav", type=Path, help="write the chosen take of each line here as wav")
    sv = sub.add_parser("serve", help="browse the logs of a folder (sessions, dub logs, batch jobs) at /logs")
    sv.add_argument("directory", type=Path, nargs="?", help="a log folder, a batch job's output folder, "
                    "or a folder of them (default: --dir, else serving.log_dir)")  # fmt: skip
    sv.add_argument("--host", help="address to listen on (default: inspector.host, 127.0.0.1)")
    sv.add_argument("--port", type=int, help="port (default: inspector.port, 8010)")
    sv.add_argument("--library", help="the library whose clips the page plays (default: library.db_uri)")


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


def run(args: argparse.Namespace) -> int:
    if args.logs_command == "serve":
        from inspector.app import serve

        return serve(args.directory or args.dir or log_dir(), args.host, args.port, args.library)
    directory = args.dir or log_dir()
    if args.logs_command == "list":
        sessions = list_sessions(directory)
        if args.json:
            print(json.dumps(sessions, indent=1))
        elif not sessions:
            print(f"no session logs in {directory}")
        for s in [] if args.json else sessions:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s["first"])) if s["first"] else "-"
            damage = f"  DAMAGED: {s['damaged']}" if s["damaged"] else ""
            print(
                f"{s['session']}  {when}  {s['messages']} messages, {s['lines']} lines "
                f"({s['lines_ended']} ended), {s['errors']} errors{'' if s['closed'] else ', open'}{damage}"
            )
        return 0
    log = open_log(resolve(args.session, args.dir))
    types = set(args.type.split(",")) if args.type else None
    chosen = log.select(args.line, args.take, types)
    if args.logs_command == "export":
        items = [{"offset": e.offset, **plain(item, args.audio)} for e, item in log.read(chosen)]
        doc = {"session": log.session, "damaged": log.problem, "messages": items}
        text = json.dumps(doc, indent=1)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text)
        else:
            print(text)
        if args.wav:
            import soundfile as sf

            args.wav.mkdir(parents=True, exist_ok=True)
            audio_of = line_audio(log)
            for line, (sr, audio) in sorted(audio_of.items()):
                sf.write(args.wav / f"line{line:04d}.wav", audio, sr)
            accepted = {e.line for e in log.select(types={"accept"})}
            if missing := sorted(accepted - audio_of.keys()):
                print(f"warning: no audio was logged for the chosen take of line(s) "
                      f"{', '.join(map(str, missing))}; no wav written for them", file=sys.stderr)  # fmt: skip
            print(f"wrote {len(audio_of)} line wav(s) to {args.wav}", file=sys.stderr)
        return 0
    if args.logs_command == "tail":
        chosen = chosen[-args.n :] if args.n > 0 else []
    for e, item in log.read(chosen):
        print(json.dumps(plain(item)) if args.json else _fmt(e, item), flush=True)
    if log.problem:
        print(f"warning: {log.path}: {log.problem} at byte {log.damaged_at}", file=sys.stderr)
    if args.logs_command == "tail" and args.follow:
        _follow(log, args, types)
    return 0


def _follow(log: SessionLog, args, types) -> None:
    """Print frames as they are appended, until the session's ``closed`` frame (or Ctrl-C)."""
    import msgpack

    offset = log.entries[-1].offset + log.entries[-1].length if log.entries else 0
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=True)
    with log.path.open("rb") as f:
        f.seek(offset)
        while True:
            data = f.read()
            if not data:
                time.sleep(0.2)
                continue
            unpacker.feed(data)
            for item in unpacker:
                e = Entry(0, 0, item.get("line", 0), item.get("take", 0), item.get("type"), item.get("ts", 0))
                if (
                    (args.line is None or e.line == args.line)
                    and (args.take is None or e.take == args.take)
                    and (not types or e.type in types)
                ):
                    print(json.dumps(plain(item)) if args.json else _fmt(e, item), flush=True)
                if e.type == "closed":
                    return
