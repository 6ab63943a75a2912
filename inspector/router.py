"""The inspector's routes, one ``APIRouter`` mounted by the dubbing app's Ingress and by ``dubber logs serve``.

    GET /logs                                               the page (static/index.html)
    GET /logs/static/{file}                                 its script and stylesheet
    GET /logs/api/sessions                                  Listing: sessions and batch jobs
    GET /logs/api/sessions/{id}                             SessionView: lines grouped, messages as plain JSON
    GET /logs/api/sessions/{id}/takes/{line}/{take}.wav     a take's PCM chunks as one wav
    GET /logs/api/sessions/{id}/takes/{line}/{take}/prosody Prosody: its F0 and energy
    GET /logs/api/sessions/{id}/follow?offset=N             Server-Sent Events: each new message, from byte N
    GET /logs/api/sessions/{id}/export.json                 the session as JSON (a download)
    GET /logs/api/references/{clip}.wav                     a reference clip's audio, from the library

Which folder is read: the app's ``state.inspector_store`` when it set one (``dubber logs serve DIR``), else
``serving.log_dir`` (the server's sessions). When a bearer token is configured (``serving.token``; a
non-loopback bind needs one) every route wants it: an ``Authorization: Bearer`` header, or the cookie that
opening ``/logs?token=...`` once sets (a browser cannot put a header on a page, an ``<audio>`` or an
``EventSource``).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import re
import threading
import time
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from ground.errors import BadInputError
from inspector.protocol import ApiError, Listing, Prosody, SessionView
from inspector.store import LogStore, NotFound

COOKIE = "dubber_logs_token"
STATIC = {"inspector.js": "text/javascript", "inspector.css": "text/css"}
ERRORS = {404: {"model": ApiError}, 401: {"model": ApiError}}

router = APIRouter(prefix="/logs", tags=["logs"])
_stores: dict[Path, LogStore] = {}
_stores_lock = threading.Lock()


def _config():
    from ground.config import get_config

    return get_config()


def store_for(request: Request) -> LogStore:
    store = getattr(request.app.state, "inspector_store", None)
    if store is not None:
        return store
    from ground.message_log import log_dir

    directory = log_dir(_config())
    directory.mkdir(parents=True, exist_ok=True)
    with _stores_lock:
        return _stores.setdefault(directory, LogStore(directory))


def _token(request: Request) -> str | None:
    if hasattr(request.app.state, "inspector_token"):
        return request.app.state.inspector_token
    return _config().serving.token


def _authorized(request: Request) -> bool:
    token = _token(request)
    if not token:
        return True
    want = f"Bearer {token}".encode()
    header = request.headers.get("authorization", "").encode()
    cookie = request.cookies.get(COOKIE, "").encode()
    return hmac.compare_digest(header, want) or hmac.compare_digest(cookie, token.encode())


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(ApiError(code=code, message=message).model_dump(), status)


def _unauthorized() -> JSONResponse:
    return _error(401, "unauthorized", "a bearer token is required (or open /logs?token=TOKEN once)")


async def _call(fn, *args):
    """Run blocking log reading off the event loop; map the store's errors to 404 / 400."""
    try:
        return await run_in_threadpool(fn, *args)
    except NotFound as exc:
        return _error(404, "not_found", exc.one_line())
    except BadInputError as exc:
        return _error(400, "bad_input", exc.one_line())


# -- the page ---------------------------------------------------------------------------------------------
def _static(name: str) -> bytes:
    return resources.files("inspector").joinpath("static", name).read_bytes()


@router.get("", response_class=HTMLResponse, include_in_schema=False)
async def page(request: Request, token: str | None = None):
    expected = _token(request)
    if token is not None and expected and hmac.compare_digest(token.encode(), expected.encode()):
        # the token moves from the address bar into a cookie only this page's requests send
        response = RedirectResponse("/logs", 303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/logs")
        return response
    if not _authorized(request):
        return HTMLResponse(
            "<!doctype html><title>Message logs</title><p>This server needs its bearer token: open "
            "<code>/logs?token=YOUR_TOKEN</code> once (it is kept in a cookie for this page).</p>",
            401,
        )
    return HTMLResponse(_static("index.html"), headers={"Cache-Control": "no-cache"})


@router.get("/static/{name}", include_in_schema=False)
async def static(name: str):
    if name not in STATIC:  # a fixed set of files, never a path
        return _error(404, "not_found", f"no static file {name!r}")
    return Response(_static(name), media_type=STATIC[name], headers={"Cache-Control": "no-cache"})


# -- the API ----------------------------------------------------------------------------------------------
@router.get("/api/sessions", response_model=Listing, responses=ERRORS)
async def sessions(request: Request):
    if not _authorized(request):
        return _unauthorized()
    return await _call(store_for(request).listing)


@router.get("/api/sessions/{session_id}", response_model=SessionView, responses=ERRORS)
async def session(session_id: str, request: Request):
    if not _authorized(request):
        return _unauthorized()
    store = store_for(request)
    return await _call(lambda: store.load(session_id)[2])


@router.get("/api/sessions/{session_id}/takes/{line:int}/{take:int}.wav", responses=ERRORS)
async def take_wav(session_id: str, line: int, take: int, request: Request):
    if not _authorized(request):
        return _unauthorized()
    body = await _call(store_for(request).take_wav, session_id, line, take)
    if isinstance(body, Response):
        return body
    name = f"{session_id}-line{line}-take{take}.wav"
    return _audio(request, body, {"Content-Disposition": f'inline; filename="{name}"'})


def _audio(request: Request, body: bytes, headers: dict | None = None) -> Response:
    """A wav, whole or the byte range asked for (what lets an <audio> element seek)."""
    headers = {"Accept-Ranges": "bytes", **(headers or {})}
    asked = request.headers.get("range", "")
    if asked.startswith("bytes=") and "," not in asked:
        first, _, last = asked[6:].partition("-")
        try:
            start = int(first) if first else max(0, len(body) - int(last))
            end = min(int(last), len(body) - 1) if first and last else len(body) - 1
        except ValueError:
            start, end = 0, -1
        if 0 <= start <= end:
            headers["Content-Range"] = f"bytes {start}-{end}/{len(body)}"
            return Response(body[start : end + 1], 206, headers=headers, media_type="audio/wav")
        return Response(b"", 416, headers={"Content-Range": f"bytes */{len(body)}"})
    return Response(body, media_type="audio/wav", headers=headers)


@router.get("/api/sessions/{session_id}/takes/{line:int}/{take:int}/prosody", response_model=Prosody,
            responses=ERRORS)  # fmt: skip
async def take_prosody(session_id: str, line: int, take: int, request: Request):
    if not _authorized(request):
        return _unauthorized()
    cfg = _config()
    return await _call(store_for(request).prosody, session_id, line, take, cfg.inspector.max_prosody_seconds,
                       cfg.media.hop_ms)  # fmt: skip


@router.get("/api/sessions/{session_id}/export.json", responses=ERRORS)
async def export(session_id: str, request: Request):
    if not _authorized(request):
        return _unauthorized()
    doc = await _call(store_for(request).export, session_id)
    if isinstance(doc, Response):
        return doc
    return Response(
        json.dumps(doc, indent=1),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{session_id}.json"'},
    )


@router.get("/api/references/{clip_id}.wav", responses=ERRORS)
async def reference_wav(clip_id: str, request: Request):
    if not _authorized(request):
        return _unauthorized()
    body = await _call(store_for(request).reference_wav, clip_id)
    return body if isinstance(body, Response) else _audio(request, body)


async def _gone(request: Request) -> bool:
    try:
        return await request.is_disconnected()
    except Exception:  # Ray Serve's receive raises (TaskCancelledError) once the proxy cancelled the request
        return True


@router.get("/api/sessions/{session_id}/follow", responses=ERRORS)
async def follow(session_id: str, request: Request, offset: int = 0):
    """Server-Sent Events, one ``message`` event per frame appended from byte ``offset`` on (``id``: the next
    offset, so a reconnecting EventSource resumes where it was), ``damage`` where the log turns unreadable."""
    if not _authorized(request):
        return _unauthorized()
    resume = request.headers.get("last-event-id", "")
    # ASCII digits only and at most 19 of them (an offset is a file position): "²".isdigit() is True
    if re.fullmatch(r"[0-9]{1,19}", resume):
        offset = int(resume)
    cfg = _config().inspector
    stop = threading.Event()
    events = store_for(request).follow(session_id, offset, cfg.follow_poll_s, stop.is_set)
    first = await _call(next, events, None)  # an unknown id or a bad offset is a 404 before streaming
    if isinstance(first, Response):
        return first

    async def stream():
        item, quiet_since = first, time.monotonic()
        try:
            yield "retry: 2000\n\n"
            while item is not None:
                kind, data = item
                if kind == "idle":
                    if await _gone(request):
                        return
                    if time.monotonic() - quiet_since > cfg.keepalive_s:
                        quiet_since = time.monotonic()
                        yield ": keep-alive\n\n"
                else:
                    quiet_since = time.monotonic()
                    head = f"id: {data['next_offset']}\n" if kind == "message" else ""
                    yield f"{head}event: {kind}\ndata: {json.dumps(data)}\n\n"
                item = await run_in_threadpool(next, events, None)
        finally:
            stop.set()  # a generator still running in its thread ends at its next poll
            with contextlib.suppress(ValueError):
                events.close()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
