"""Live dubbing sessions, held by the ingress: one per websocket (or per ``POST /v1/dub``).

A session has the characters' voice prompts, its options, its registered clips, its message log and its
lines. Lines are answered strictly in order, but the next line (``serving.lookahead_lines``) is already
sent to the director as soon as the one before it is directed, so its perception and guidance overlap the
current line's performance; its frames wait in its own queue until it is the head line. Every frame from the
director is logged when it arrives (so the log holds the truth even for frames a gone client never got);
every line gets exactly one ``line_end`` (done, cancelled or failed), in the log too.

Disconnecting, ``cancel`` and ``close`` all end work the same way: the line's task cancels its streaming
call to the director, which stops the line at its next message (the actor's stream is cancelled with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ground.errors import without_paths
from ground.protocol import (
    CancelFrame,
    ClipFrame,
    ClipRegistered,
    ClosedFrame,
    CloseFrame,
    LineEnd,
    LineFrame,
    LoggedCancel,
    LoggedLine,
    LoggedOpen,
    OpenFrame,
    ProtocolError,
    ReadyFrame,
    check_id,
    decode_client,
    error_frame,
    pack,
)

log = logging.getLogger(__name__)
TIMED_OUT = object()  # what ``_receive_within`` returns when the client sent nothing in time


@dataclass
class LineJob:
    frame: LineFrame
    video: bytes
    prompt: np.ndarray
    prompt_sr: int
    arrived: float = field(default_factory=time.monotonic)
    out: asyncio.Queue = field(default_factory=asyncio.Queue)
    task: asyncio.Task | None = None
    started: bool = False
    directed: bool = False
    ended: bool = False
    first_chunk: float | None = None

    @property
    def line(self) -> int:
        return self.frame.line


def framed(frame) -> tuple[bytes, dict]:
    """(msgpack bytes, map) of a frame given as bytes, a map, a typed frame, or already as the pair."""
    import msgpack

    if isinstance(frame, tuple):
        return frame
    if isinstance(frame, bytes):
        return frame, msgpack.unpackb(frame, raw=False, strict_map_key=True)
    data = frame if isinstance(frame, dict) else frame.model_dump(mode="python")
    return pack(data), data


def decode_voice(voice, source: str) -> tuple[np.ndarray, int]:
    """A voice prompt's audio (a file's bytes, or PCM16 and its rate) as float32 mono; never a path."""
    import soundfile as sf

    from perception.audio import check_audio

    if voice.audio is not None:
        try:
            audio, sr = sf.read(io.BytesIO(voice.audio), dtype="float32", always_2d=True)
        except Exception as exc:
            raise ProtocolError("bad_input", f"{source}: not a readable audio file ({exc})") from None
        audio = audio.mean(axis=1)
    elif voice.pcm16 is not None and voice.sample_rate:
        audio, sr = np.frombuffer(voice.pcm16, dtype="<i2").astype(np.float32) / 32768.0, voice.sample_rate
    else:
        raise ProtocolError("bad_frame", f"{source}: give audio (file bytes) or pcm16 with sample_rate")
    if not 8000 <= sr <= 192000:
        raise ProtocolError("bad_input", f"{source}: sample rate {sr} is out of range")
    try:
        return check_audio(audio, sr, source=source), int(sr)
    except Exception as exc:  # BadInputError: silent, too short, not finite
        raise ProtocolError("bad_input", str(exc)) from None


class LiveSession:
    def __init__(self, registry: SessionRegistry, session_id: str, client: str, send):
        from ground.message_log import SessionLogWriter, log_dir

        self.registry, self.id, self.client = registry, session_id, client
        self.cfg = registry.cfg
        self.limits = self.cfg.serving
        self._send: Callable[[bytes, dict], Awaitable[None]] = send  # (the frame, its map)
        self._send_lock = asyncio.Lock()
        self.log = SessionLogWriter(log_dir(self.cfg), session_id, durable=self.limits.log_fsync)
        # one writer thread per session: an fsync per message must not stall the event loop, and the
        # session's messages keep their order
        self._writer = ThreadPoolExecutor(1, thread_name_prefix=f"log-{session_id[-8:]}")
        self.voices: dict[str, tuple[np.ndarray, int]] = {}
        self.clips: dict[str, bytes] = {}
        self.sample_rate = 16000
        self.max_takes = self.cfg.director.max_takes
        self.language: str | None = None
        self.jobs: dict[int, LineJob] = {}  # lines not yet ended
        self.ended: set[int] = set()
        self.order: list[LineJob] = []  # lines not yet ended, in arrival order
        self.lines_seen = 0
        self.history: dict[int, dict] = {}  # the director's memory, line -> decision
        self.closing = False
        self.closed = False
        self._wake = asyncio.Event()
        self._forwarder: asyncio.Task | None = None

    # -- output ---------------------------------------------------------------------------------------
    def record(self, frame) -> tuple[bytes, dict]:
        """Log a frame now (from sync code); ``arecord`` is the same off the event loop. Returns the frame
        as (msgpack bytes, map): the bytes are what is logged and sent, packed once."""
        blob, data = framed(frame)
        if not self.log.closed:
            self.log.append(data, blob)
        return blob, data

    async def arecord(self, frame) -> tuple[bytes, dict]:
        """Log a frame and wait until it is written (and fsynced), without blocking the event loop."""
        blob, data = framed(frame)
        if not self.log.closed:
            await asyncio.get_running_loop().run_in_executor(self._writer, self.log.append, data, blob)
        return blob, data

    async def send(self, frame, log_it: bool = True) -> None:
        blob, data = await self.arecord(frame) if log_it else framed(frame)
        if self.closed:
            return
        try:
            async with self._send_lock:
                await self._send(blob, data)
        except Exception:  # the client is gone; the session ends through the receive side
            self.closed = True

    async def error(self, code: str, message: str, line: int = 0) -> None:
        await self.send(error_frame(self.id, code, message, line))

    # -- opening --------------------------------------------------------------------------------------
    async def open(self, frame: OpenFrame) -> None:
        s = self.limits
        if frame.sample_rate not in s.sample_rates:
            raise ProtocolError(
                "bad_frame", f"sample_rate {frame.sample_rate}; one of {', '.join(map(str, s.sample_rates))}"
            )
        top = self.cfg.director.max_takes
        if frame.max_takes is not None and not 1 <= frame.max_takes <= top:
            raise ProtocolError("bad_frame", f"max_takes {frame.max_takes}; between 1 and {top}")
        if not frame.voices:
            raise ProtocolError("bad_frame", "a session needs at least one voice prompt")
        voices = {}
        for name, voice in frame.voices.items():
            if name != "*":
                check_id(name, "a character name")
            audio, sr = await asyncio.get_running_loop().run_in_executor(
                None, decode_voice, voice, f"voice of {name}"
            )
            if len(audio) / sr < self.cfg.actor.min_prompt_seconds:
                raise ProtocolError(
                    "bad_input",
                    f"voice of {name}: {len(audio) / sr:.2f} s; at least "
                    f"{self.cfg.actor.min_prompt_seconds:g} s of the character speaking is needed",
                )
            if len(audio) / sr > s.max_prompt_seconds:
                raise ProtocolError(
                    "too_long",
                    f"voice of {name}: {len(audio) / sr:.1f} s; the limit is {s.max_prompt_seconds:g} s",
                )
            voices[name] = (audio, sr)
        self.voices, self.sample_rate = voices, frame.sample_rate
        self.max_takes = frame.max_takes or top
        self.language = frame.language
        await self.arecord(
            LoggedOpen(
                session=self.id,
                name=frame.name,
                client=self.client,
                sample_rate=self.sample_rate,
                max_takes=self.max_takes,
                voices={k: round(len(a) / sr, 3) for k, (a, sr) in voices.items()},
            )
        )
        self._forwarder = asyncio.create_task(self._forward())
        await self.send(
            ReadyFrame(
                session=self.id,
                sample_rate=self.sample_rate,
                max_takes=self.max_takes,
                characters=sorted(voices),
                limits=self.registry.limits(),
            )
        )

    # -- frames ---------------------------------------------------------------------------------------
    async def handle(self, data: bytes) -> bool:
        """One frame from the client; False once the session is over. Bad frames get an error frame and
        the session carries on."""
        try:
            frame = decode_client(data, self.limits.max_frame_bytes)
            if isinstance(frame, OpenFrame):
                raise ProtocolError("bad_frame", "the session is already open")
            if isinstance(frame, ClipFrame):
                await self.add_clip(frame)
            elif isinstance(frame, LineFrame):
                await self.add_line(frame)
            elif isinstance(frame, CancelFrame):
                await self.cancel(frame.line)
            elif isinstance(frame, CloseFrame):
                self.closing = True  # no new lines; the caller drains the ones sent (``drain``)
                self._wake.set()
                return False
        except ProtocolError as exc:
            await self.error(exc.code, exc.problem, exc.line)
        except Exception as exc:  # noqa: BLE001 - a bug must cost the client one frame, never the session
            log.exception("session %s: unexpected error handling a frame", self.id)
            await self.error(
                "internal", f"the server failed on this frame ({type(exc).__name__}); it is logged"
            )
        return True

    async def add_clip(self, frame: ClipFrame) -> None:
        check_id(frame.clip_id, "clip_id")
        if frame.clip_id not in self.clips and len(self.clips) >= self.limits.max_clips_per_session:
            raise ProtocolError(
                "too_many_clips", f"at most {self.limits.max_clips_per_session} clips per session"
            )
        self.clips[frame.clip_id] = frame.video
        await self.send(ClipRegistered(session=self.id, clip_id=frame.clip_id))

    def voice_for(self, character: str | None) -> tuple[np.ndarray, int]:
        if character and character in self.voices:
            return self.voices[character]
        if "*" in self.voices:
            return self.voices["*"]
        if len(self.voices) == 1:
            return next(iter(self.voices.values()))
        raise ProtocolError("unknown_character", f"no voice prompt for {character!r}")

    async def add_line(self, f: LineFrame) -> None:
        s = self.limits
        if self.closing:
            raise ProtocolError("closing", "the session is closing", f.line)
        if f.line in self.jobs or f.line in self.ended:
            raise ProtocolError("bad_frame", f"line {f.line} was already sent", f.line)
        if len(f.text) > s.max_line_chars:
            raise ProtocolError(
                "too_long", f"the line has {len(f.text)} characters; the limit is {s.max_line_chars}", f.line
            )
        if len(self.order) >= s.max_pending_lines:
            raise ProtocolError("too_many_lines", f"at most {s.max_pending_lines} lines waiting", f.line)
        if (f.clip_id is None) == (f.video is None):
            raise ProtocolError("bad_frame", "give exactly one of clip_id or video", f.line)
        if f.clip_id is not None:
            check_id(f.clip_id, "clip_id")
            if f.clip_id not in self.clips:
                raise ProtocolError("unknown_clip", f"no clip {f.clip_id!r} was registered", f.line)
            video = self.clips[f.clip_id]
        else:
            video = f.video
        try:
            prompt, sr = self.voice_for(f.character)
        except ProtocolError as exc:
            exc.line = f.line
            raise
        job = LineJob(f, video, prompt, sr)
        await self.arecord(
            LoggedLine(
                session=self.id, line=f.line, text=f.text, character=f.character, clip_id=f.clip_id,
                video_bytes=len(video), timecode_s=f.timecode_s,
            )
        )  # fmt: skip
        self.jobs[f.line] = job
        self.order.append(job)
        self.lines_seen += 1
        self._schedule()

    # -- the pipeline ---------------------------------------------------------------------------------
    def context(self) -> dict:
        history = [self.history[k] for k in sorted(self.history)][-self.cfg.director.history_lines :]
        return {"session": self.id, "history": history} if history else {}

    def _merge(self, context: dict | None, line: int) -> None:
        for h in (context or {}).get("history", []):
            n = h.get("line")
            if isinstance(n, int) and (n == line or n not in self.history):
                self.history[n] = h

    def _schedule(self) -> None:
        """Start the head line, and up to ``lookahead_lines`` after it once the one before is directed."""
        for i, job in enumerate(self.order[: 1 + self.limits.lookahead_lines]):
            if job.started or job.ended:
                continue
            if i == 0 or self.order[i - 1].directed:
                job.started = True
                job.task = asyncio.create_task(self._pump(job))
            else:
                break
        self._wake.set()

    def _job_dict(self, job: LineJob) -> dict:
        f = job.frame
        return {
            "session": self.id, "line": f.line, "text": f.text, "character": f.character,
            "clip_id": f.clip_id, "video": job.video, "prompt": job.prompt, "prompt_sr": job.prompt_sr,
            "language": f.language or self.language, "fit": f.fit, "sample_rate": self.sample_rate,
            "max_takes": self.max_takes, "context": self.context(),
        }  # fmt: skip

    async def _pump(self, job: LineJob) -> None:
        """The director's messages for one line, logged as they come, queued for the forwarder."""
        gen = self.registry.director.options(stream=True).dub.remote(self._job_dict(job))
        end = None
        self.registry.in_flight += 1
        try:
            timeout = self.limits.chunk_timeout_s
            while True:
                try:
                    item = await asyncio.wait_for(gen.__anext__(), timeout)
                except StopAsyncIteration:
                    break
                if isinstance(item, bytes):  # a director-actor message, in its wire format
                    item = framed(item)
                    kind = item[1].get("type")
                else:
                    kind = item.get("type")
                if kind == "_context":
                    self._merge(item["context"], job.line)
                    job.directed = True
                    self._schedule()
                    continue
                if kind == "_end":
                    self._merge(item.get("context"), job.line)
                    end = item
                    continue
                if kind == "audio" and job.first_chunk is None:
                    job.first_chunk = time.monotonic()
                await self.arecord(item)
                await job.out.put(item)
        except asyncio.CancelledError:
            gen.cancel()
            self._end(job, "cancelled")
            raise
        except Exception as exc:
            gen.cancel()
            log.warning("line %s of %s: %s", job.line, self.id, exc)
            message = "no message from the director in time" if isinstance(exc, TimeoutError) else str(exc)
            await job.out.put(await self.arecord(error_frame(self.id, "internal", message[:500], job.line)))
            self._end(job, "failed")
            return
        finally:
            self.registry.in_flight -= 1
        self._end(job, end["status"] if end else "failed", end or {})

    def _end(self, job: LineJob, status: str, end: dict | None = None) -> None:
        if job.ended:
            return
        job.ended = True
        job.directed = True
        end = end or {}
        now = time.monotonic()
        frame = LineEnd(
            session=self.id,
            line=job.line,
            status=status,
            chosen_take=end.get("chosen_take"),
            takes=end.get("takes", 0),
            duration_s=end.get("duration_s"),
            seconds=round(now - job.arrived, 3),
            first_chunk_s=round(job.first_chunk - job.arrived, 3) if job.first_chunk else None,
            warnings=end.get("warnings", []),
        )
        job.out.put_nowait(self.record(frame))
        self._schedule()

    async def _forward(self) -> None:
        """Send the head line's frames, in order; at its ``line_end`` the next line becomes the head."""
        while True:
            if not self.order:
                if self.closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            job = self.order[0]
            item = await job.out.get()
            await self.send(item, log_it=False)
            if item[1].get("type") == "line_end":
                if self.order and self.order[0] is job:
                    self.order.pop(0)
                self._forget(job)
                self._schedule()

    def _forget(self, job: LineJob) -> None:
        """A line that has ended keeps only its number (a line number is never reused)."""
        self.jobs.pop(job.line, None)
        self.ended.add(job.line)

    async def cancel(self, line: int) -> None:
        job = self.jobs.get(line)
        if job is None or job.ended:
            raise ProtocolError("unknown_line", f"line {line} is not running", line)
        await self.arecord(LoggedCancel(session=self.id, line=line))
        if job.task is not None:
            job.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await job.task
        else:
            self._end(job, "cancelled")

    # -- ending ---------------------------------------------------------------------------------------
    async def drain(self) -> None:
        """After ``close``: wait until every line sent has ended and been forwarded, then send ``closed``."""
        if self._forwarder:
            await self._forwarder
        await self.send(ClosedFrame(session=self.id, lines=self.lines_seen))

    async def shutdown(self, reason: str | None = "client disconnected") -> None:
        """Cancel whatever still runs (the client is gone) and close the log; idempotent."""
        self.closing = True
        tasks = [j.task for j in self.jobs.values() if j.task is not None and not j.task.done()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for j in list(self.order):
            self._end(j, "cancelled")
        if self._forwarder and not self._forwarder.done():
            self._forwarder.cancel()
            await asyncio.gather(self._forwarder, return_exceptions=True)
        if reason is not None and not self.log.closed:
            await self.arecord(ClosedFrame(session=self.id, lines=self.lines_seen, reason=reason))
        await asyncio.get_running_loop().run_in_executor(None, self._writer.shutdown, True)
        self.log.close()
        self.jobs.clear()
        self.closed = True
        self.registry.release(self)


class SessionRegistry:
    """Every live session of this ingress replica, and the per-client limits."""

    def __init__(self, cfg, director):
        self.cfg, self.director = cfg, director
        self.sessions: dict[str, LiveSession] = {}
        self.per_client: dict[str, int] = {}
        self.in_flight = 0

    def limits(self) -> dict[str, float]:
        s = self.cfg.serving
        return {
            "max_frame_bytes": s.max_frame_bytes, "max_clip_seconds": s.max_clip_seconds,
            "max_line_chars": s.max_line_chars, "max_prompt_seconds": s.max_prompt_seconds,
            "max_sessions_per_client": s.max_sessions_per_client, "max_pending_lines": s.max_pending_lines,
            "max_clips_per_session": s.max_clips_per_session,
        }  # fmt: skip

    def stats(self) -> dict:
        return {"sessions": len(self.sessions), "lines_in_flight": self.in_flight}

    def admit(self, client: str) -> str | None:
        s = self.cfg.serving
        if len(self.sessions) >= s.max_sessions:
            return f"the server has {s.max_sessions} sessions open"
        if self.per_client.get(client, 0) >= s.max_sessions_per_client:
            return f"at most {s.max_sessions_per_client} sessions per client"
        return None

    def create(self, client: str, send) -> LiveSession:
        from serving.app import new_session_id

        session = LiveSession(self, new_session_id(), client, send)
        self.sessions[session.id] = session
        self.per_client[client] = self.per_client.get(client, 0) + 1
        return session

    def release(self, session: LiveSession) -> None:
        if self.sessions.pop(session.id, None) is not None:
            n = self.per_client.get(session.client, 1) - 1
            if n > 0:
                self.per_client[session.client] = n
            else:
                self.per_client.pop(session.client, None)

    async def serve_websocket(self, ws, authorized: bool) -> None:
        from starlette.websockets import WebSocketDisconnect

        await ws.accept()

        async def send(blob: bytes, data: dict) -> None:
            await ws.send_bytes(blob)

        async def refuse(code: str, message: str) -> None:
            with contextlib.suppress(Exception):
                await send(*framed(error_frame("", code, message)))
                await ws.close(code=1008)

        if not authorized:
            return await refuse(
                "unauthorized", "a valid bearer token is required (Authorization: Bearer ...)"
            )
        client = ws.client.host if ws.client else ""
        why = self.admit(client)
        if why:
            return await refuse("too_many_sessions", why)
        session = self.create(client, send)
        try:
            # the first frame must open the session; until it does, bad frames get an error and a retry
            opened_by = time.monotonic() + self.cfg.serving.open_timeout_s
            while True:
                data = await self._receive_within(ws, opened_by - time.monotonic())
                if data is TIMED_OUT:
                    s = self.cfg.serving.open_timeout_s
                    await session.error("timeout", f"no 'open' frame within {s:g} s; closing")
                    with contextlib.suppress(Exception):
                        await ws.close(code=1008)
                    return
                if data is None:
                    return
                try:
                    frame = decode_client(data, self.cfg.serving.max_frame_bytes)
                    if not isinstance(frame, OpenFrame):
                        raise ProtocolError("not_open", "the first frame must be 'open'")
                    await session.open(frame)
                    break
                except ProtocolError as exc:
                    await session.error(exc.code, exc.problem)
                except Exception as exc:  # noqa: BLE001 - a bug must cost the client one frame, never the session
                    log.exception("session %s: unexpected error opening", session.id)
                    await session.error(
                        "internal", f"the server failed to open ({type(exc).__name__}); it is logged"
                    )
            idle = self.cfg.serving.idle_timeout_s
            while True:
                data = await self._receive_within(ws, idle)
                if data is TIMED_OUT:
                    if any(not j.task.done() for j in session.jobs.values() if j.task is not None):
                        continue  # a line is running: the session is working, not idle
                    await session.error("timeout", f"no frame for {idle:g} s and no line running; closing")
                    with contextlib.suppress(Exception):
                        await ws.close(code=1008)
                    data = None
                    break
                if data is None or not await session.handle(data):
                    break
            if data is not None and await self._drain(ws, session):
                await session.shutdown(None)
                with contextlib.suppress(Exception):
                    await ws.close(code=1000)
        except WebSocketDisconnect:
            pass
        finally:
            await session.shutdown()

    async def _drain(self, ws, session: LiveSession) -> bool:
        """``close`` was sent: finish the lines while still listening (frames get ``closing`` errors, a
        disconnect cancels what is left). True when the session drained and said ``closed``."""
        drained = asyncio.create_task(session.drain())
        try:
            while True:
                received = asyncio.create_task(self._receive(ws))
                done, _ = await asyncio.wait({drained, received}, return_when=asyncio.FIRST_COMPLETED)
                if drained in done:
                    received.cancel()
                    await asyncio.gather(received, return_exceptions=True)
                    return True
                data = received.result()
                if data is None:
                    return False
                await session.handle(data)
        finally:
            if not drained.done():
                drained.cancel()
                await asyncio.gather(drained, return_exceptions=True)

    async def _receive_within(self, ws, seconds: float):
        """The next binary frame, None when the client went away, ``TIMED_OUT`` after ``seconds``."""
        try:
            return await asyncio.wait_for(self._receive(ws), timeout=max(0.0, seconds))
        except TimeoutError:
            return TIMED_OUT

    async def _receive(self, ws) -> bytes | None:
        """The next binary frame; None when the client went away. A text frame is refused politely."""
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return None
            if message.get("bytes") is not None:
                return message["bytes"]
            return b"\xc1"  # text: handled as a malformed frame (0xc1 is never valid msgpack)

    async def dub_once(self, body: bytes, client: str):
        """``POST /v1/dub``: a one-line session; (200, (audio, sr, session id)) or (status, error map)."""
        from ground.protocol import unpack

        try:
            req = unpack(body, self.cfg.serving.max_frame_bytes)
            if not isinstance(req, dict) or not {"video", "text", "voice"} <= set(req):
                raise ProtocolError("bad_frame", "the body must be a msgpack map with video, text and voice")
        except ProtocolError as exc:
            return (413 if exc.code == "too_large" else 400), {
                "code": exc.code,
                "message": without_paths(exc.problem),
            }
        why = self.admit(client)
        if why:
            return 429, {"code": "too_many_sessions", "message": why}
        frames: list[dict] = []

        async def send(blob: bytes, data: dict) -> None:
            frames.append(data)

        session = self.create(client, send)
        try:
            open_frame = {
                "type": "open", "voices": {"*": {"audio": req["voice"]}},
                "sample_rate": req.get("sample_rate", 16000), "max_takes": req.get("max_takes"),
            }  # fmt: skip
            line = {
                "type": "line", "line": 1, "text": req["text"], "character": req.get("character"),
                "video": req["video"], "language": req.get("language"), "fit": req.get("fit", "refuse"),
            }  # fmt: skip
            try:
                await session.open(decode_client(pack(open_frame)))
            except ProtocolError as exc:
                return 400, {"code": exc.code, "message": without_paths(exc.problem), "session": session.id}
            await session.handle(pack(line))
            await session.handle(pack({"type": "close"}))
            await session.drain()
        finally:
            await session.shutdown(None)
        errors = [f for f in frames if f.get("type") == "error"]
        end = next((f for f in frames if f.get("type") == "line_end"), None)
        if end is None or end["status"] != "done":
            first = errors[0] if errors else {"code": "internal", "message": "the line did not finish"}
            status = 400 if first["code"] not in ("internal",) else 500
            return status, {"code": first["code"], "message": first["message"], "session": session.id}
        chosen = end["chosen_take"]
        pcm = b"".join(f["pcm16"] for f in frames if f.get("type") == "audio" and f.get("take") == chosen)
        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        return 200, (audio, session.sample_rate, session.id)
