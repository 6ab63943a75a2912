"""The Ray Serve app: an actor deployment, a director deployment and a FastAPI ingress, composed by handles.

    ActorWorker     one ``actors.voice.Actor`` per replica (loaded once); voice prompts, line fitting and
                    ``stream`` (float32 chunks, as the vocoder makes them). One compute thread per replica:
                    concurrent lines interleave chunk by chunk.
    DirectorWorker  one ``DubbingStage`` per replica (director cues, emotion classifier, library: loaded
                    once) whose actor is the ActorWorker behind its handle; ``dub`` runs one line and
                    streams every director-actor message (``ground.messages`` maps) as it is emitted,
                    audio chunks resampled to the session's rate.
    Ingress         the websocket API (``/v1/session``, ``docs/protocol.md``), ``POST /v1/dub``,
                    ``GET /healthz``, ``GET /v1/sessions/{id}/log``; sessions live here (``serving.sessions``);
                    ``/logs``: the message-log inspector (``inspector.router``).

``build_app(config)`` binds the three with the CPU/GPU resources of ``config.serving``.
"""

import asyncio
import hmac
import io
import logging
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from ray import serve

from ground.protocol import error_frame
from ground.security import check_security
from inspector.router import router as logs_router

log = logging.getLogger(__name__)


def _apply_config(config: dict):
    """Each replica runs in its own process: it takes the driver's configuration, not its environment's."""
    from ground.config import get_config
    from ground.runtime import worker_config

    worker_config(config)
    logging.getLogger("serving").setLevel(logging.INFO)
    return get_config()


def process_stats() -> dict:
    """This replica's process: pid, resident memory, threads (what a leak would grow)."""
    import psutil

    p = psutil.Process()
    return {"pid": p.pid, "rss_mb": round(p.memory_info().rss / 2**20, 1), "threads": p.num_threads()}


# -- the actor ----------------------------------------------------------------------------------------------
@serve.deployment(max_ongoing_requests=64)
class ActorWorker:
    def __init__(self, config: dict):
        _apply_config(config)
        from actors.voice import Actor

        self.actor = Actor.load()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="actor")
        self.streams = 0
        self.started = 0

    async def _call(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def info(self) -> dict:
        from ground.config import get_config

        return {"k": int(self.actor.hp.k), "sample_rate": get_config().media.sample_rate}

    async def voice_prompt(self, audio: np.ndarray, sr: int):
        return await self._call(self.actor.voice_prompt, audio, sr)

    async def fit_line(self, inputs, pace: float, fit: str):
        return await self._call(self.actor.fit_line, inputs, pace, fit)

    async def stream(self, inputs, prompt, guidance, nodes):
        gen = self.actor.stream(inputs, prompt, guidance, nodes)
        self.streams += 1
        self.started += 1
        try:
            while True:
                chunk = await self._call(next, gen, None)
                if chunk is None:
                    return
                yield np.asarray(chunk, dtype=np.float32)
        finally:
            self.streams -= 1
            await self._call(gen.close)

    async def stats(self) -> dict:
        return {"streams": self.streams, "started": self.started, **process_stats()}


# -- the director -------------------------------------------------------------------------------------------
@serve.deployment(max_ongoing_requests=64)
class DirectorWorker:
    def __init__(self, config: dict, actor):
        cfg = _apply_config(config)
        from serving.remote import RemoteActor
        from stage.dubbing import DubbingStage

        self.cfg = cfg
        self.actor = RemoteActor(actor)
        self.base = DubbingStage(actor=self.actor, use_llm=cfg.serving.use_llm)
        self.base.director  # noqa: B018 -- load the models once per replica, now
        self.base.library  # noqa: B018
        self._stages: dict[int, DubbingStage] = {}
        self._stage_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(cfg.serving.director_threads, thread_name_prefix="director")
        self.running = 0  # lines whose thread is still working
        self.lines = 0
        self._count = threading.Lock()
        if cfg.serving.warmup:
            self._pool.submit(self._warm_up).result()

    def _warm_up(self) -> None:
        """Dub the bundled demo line once (one take), so that every model the stage loads on first use
        (perception, sentence embeddings, speaker encoder, the emotion classifier, the actor's path) is
        loaded now, once per replica, and not during a client's first line."""
        import soundfile as sf

        from ground.config import REPO_ROOT
        from serving.remote import LineContext, set_context

        demo = REPO_ROOT / "assets" / "demo"
        if not (demo / "video.mp4").is_file():
            return
        t0 = time.perf_counter()
        try:
            audio, sr = sf.read(demo / "voice.wav", dtype="float32")
            set_context(LineContext(lambda m: None, threading.Event(), "warmup", 1, 16000))
            stage = self.stage(1)
            stage.dub_line(stage.session("warmup"), 1, demo / "video.mp4", (demo / "line.txt").read_text(),
                           audio, sr, fit="speed")  # fmt: skip
            log.info("director warmed up in %.1f s", time.perf_counter() - t0)
        except Exception as exc:  # a warm-up that fails costs only the first line's speed
            log.warning("warm-up failed (%s: %s); models load on the first line", type(exc).__name__, exc)
        finally:
            set_context(None)

    def stage(self, max_takes: int):
        """A stage whose director takes at most ``max_takes`` takes; the models are the base stage's."""
        import copy
        import dataclasses

        from stage.dubbing import DubbingStage

        with self._stage_lock:
            if max_takes not in self._stages:
                director = copy.copy(self.base.director)
                director.policy = dataclasses.replace(director.policy, max_takes=max_takes)
                self._stages[max_takes] = DubbingStage(
                    actor=self.actor, director=director, library=self.base.library, use_llm=self.base.use_llm
                )
            return self._stages[max_takes]

    def _run(self, job: dict, send, cancel: threading.Event) -> dict:
        from agents.session import DirectorSession
        from ground.errors import DubberError
        from ground.messages import encode
        from perception.video import probe
        from serving.remote import LineCancelled, LineContext, set_context

        with self._count:
            self.running += 1
            self.lines += 1
        session, line = job["session"], job["line"]

        def put(item):  # typed messages travel in their wire format (msgpack); the rest are internal maps
            send(item if isinstance(item, bytes | dict) else encode(item))

        ctx = LineContext(put, cancel, session, line, job["sample_rate"])
        set_context(ctx)
        try:
            with tempfile.TemporaryDirectory(prefix="dubber-line-") as tmp:
                # the clip's bytes, written where only this line reads them: no client path is ever opened
                video = Path(tmp) / f"{job.get('clip_id') or f'line{line}'}.mp4"
                video.write_bytes(job["video"])
                duration = probe(video).get("duration")
                limit = self.cfg.serving.max_clip_seconds
                if duration is not None and duration > limit:
                    put(
                        error_frame(
                            session,
                            "clip_too_long",
                            f"the clip is {duration:.1f} s; the limit is {limit:g} s",
                            line,
                        )
                    )
                    return {"status": "failed"}
                stage = self.stage(job["max_takes"])
                ds = (
                    DirectorSession.from_context(stage.director, job["context"], session)
                    if job.get("context")
                    else stage.session(session)
                )
                ctx.director_session = ds
                outcome = stage.dub_line(
                    ds,
                    line,
                    video,
                    job["text"],
                    job["prompt"],
                    job["prompt_sr"],
                    character=job.get("character"),
                    language=job.get("language"),
                    fit=job.get("fit", "refuse"),
                    emit=ctx.emit,
                )
                return {
                    "status": "done",
                    "chosen_take": outcome.chosen_take,
                    "takes": outcome.takes,
                    "duration_s": round(len(outcome.audio) / outcome.sample_rate, 3),
                    "warnings": outcome.warnings,
                    "context": ds.context(),
                }
        except LineCancelled:
            return {"status": "cancelled"}
        except DubberError as exc:  # also one raised in the actor replica (Ray re-raises it as its cause)
            if not cancel.is_set():
                code = getattr(exc, "code", None) or "bad_input"
                text = exc.one_line() if hasattr(exc, "problem") else str(exc).strip().splitlines()[-1]
                put(error_frame(session, code, text, line))
            return {"status": "cancelled" if cancel.is_set() else "failed"}
        except Exception as exc:  # a bug: the line fails, the session and the replica live on
            log.exception("line %s of session %s failed", line, session)
            if not cancel.is_set():
                put(error_frame(session, "internal", f"{type(exc).__name__}: {exc}", line))
            return {"status": "cancelled" if cancel.is_set() else "failed"}
        finally:
            set_context(None)
            with self._count:
                self.running -= 1

    async def dub(self, job: dict):
        """Every message of one line as it is emitted, then ``{"type": "_end", ...}``. Cancelling the call
        (the client went away, or cancelled the line) stops the line at its next message."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        cancel = threading.Event()
        done = object()

        def put(item):
            loop.call_soon_threadsafe(queue.put_nowait, item)

        future = loop.run_in_executor(self._pool, self._run, job, put, cancel)
        future.add_done_callback(lambda _: queue.put_nowait(done))
        try:
            while True:
                item = await queue.get()
                if item is done:
                    break
                yield item
            yield {"type": "_end", **future.result()}
        finally:
            cancel.set()

    async def stats(self) -> dict:
        return {"running": self.running, "lines": self.lines, **process_stats()}


# -- the ingress --------------------------------------------------------------------------------------------
# The API docs are off, and so is the schema they would be drawn from (docs/protocol.md documents the API).
api = FastAPI(title="Authentic Dubber", docs_url=None, redoc_url=None, openapi_url=None)
api.include_router(logs_router)  # /logs: the message-log inspector, behind the same bearer token


@serve.deployment(max_ongoing_requests=256)
@serve.ingress(api)
class Ingress:
    def __init__(self, config: dict, director, actor):
        from serving.sessions import SessionRegistry

        self.cfg = _apply_config(config)
        check_security(self.cfg.serving.host, self.cfg.serving.token)
        self.director, self.actor = director, actor
        self.sessions = SessionRegistry(self.cfg, director)

    def _authorized(self, headers) -> bool:
        token = self.cfg.serving.token
        if not token:
            return True
        got = headers.get("authorization", "")
        return hmac.compare_digest(got.encode(), f"Bearer {token}".encode())

    @api.websocket("/v1/session")
    async def session(self, ws: WebSocket):
        await self.sessions.serve_websocket(ws, self._authorized(ws.headers))

    @api.get("/healthz")
    async def healthz(self):
        director, actor = await asyncio.gather(self.director.stats.remote(), self.actor.stats.remote())
        ingress = {"tasks": len(asyncio.all_tasks()), **process_stats()}
        return {
            "status": "ok",
            **self.sessions.stats(),
            "ingress": ingress,
            "director": director,
            "actor": actor,
        }

    @api.get("/v1/sessions/{session_id}/log")
    async def session_log(
        self, session_id: str, request: Request, line: int | None = None, take: int | None = None,
        type: str | None = None, format: str = "msgpack",
    ):  # fmt: skip
        if not self._authorized(request.headers):
            return JSONResponse({"code": "unauthorized", "message": "a bearer token is required"}, 401)
        from ground.message_log import log_dir, open_log, plain
        from ground.protocol import is_id

        if not is_id(session_id):
            return JSONResponse({"code": "bad_request", "message": "not a session id"}, 400)
        path = log_dir(self.cfg) / f"{session_id}.msgpack"
        if not path.is_file():
            return JSONResponse({"code": "not_found", "message": f"no session {session_id}"}, 404)

        def read():
            import msgpack

            log_ = open_log(path)
            entries = log_.select(line, take, set(type.split(",")) if type else None)
            items = [item for _, item in log_.read(entries)]
            if format == "json":
                return {"session": session_id, "damaged": log_.problem, "messages": [plain(i) for i in items]}
            return b"".join(msgpack.packb(i, use_bin_type=True) for i in items)

        body = await asyncio.get_running_loop().run_in_executor(None, read)
        if isinstance(body, dict):
            return JSONResponse(body)
        return Response(body, media_type="application/msgpack")

    async def _bounded_body(self, request: Request) -> bytes | Response:
        """The request body, refused with 413 by its declared length before anything is read, and by what
        has arrived as soon as it passes the limit (a chunked body declares none): never read past the limit."""
        limit = self.cfg.serving.max_frame_bytes
        too_large = JSONResponse(
            {
                "code": "too_large",
                "message": f"the body is over the {limit}-byte limit (serving.max_frame_bytes)",
            },
            413,
        )
        declared = request.headers.get("content-length", "")
        if declared and (not declared.isascii() or not declared.isdigit() or len(declared) > 15):
            return JSONResponse({"code": "bad_request", "message": "Content-Length is not a byte count"}, 400)
        if declared and int(declared) > limit:
            return too_large
        parts, size = [], 0
        async for part in request.stream():
            size += len(part)
            if size > limit:
                return too_large
            parts.append(part)
        return b"".join(parts)

    @api.post("/v1/dub")
    async def dub(self, request: Request):
        """One clip in, a wav out: a msgpack map {video, text, voice, [character, sample_rate, max_takes,
        language, fit]} (the voice as an audio file's bytes)."""
        if not self._authorized(request.headers):
            return JSONResponse({"code": "unauthorized", "message": "a bearer token is required"}, 401)
        body = await self._bounded_body(request)
        if isinstance(body, Response):
            return body
        status, result = await self.sessions.dub_once(body, request.client.host if request.client else "")
        if status != 200:
            return JSONResponse(result, status)
        import soundfile as sf

        audio, sr, session_id = result
        buf = io.BytesIO()
        sf.write(buf, audio, sr, format="WAV", subtype="PCM_16")
        return Response(buf.getvalue(), media_type="audio/wav", headers={"X-Dubber-Session": session_id})


def build_app(config=None):
    """The bound app (actor -> director -> ingress) with the resources of ``config.serving``."""
    from ground.config import get_config

    cfg = config or get_config()
    s = cfg.serving
    dump = cfg.model_dump(mode="json")
    actor = ActorWorker.options(
        num_replicas=s.actor_replicas, ray_actor_options={"num_cpus": s.actor_cpus, "num_gpus": s.actor_gpus}
    ).bind(dump)
    director = DirectorWorker.options(
        num_replicas=s.director_replicas,
        ray_actor_options={"num_cpus": s.director_cpus, "num_gpus": s.director_gpus},
    ).bind(dump, actor)
    return Ingress.options(ray_actor_options={"num_cpus": s.ingress_cpus}).bind(dump, director, actor)


def new_session_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:8]
