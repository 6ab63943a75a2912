"""The inspector's serving layer: which logs a folder holds, each read up to any damage and grouped by line and
take, a take's audio assembled from its logged PCM chunks, and its F0 and energy.

A folder may hold session logs (``<session>.msgpack`` + ``.index``, ``ground.message_log``) and plain logs
(``dubber dub --log``) directly, and batch-job folders (a ``job.json``, line logs in ``logs/``) in itself or
one level down. Every log gets an id from its path (``job~logs~job-l0001``); only ids listed from the folder
are ever served, so a request names a listed log, never a path.

Reading follows the logs' own rule: every complete, well-formed frame up to the first that is not, and where
and why it stopped (``Damage``). A log still being written is read to its last complete frame; ``follow``
tails it from that byte offset.
"""

from __future__ import annotations

import io
import json
import threading
import time
import wave
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import msgpack

from ground.errors import BadInputError
from inspector.protocol import (
    Damage,
    JobSummary,
    LineView,
    Listing,
    LogKind,
    Prosody,
    SessionSummary,
    SessionView,
    TakeAudio,
    TakeView,
)

SERVER_ONLY = {"session", "line", "cancel", "line_end", "closed", "ready", "clip_registered"}
SESSION_LEVEL = {"session", "closed", "ready", "clip_registered"}


class NotFound(BadInputError):
    """An id the folder does not list, a take without audio, a clip the library lacks."""


@dataclass(frozen=True)
class LogRef:
    id: str
    path: Path
    kind: LogKind
    job: str | None = None


@dataclass
class LoadedLog:
    ref: LogRef
    items: list[tuple[int, dict]]  # (byte offset, frame map), every good frame in order
    end: int  # the byte offset after the last good frame
    size: int
    damage: Damage | None = None


def _problem(item) -> str | None:
    """Why a frame is not a well-formed message of either log, or None."""
    from ground.protocol import server_from_dict

    try:
        server_from_dict(item)
    except BadInputError as exc:
        return str(exc)
    except Exception as exc:  # a validator tripping over garbage is damage too
        return f"unreadable frame ({type(exc).__name__})"
    return None


def read(ref: LogRef) -> LoadedLog:
    """Every good frame of a log, up to the first damage (a torn, unreadable or malformed frame)."""
    if not ref.path.is_file():
        raise NotFound(f"the log of {ref.id} is gone", source=ref.path)
    if ref.kind == "session":
        from ground.message_log import open_log

        log = open_log(ref.path)  # the index, or the log walked when the index is short or stale
        size = ref.path.stat().st_size
        items: list[tuple[int, dict]] = []
        end = 0
        with ref.path.open("rb") as f:
            for e in log.entries:
                f.seek(e.offset)
                blob = f.read(e.length)
                problem = None
                if len(blob) < e.length:
                    problem = f"truncated frame ({len(blob)} of {e.length} bytes)"
                else:
                    try:
                        item = msgpack.unpackb(blob, raw=False, strict_map_key=True)
                    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError) as exc:
                        problem = f"unreadable frame ({type(exc).__name__})"
                    else:
                        problem = _problem(item)
                if problem:
                    return LoadedLog(ref, items, end, size, _damage(e.offset, len(items), problem, size))
                items.append((e.offset, item))
                end = e.offset + e.length
        damage = None
        if log.problem is not None:
            damage = _damage(log.damaged_at or end, len(items), log.problem, size)
        return LoadedLog(ref, items, end, size, damage)
    from ground.message_log import scan_frames

    data = ref.path.read_bytes()
    frames, damaged_at, problem = scan_frames(data)
    items, end = [], 0
    for offset, length, item in frames:
        bad = _problem(item)
        if bad:
            damaged_at, problem = offset, bad
            break
        items.append((offset, item))
        end = offset + length
    damage = None
    if problem is not None:
        damage = _damage(damaged_at or end, len(items), problem, len(data))
    return LoadedLog(ref, items, end, len(data), damage)


def _damage(offset: int, messages: int, problem: str, size: int) -> Damage:
    return Damage(offset=offset, messages=messages, problem=problem, bytes=size,
                  torn_tail=problem.startswith("truncated frame"))  # fmt: skip


# -- grouping ---------------------------------------------------------------------------------------------
def _plain(offset: int, item: dict) -> dict:
    from ground.message_log import plain

    return {"offset": offset, **plain(item)}


@dataclass
class _Take:
    view: TakeView
    chunks: int = 0
    samples: int = 0
    sample_rate: int = 0


@dataclass
class _Line:
    view: LineView
    takes: dict[int, _Take] = field(default_factory=dict)


class SessionGrouper:
    """Messages in log order -> the session's lines, each a conversation: request, perception, guidance,
    then per take its references, audio, take and review, then the accept and the line's end. Incremental,
    so that live following regroups only what arrives."""

    def __init__(self, base_url: str):
        self.base_url = base_url  # .../sessions/<id>
        self.session: list[dict] = []
        self.lines: dict[int, _Line] = {}
        self.messages = 0
        self.takes = 0
        self.errors = 0
        self.closed = False
        self.first: float | None = None
        self.last: float | None = None

    def add(self, offset: int, item: dict) -> int:
        """Take one frame; returns the line it belongs to (0: session level)."""
        t = item.get("type")
        line = item.get("line") if isinstance(item.get("line"), int) else 0
        self.messages += 1
        ts = item.get("ts")
        if isinstance(ts, int | float) and ts:
            self.first = ts if self.first is None else min(self.first, ts)
            self.last = ts if self.last is None else max(self.last, ts)
        if t == "error":
            self.errors += 1
        if t == "closed":
            self.closed = True
        if t in SESSION_LEVEL or line <= 0:
            self.session.append(_plain(offset, item))
            return 0
        entry = self.lines.get(line)
        if entry is None:
            entry = self.lines[line] = _Line(LineView(line=line))
        view = entry.view
        take_no = item.get("take") if isinstance(item.get("take"), int) else 0
        if t == "audio":
            take = self._take(entry, take_no)
            take.chunks += 1
            take.samples += len(item.get("pcm16") or b"") // 2
            take.sample_rate = int(item.get("sample_rate") or take.sample_rate)
            self._audio(take, line)
            return line
        msg = _plain(offset, item)
        view.messages.append(msg)
        if t in ("request", "line"):
            view.text = item.get("text", view.text)
            view.character = item.get("character") or view.character
            if t == "request":
                view.request = msg
        elif t == "perception":
            view.perception = msg
        elif t == "guidance":
            if view.guidance is None:
                view.guidance = msg
                view.emotion = (item.get("guidance") or {}).get("emotion")
            if take_no:
                self._take(entry, take_no).view.guidance = msg["guidance"]
        elif t == "references":
            self._take(entry, take_no).view.references = msg.get("references", [])
        elif t == "take":
            take = self._take(entry, take_no)
            take.view.take_message = msg
            if not take.chunks and item.get("pcm16"):  # the take carried its own audio
                take.samples = len(item["pcm16"]) // 2
                take.sample_rate = int(item.get("sample_rate") or 0)
                self._audio(take, line)
        elif t == "review":
            take = self._take(entry, take_no)
            take.view.review = msg
            if msg.get("revised"):
                view.redirected = True
        elif t == "accept":
            view.accept = msg
            view.chosen_take = item.get("chosen_take")
            if view.status == "running":
                view.status = "done"
        elif t == "line_end":
            view.line_end = msg
            view.status = item.get("status") or view.status
            view.chosen_take = item.get("chosen_take", view.chosen_take)
        elif t == "error":
            view.errors.append(msg)
        for number, take in entry.takes.items():
            take.view.chosen = number == view.chosen_take
        return line

    def _take(self, entry: _Line, number: int) -> _Take:
        take = entry.takes.get(number)
        if take is None:
            guidance = None
            if number == 1 and entry.view.guidance:
                guidance = entry.view.guidance["guidance"]
            elif number - 1 in entry.takes:
                before = entry.takes[number - 1].view
                revised = (before.review or {}).get("revised")
                guidance = revised or before.guidance
            take = entry.takes[number] = _Take(TakeView(take=number, guidance=guidance))
            entry.view.takes = [entry.takes[n].view for n in sorted(entry.takes)]
            self.takes += 1
        return take

    def _audio(self, take: _Take, line: int) -> None:
        if not take.sample_rate or not take.samples:
            return
        url = f"{self.base_url}/takes/{line}/{take.view.take}"
        take.view.audio = TakeAudio(
            chunks=take.chunks,
            samples=take.samples,
            sample_rate=take.sample_rate,
            seconds=round(take.samples / take.sample_rate, 3),
            wav=f"{url}.wav",
            prosody=f"{url}/prosody",
        )

    def line(self, number: int) -> LineView | None:
        entry = self.lines.get(number)
        return entry.view if entry else None

    def views(self) -> list[LineView]:
        return [self.lines[n].view for n in sorted(self.lines)]


# -- the folder -------------------------------------------------------------------------------------------
def _kind(path: Path) -> LogKind:
    """A serving log has an index beside it, or (index lost) starts with a server-only frame."""
    if path.with_suffix(".index").is_file():
        return "session"
    try:
        with path.open("rb") as f:
            first = next(iter(msgpack.Unpacker(f, raw=False, max_buffer_size=8 << 20)), None)
    except Exception:
        return "plain"
    return "session" if isinstance(first, dict) and first.get("type") in SERVER_ONLY else "plain"


class LogStore:
    """The logs of one folder, listed and read on demand (reads are cached by file size and mtime)."""

    def __init__(self, root: str | Path, api_prefix: str = "/logs/api", library_uri: str | None = None):
        self.root = Path(root)
        self.library_uri = library_uri  # where reference clips' media are looked up; None: the configured one
        self.api_prefix = api_prefix
        self._lock = threading.Lock()
        self._refs: dict[str, LogRef] = {}
        self._jobs: list[JobSummary] = []
        self._summaries: dict[str, tuple[tuple, SessionSummary]] = {}
        self._loaded: OrderedDict[str, tuple[tuple, LoadedLog, SessionGrouper]] = OrderedDict()
        self._prosody: OrderedDict[tuple, Prosody] = OrderedDict()
        self._library = None

    # listing
    def scan(self) -> None:
        refs: dict[str, LogRef] = {}
        jobs: list[JobSummary] = []
        if not self.root.is_dir():
            raise NotFound("no such log folder", source=self.root)
        folders = [
            self.root,
            *sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")),
        ]
        job_folders = [f for f in folders if (f / "job.json").is_file()]
        seen: set[Path] = set()

        def add(path: Path, job: str | None) -> str | None:
            if path in seen:
                return None
            seen.add(path)
            rel = path.relative_to(self.root).with_suffix("")
            ref = LogRef("~".join(rel.parts), path, _kind(path), job)
            refs[ref.id] = ref
            return ref.id

        for folder in job_folders:
            job_id = folder.name if folder != self.root else self.root.resolve().name
            info, problem = {}, None
            try:
                info = json.loads((folder / "job.json").read_text())
                if not isinstance(info, dict):
                    info, problem = {}, "job.json is not a JSON object"
            except (OSError, ValueError) as exc:
                problem = f"job.json unreadable ({type(exc).__name__}: {exc})"
            logs = sorted(folder.glob("*.msgpack")) + sorted((folder / "logs").glob("*.msgpack"))
            ids = [i for i in (add(p, job_id) for p in logs) if i]
            rel = folder.relative_to(self.root).as_posix()
            jobs.append(JobSummary(id=job_id, path=rel, info=info, problem=problem, sessions=ids))
        for folder in folders:
            if folder not in job_folders:
                for p in sorted(folder.glob("*.msgpack")):
                    add(p, None)
        with self._lock:
            self._refs, self._jobs = refs, jobs

    def ref(self, log_id: str) -> LogRef:
        ref = self._refs.get(log_id)
        if ref is None:
            self.scan()  # a log that appeared since the last listing
            ref = self._refs.get(log_id)
        if ref is None:
            raise NotFound(f"no session {log_id!r} in {self.root}", hint="GET /logs/api/sessions lists them")
        return ref

    def listing(self) -> Listing:
        self.scan()
        out = []
        for ref in list(self._refs.values()):
            try:
                out.append(self.summary(ref))
            except NotFound:  # removed while listing
                continue
        return Listing(directory=str(self.root), sessions=out, jobs=self._jobs)

    def summary(self, ref: LogRef) -> SessionSummary:
        key = _stamp(ref.path)
        cached = self._summaries.get(ref.id)
        if cached and cached[0] == key:
            return cached[1]
        summary = self.load(ref.id)[2].summary
        self._summaries[ref.id] = (key, summary)
        return summary

    # one log
    def load(self, log_id: str) -> tuple[LoadedLog, SessionGrouper, SessionView]:
        ref = self.ref(log_id)
        key = _stamp(ref.path)
        with self._lock:
            cached = self._loaded.get(log_id)
            if cached and cached[0] == key:
                self._loaded.move_to_end(log_id)
                loaded, grouper = cached[1], cached[2]
                return loaded, grouper, self._view(loaded, grouper)
        loaded = read(ref)
        grouper = self.grouper(ref)
        for offset, item in loaded.items:
            grouper.add(offset, item)
        with self._lock:
            self._loaded[log_id] = (key, loaded, grouper)
            while len(self._loaded) > 4:  # a few logs' frames in memory, audio included
                self._loaded.popitem(last=False)
        return loaded, grouper, self._view(loaded, grouper)

    def grouper(self, ref: LogRef) -> SessionGrouper:
        return SessionGrouper(f"{self.api_prefix}/sessions/{quote(ref.id, safe='')}")

    def _view(self, loaded: LoadedLog, g: SessionGrouper) -> SessionView:
        lines = g.views()
        ref = loaded.ref
        summary = SessionSummary(
            id=ref.id,
            kind=ref.kind,
            job=ref.job,
            path=ref.path.relative_to(self.root).as_posix(),
            messages=g.messages,
            lines=len(lines),
            lines_ended=sum(1 for v in lines if v.status != "running"),
            takes=g.takes,
            errors=g.errors,
            closed=g.closed,
            first=g.first,
            last=g.last,
            bytes=loaded.size,
            damage=loaded.damage,
        )
        return SessionView(summary=summary, session=g.session, lines=lines, end_offset=loaded.end)

    def export(self, log_id: str) -> dict:
        """The session as ``dubber logs export`` writes it (bytes as their length), with its damage."""
        loaded, _, view = self.load(log_id)
        return {
            "session": log_id,
            "kind": loaded.ref.kind,
            "job": loaded.ref.job,
            "damage": loaded.damage.model_dump() if loaded.damage else None,
            "messages": [_plain(offset, item) for offset, item in loaded.items],
        }

    # audio
    def take_pcm(self, log_id: str, line: int, take: int) -> tuple[int, bytes]:
        """(sample rate, PCM16 bytes) of one take: its audio chunks in ``seq`` order, or the take's own audio."""
        from ground.message_log import take_pcm16

        loaded = self.load(log_id)[0]
        found = take_pcm16((item for _, item in loaded.items), line, take)
        if found:
            return found
        if not any(i.get("line") == line and i.get("take") == take for _, i in loaded.items):
            raise NotFound(f"session {log_id} has no take {take} of line {line}")
        raise NotFound(
            f"no audio was logged for take {take} of line {line}",
            hint="the log kept this take's messages but none of its audio (neither chunks nor audio in the take)",
        )

    def take_wav(self, log_id: str, line: int, take: int) -> bytes:
        rate, pcm = self.take_pcm(log_id, line, take)
        return wav_bytes(pcm, rate)

    def prosody(self, log_id: str, line: int, take: int, max_seconds: float, hop_ms: float) -> Prosody:
        import numpy as np

        from perception.audio import prosody

        key = (log_id, _stamp(self.ref(log_id).path), line, take)
        with self._lock:
            if key in self._prosody:
                return self._prosody[key]
        rate, pcm = self.take_pcm(log_id, line, take)
        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        audio = audio[: int(max_seconds * rate)]
        f0, _, energy = prosody(audio, rate, hop_ms=hop_ms)
        out = Prosody(
            hop_ms=hop_ms,
            sample_rate=rate,
            seconds=round(len(audio) / rate, 3),
            f0=[round(float(x), 1) for x in f0],
            energy_db=[round(float(x), 1) for x in energy],
        )
        with self._lock:
            self._prosody[key] = out
            while len(self._prosody) > 64:
                self._prosody.popitem(last=False)
        return out

    def reference_wav(self, clip_id: str) -> bytes:
        """A reference clip's audio, from the reference library's row (where its media are on this machine)."""
        import numpy as np
        import soundfile as sf

        from ground.protocol import is_id

        if not is_id(clip_id):
            raise NotFound(f"{clip_id!r} is not a clip id")
        lib = self.library()
        try:
            row = lib.row(clip_id)
        except BadInputError as exc:
            raise NotFound(exc.one_line()) from None
        path = row.get("audio_path")
        if not path or not Path(path).is_file():
            raise NotFound(f"the audio of reference {clip_id} is not on this machine", source=path or lib.uri)
        audio, sr = sf.read(path, dtype="float32", always_2d=True)
        pcm = (np.clip(audio.mean(axis=1), -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        return wav_bytes(pcm, sr)

    def library(self):
        if self._library is None:
            from retrieval.library import ReferenceLibrary, search_uri

            uri = self.library_uri or search_uri()
            try:
                self._library = ReferenceLibrary.open(uri)
            except BadInputError as exc:
                raise NotFound(f"no reference library to play references from: {exc.one_line()}") from None
        return self._library

    # live
    def follow(self, log_id: str, offset: int, poll_s: float, stop) -> Iterator[tuple[str, dict]]:
        """Events for every frame written from byte ``offset`` on: ("message", {...}) with the frame, what it
        changed (``_event``) and the next offset; ("damage", Damage) where the growing log turns unreadable;
        ("idle", {}) every ``poll_s`` with nothing new. Ends when ``stop()`` is true."""
        loaded, _, _ = self.load(log_id)
        ref = loaded.ref
        grouper = self.grouper(ref)
        start_ok = offset == 0 or offset == loaded.end or any(o == offset for o, _ in loaded.items)
        if not start_ok:
            raise NotFound(f"byte {offset} is not where a message of {log_id} starts")
        ends = [o for o, _ in loaded.items[1:]] + [loaded.end]
        pending = []  # frames the caller has not seen: (offset, item, next offset)
        for (o, item), end in zip(loaded.items, ends, strict=True):
            (grouper.add(o, item) if o < offset else pending.append((o, item, end)))
        for o, item, end in pending:
            yield "message", self._event(grouper, o, item, end)
        if loaded.damage and not loaded.damage.torn_tail:
            yield "damage", loaded.damage.model_dump()
            return  # a torn last frame may be one being written: following goes on from the last good one
        position = max(offset, loaded.end if pending else offset)
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=True, max_buffer_size=64 << 20)
        consumed = position  # the byte offset where the unpacker's buffer starts

        def broken(problem: str) -> tuple[str, dict]:
            size = ref.path.stat().st_size
            return "damage", _damage(position, grouper.messages, problem, size).model_dump()

        with ref.path.open("rb") as f:
            f.seek(position)
            while not stop():
                data = f.read()
                if not data:
                    if ref.path.stat().st_size < position:
                        yield broken("the log got shorter while followed")
                        return
                    yield "idle", {}
                    time.sleep(poll_s)
                    continue
                unpacker.feed(data)
                while True:
                    try:
                        item = unpacker.unpack()
                    except msgpack.OutOfData:
                        break
                    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError) as exc:
                        yield broken(f"unreadable frame ({type(exc).__name__})")
                        return
                    problem = _problem(item)
                    if problem:
                        yield broken(problem)
                        return
                    end = consumed + unpacker.tell()
                    yield "message", self._event(grouper, position, item, end)
                    position = end

    def _event(self, grouper: SessionGrouper, offset: int, item: dict, next_offset: int) -> dict:
        """A followed frame and what it changed: its line regrouped, or, for an audio chunk (many a second),
        only its take's audio summary."""
        line = grouper.add(offset, item)
        view = grouper.line(line) if line else None
        event = {"offset": offset, "next_offset": next_offset, "messages": grouper.messages,
                 "message": _plain(offset, item), "line": None, "audio": None}  # fmt: skip
        take = next((t for t in view.takes if t.take == item.get("take")), None) if view else None
        if item.get("type") == "audio" and take is not None and take.audio is not None:
            event["audio"] = {"line": line, "take": take.take, **take.audio.model_dump()}
        elif view is not None:
            event["line"] = view.model_dump()
        return event


def _stamp(path: Path) -> tuple:
    try:
        st = path.stat()
    except OSError:
        return (None,)
    return (st.st_size, st.st_mtime_ns)


def wav_bytes(pcm16: bytes, sample_rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm16)
    return buf.getvalue()
