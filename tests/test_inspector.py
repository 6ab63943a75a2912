"""The message-log inspector end to end: real logs from a real dub, served over HTTP, read in Chromium.

One line of the bundled demo clip is dubbed by the project's stage (shipped actor, no-LLM director, a copy of
the shipped library) under a strict review policy, so take 1 is rejected and re-directed and take 2 follows.
Its messages, every audio chunk included (streamed from ``Actor.stream`` into the log the way the server's
actor proxy does), are written through ``SessionLogWriter`` as a session log, as a plain ``dubber dub --log``
log, as a batch job's line log, and as damaged copies. The inspector (the ``dubber logs serve`` app) serves
the folder on a loopback port: the API is checked with plain HTTP, the page in headless Debian Chromium
driven by Playwright. Screenshots land in ``runs/test-artifacts/inspector/``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import msgpack
import numpy as np
import pytest
import soundfile as sf

from tests.conftest import REPO

DEMO = REPO / "assets" / "demo"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "runs" / "test-artifacts" / "inspector"
SESSION = "20261202-040000-a1b2c3d4"


class StreamingActor:
    """The shipped actor; each take's audio goes into the line's log chunk by chunk as it is vocoded (what
    ``serving.remote.RemoteActor`` does between the server's replicas)."""

    emits_audio_chunks = True

    def __init__(self, actor, ctx):
        self.actor, self.ctx = actor, ctx

    def __getattr__(self, name):
        return getattr(self.actor, name)

    def perform(self, inputs, prompt, guidance, nodes) -> np.ndarray:
        parts = []
        for seq, chunk in enumerate(self.actor.stream(inputs, prompt, guidance, nodes)):
            parts.append(chunk)
            self.ctx.audio(chunk, seq)
        return np.concatenate(parts)


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    """A copy of the shipped reference library (its rows' media paths are the build machine's)."""
    library = tmp_path_factory.mktemp("inspector-lib") / "library"
    shutil.copytree(REPO / "assets" / "library", library)
    return library


@pytest.fixture(scope="module")
def frames(library) -> list[bytes]:
    """Every frame of one dubbed line's session, in its msgpack wire format, in log order."""
    from actors.voice import Actor
    from ground.config import get_config, set_config
    from ground.protocol import ClosedFrame, LineEnd, LoggedLine, LoggedOpen, pack
    from serving.remote import LineContext
    from stage.dubbing import DubbingStage

    base = get_config()
    director = base.director.model_copy(update={"max_takes": 2, "min_speaker_similarity": 0.999})
    library_cfg = base.library.model_copy(update={"db_uri": str(library)})
    set_config(base.model_copy(update={"director": director, "library": library_cfg}))
    try:
        out: list[bytes] = []
        text = (DEMO / "line.txt").read_text().strip()
        out.append(
            pack(
                LoggedOpen(session=SESSION, name="demo", sample_rate=16000, max_takes=2, voices={"Ada": 3.1})
            )
        )
        out.append(pack(LoggedLine(session=SESSION, line=1, text=text, character="Ada", clip_id="demo")))
        ctx = LineContext(out.append, threading.Event(), SESSION, 1, 16000)
        stage = DubbingStage(actor=StreamingActor(Actor.load(), ctx), use_llm=False)
        prompt, sr = sf.read(DEMO / "voice.wav", dtype="float32")
        t0 = time.monotonic()
        outcome = stage.dub_line(stage.session(SESSION), 1, DEMO / "video.mp4", text, prompt, sr,
                                 character="Ada", fit="speed", emit=ctx.emit)  # fmt: skip
        out.append(pack(LineEnd(session=SESSION, line=1, status="done", chosen_take=outcome.chosen_take,
                                takes=outcome.takes, duration_s=round(len(outcome.audio) / outcome.sample_rate, 3),
                                seconds=round(time.monotonic() - t0, 3))))  # fmt: skip
        out.append(pack(ClosedFrame(session=SESSION, lines=1)))
    finally:
        set_config(base)
    return out


def maps(blobs: list[bytes]) -> list[dict]:
    return [msgpack.unpackb(b, raw=False) for b in blobs]


def write_session(directory: Path, session: str, blobs: list[bytes]) -> Path:
    from ground.message_log import SessionLogWriter

    writer = SessionLogWriter(directory, session, durable=False)
    for blob in blobs:
        item = msgpack.unpackb(blob, raw=False)
        item["session"] = session
        writer.append(item)
    writer.close()
    return writer.path


@pytest.fixture(scope="module")
def logdir(frames, tmp_path_factory) -> Path:
    """A folder as ``dubber logs serve`` meets it: a session log, a plain dub log in a subfolder, a batch job
    folder, a truncated log and one with a corrupt frame in the middle."""
    from ground.message_log import MessageLogWriter
    from ground.messages import MESSAGE_TYPES, decode

    root = tmp_path_factory.mktemp("inspector-logs")
    path = write_session(root, SESSION, frames)
    # what `dubber dub --log` keeps: the typed messages, each take's audio inside its take message (an
    # actor in the same process streams no audio chunks)
    chunks: dict[int, list[bytes]] = {}
    with MessageLogWriter(root / "dub" / "messages.msgpack", durable=False) as w:
        for blob, item in zip(frames, maps(frames), strict=True):
            if item["type"] == "audio":
                chunks.setdefault(item["take"], []).append(item["pcm16"])
            elif item["type"] == "take":
                w.append(decode(msgpack.packb({**item, "pcm16": b"".join(chunks[item["take"]])})))
            elif item["type"] in MESSAGE_TYPES:
                w.append(decode(blob))
    job = root / "job-a"
    (job / "logs").mkdir(parents=True)
    line = {"id": "l0001", "number": 1, "character": "Ada", "text": "I told you never to come back here",
            "session": "job-a-l0001", "status": "done"}  # fmt: skip
    doc = {"kind": "localization", "job": "job-a", "running": True, "logs_dir": "logs",
           "state": {"lines": 2, "done": 1, "failed": 0, "pending": 1}, "lines": [line]}  # fmt: skip
    (job / "job.json").write_text(json.dumps(doc))  # the layout of `dubber localize --out DIR`
    write_session(job / "logs", "job-a-l0001", frames)
    # copies of the session's log and index, then damaged
    for name in ("damaged", "corrupt"):
        shutil.copy(path, root / f"{name}.msgpack")
        shutil.copy(path.with_suffix(".index"), root / f"{name}.index")
    items = maps(frames)
    # truncated in the middle of the first review: the index still lists frames the log has lost
    review = next(i for i, m in enumerate(items) if m["type"] == "review")
    cut = sum(len(b) for b in frames[:review]) + len(frames[review]) // 2
    (root / "damaged.msgpack").write_bytes(path.read_bytes()[:cut])
    # a byte msgpack never uses, where the first take message starts; the index is intact
    take = next(i for i, m in enumerate(items) if m["type"] == "take")
    data = bytearray(path.read_bytes())
    data[sum(len(b) for b in frames[:take])] = 0xC1
    (root / "corrupt.msgpack").write_bytes(bytes(data))
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The ``dubber logs serve`` app under uvicorn on a loopback port, in a thread."""

    def __init__(
        self, directory: Path | None, token: str | None = None, library: Path | None = None, app=None
    ):
        import uvicorn

        from inspector.app import build_app

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        app = app or build_app(directory, token, str(library) if library else None)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the inspector did not start"
            time.sleep(0.05)

    def get(self, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
        req = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def json(self, path: str):
        status, _, body = self.get(path)
        assert status == 200, body
        return json.loads(body)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def server(logdir, library, frames):
    """The inspector over ``logdir``; the library's first reference of the line has its media on this machine
    (the demo clip's audio stands in for it), the second's are elsewhere."""
    from retrieval.library import ReferenceLibrary

    refs = next(m for m in maps(frames) if m["type"] == "references")["references"]
    table = ReferenceLibrary.open(str(library)).table
    media = logdir.parent / "media.wav"
    shutil.copy(DEMO / "audio.wav", media)
    table.update(where=f"clip_id = '{refs[0]['clip_id']}'", values={"audio_path": str(media)})
    table.update(where=f"clip_id = '{refs[1]['clip_id']}'", values={"audio_path": "/nowhere/audio.wav"})
    s = Server(logdir, library=library)
    yield s
    s.stop()


# -- the API, without a browser ---------------------------------------------------------------------------
def test_listing_has_sessions_plain_logs_and_batch_jobs(server):
    listing = server.json("/logs/api/sessions")
    by_id = {s["id"]: s for s in listing["sessions"]}
    assert set(by_id) == {SESSION, "dub~messages", "job-a~logs~job-a-l0001", "damaged", "corrupt"}
    assert (
        by_id[SESSION]["kind"] == "session" and by_id[SESSION]["closed"] and by_id[SESSION]["damage"] is None
    )
    assert by_id["dub~messages"]["kind"] == "plain" and by_id["dub~messages"]["lines"] == 1
    (job,) = listing["jobs"]
    assert job["id"] == "job-a" and job["info"]["state"]["done"] == 1
    assert job["sessions"] == ["job-a~logs~job-a-l0001"] and by_id["job-a~logs~job-a-l0001"]["job"] == "job-a"
    assert by_id["damaged"]["damage"]["torn_tail"] and by_id["corrupt"]["damage"]["problem"].startswith(
        "unreadable"
    )


def test_session_view_groups_the_conversation(server, frames):
    view = server.json(f"/logs/api/sessions/{SESSION}")
    items = maps(frames)
    assert view["summary"]["messages"] == len(items) and view["end_offset"] == sum(len(b) for b in frames)
    assert [m["type"] for m in view["session"]] == ["session", "closed"]
    (line,) = view["lines"]
    assert line["text"] == (DEMO / "line.txt").read_text().strip() and line["character"] == "Ada"
    assert line["status"] == "done" and line["redirected"] and line["emotion"] == "angry"
    assert [t["take"] for t in line["takes"]] == [1, 2]
    first, second = line["takes"]
    assert not first["review"]["accepted"] and "voice drifts" in first["review"]["reason"]
    assert second["guidance"] == first["review"]["revised"] and second["guidance"]["revision"] == 1
    assert len(first["references"]) == 9 and all(r["caption"] for r in first["references"])
    chunks = [m for m in items if m["type"] == "audio" and m["take"] == 1]
    assert first["audio"]["chunks"] == len(chunks) > 1
    assert first["audio"]["samples"] == sum(len(m["pcm16"]) for m in chunks) // 2
    assert (
        sum(t["chosen"] for t in line["takes"]) == 1 and line["chosen_take"] == line["accept"]["chosen_take"]
    )
    # messages are plain JSON and audio is never inlined
    assert not any(m["type"] == "audio" for m in line["messages"])
    assert "base64" not in json.dumps(view)


def test_take_wav_is_its_chunks_assembled(server, frames):
    items = maps(frames)
    status, headers, body = server.get(f"/logs/api/sessions/{SESSION}/takes/1/2.wav")
    assert status == 200 and headers["content-type"] == "audio/wav"
    audio, sr = sf.read(io.BytesIO(body), dtype="int16")
    chunks = sorted((m["seq"], m["pcm16"]) for m in items if m["type"] == "audio" and m["take"] == 2)
    assert sr == 16000 and audio.tobytes() == b"".join(p for _, p in chunks)
    take = next(m for m in items if m["type"] == "take" and m["take"] == 2)
    assert abs(len(audio) / sr - take["duration_s"]) < 0.05
    status, headers, part = server.get(
        f"/logs/api/sessions/{SESSION}/takes/1/2.wav", {"Range": "bytes=44-143"}
    )
    assert status == 206 and part == body[44:144] and headers["content-range"] == f"bytes 44-143/{len(body)}"
    prosody = server.json(f"/logs/api/sessions/{SESSION}/takes/1/2/prosody")
    assert len(prosody["f0"]) == len(prosody["energy_db"]) == int(len(audio) / sr / 0.01) + 1
    assert sum(f > 0 for f in prosody["f0"]) > 20 and max(prosody["energy_db"]) > -40


def test_damaged_logs_show_everything_before_the_damage(server, frames):
    items = maps(frames)
    review = next(i for i, m in enumerate(items) if m["type"] == "review")
    view = server.json("/logs/api/sessions/damaged")
    damage = view["summary"]["damage"]
    assert damage["offset"] == sum(len(b) for b in frames[:review]) and damage["messages"] == review
    assert damage["problem"].startswith("truncated frame") and damage["torn_tail"]
    (line,) = view["lines"]
    assert line["takes"][0]["take_message"] and line["takes"][0]["review"] is None
    take = next(i for i, m in enumerate(items) if m["type"] == "take")
    view = server.json("/logs/api/sessions/corrupt")
    damage = view["summary"]["damage"]
    assert damage["offset"] == sum(len(b) for b in frames[:take]) and damage["messages"] == take
    assert not damage["torn_tail"] and view["summary"]["messages"] == take


def test_unknown_ids_and_paths_are_404_and_a_dub_log_plays(server):
    for path in ("/logs/api/sessions/nope", "/logs/api/sessions/..~..~etc~passwd", "/logs/api/sessions/%2e%2e",
                 "/logs/api/sessions/..%2F..%2Fetc%2Fpasswd/export.json", "/logs/static/..%2Finspector.js",
                 f"/logs/api/sessions/{SESSION}/takes/1/9.wav"):  # fmt: skip
        status, _, body = server.get(path)
        assert status == 404, (path, body)
    status, _, body = server.get("/logs/api/sessions/nope")
    assert "no session 'nope'" in json.loads(body)["message"]
    # a dub log's take plays from the audio inside its take message: the same wav as the session's chunks
    status, _, body = server.get("/logs/api/sessions/dub~messages/takes/1/1.wav")
    assert status == 200 and body == server.get(f"/logs/api/sessions/{SESSION}/takes/1/1.wav")[2]


def test_follow_takes_only_an_ascii_offset_from_last_event_id(server):
    """A resuming EventSource's ``Last-Event-ID`` is an offset; anything else ("²" passes ``isdigit``, 5,000
    digits overflow every offset) is ignored, never a 500: the stream starts from the request's offset."""
    import http.client

    for resume in ("²", "9" * 5000, "-3", "12a"):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.request("GET", f"/logs/api/sessions/{SESSION}/follow", headers={"Last-Event-ID": resume})
        response = conn.getresponse()
        assert response.status == 200, (resume[:8], response.read()[:200])
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.read(6) == b"retry:"  # the stream began
        conn.close()


def test_logs_export_wav_reads_a_dub_logs_take_audio_as_the_sessions_chunks(logdir, tmp_path):
    """``dubber logs export --wav`` takes the chosen take's audio from its chunks (a server session) or from
    its take message (a ``dubber dub --log`` log): the same line wav either way."""
    from dubber.cli import main

    wavs = {}
    for name, log in (
        ("session", logdir / f"{SESSION}.msgpack"),
        ("dub", logdir / "dub" / "messages.msgpack"),
    ):
        assert main(["logs", "export", str(log), "--out", str(tmp_path / f"{name}.json"),
                     "--wav", str(tmp_path / name)]) == 0  # fmt: skip
        wavs[name] = sorted((tmp_path / name).glob("line*.wav"))
    assert [p.name for p in wavs["dub"]] == [p.name for p in wavs["session"]] and wavs["dub"]
    for dub, session in zip(wavs["dub"], wavs["session"], strict=True):
        a, sr_a = sf.read(dub, dtype="int16")
        b, sr_b = sf.read(session, dtype="int16")
        assert sr_a == sr_b and len(a) > sr_a // 2 and np.array_equal(a, b)


def test_export_json_is_the_whole_session(server, frames):
    status, headers, body = server.get(f"/logs/api/sessions/{SESSION}/export.json")
    assert status == 200 and "attachment" in headers["content-disposition"]
    doc = json.loads(body)
    assert doc["session"] == SESSION and doc["damage"] is None and len(doc["messages"]) == len(frames)
    assert doc["messages"][0]["offset"] == 0 and doc["messages"][-1]["type"] == "closed"


def test_reference_audio_comes_from_the_library_row(server, frames):
    refs = next(m for m in maps(frames) if m["type"] == "references")["references"]
    status, _, body = server.get(f"/logs/api/references/{refs[0]['clip_id']}.wav")
    assert status == 200 and len(sf.read(io.BytesIO(body))[0]) == len(sf.read(DEMO / "audio.wav")[0])
    status, _, body = server.get(f"/logs/api/references/{refs[1]['clip_id']}.wav")
    assert status == 404 and "not on this machine" in json.loads(body)["message"]
    status, _, body = server.get("/logs/api/references/c99999.wav")
    assert status == 404 and "not in the library" in json.loads(body)["message"]


def test_a_token_guards_every_route(logdir):
    s = Server(logdir, token="s3cret")
    try:
        assert s.get("/logs/api/sessions")[0] == 401 and s.get("/logs")[0] == 401
        assert s.get("/logs/api/sessions", {"Authorization": "Bearer s3cret"})[0] == 200
        req = urllib.request.Request(s.url + "/logs?token=s3cret")
        opener = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(req)
        assert redirect.value.code == 303
        cookie = redirect.value.headers["set-cookie"].split(";")[0]
        assert "HttpOnly" in redirect.value.headers["set-cookie"]
        assert s.get("/logs/api/sessions", {"Cookie": cookie})[0] == 200
        assert s.get("/logs", {"Cookie": cookie})[0] == 200
    finally:
        s.stop()


def test_in_the_servers_ingress_it_reads_the_session_log_dir_behind_the_token(frames, tmp_path):
    """The Ingress's own FastAPI app (``serving.app.api``, the inspector mounted in it) reads
    ``serving.log_dir`` and wants ``serving.token``, as a replica configured by ``_apply_config`` does."""
    from ground.config import get_config, set_config
    from serving.app import api

    write_session(tmp_path, SESSION, frames)
    base = get_config()
    set_config(
        base.model_copy(
            update={"serving": base.serving.model_copy(update={"log_dir": tmp_path, "token": "tok"})}
        )
    )
    s = Server(None, app=api)
    try:
        assert s.get("/logs/api/sessions")[0] == 401
        status, _, body = s.get("/logs/api/sessions", {"Authorization": "Bearer tok"})
        assert status == 200 and [x["id"] for x in json.loads(body)["sessions"]] == [SESSION]
        status, headers, _ = s.get(
            f"/logs/api/sessions/{SESSION}/takes/1/1.wav", {"Authorization": "Bearer tok"}
        )
        assert status == 200 and headers["content-type"] == "audio/wav"
    finally:
        s.stop()
        set_config(base)


def test_dubber_logs_serve_command(logdir):
    import subprocess
    import sys

    exe = str(Path(sys.executable).parent / "dubber")
    refused = subprocess.run([exe, "logs", "serve", str(logdir), "--host", "0.0.0.0"], capture_output=True,
                             text=True, timeout=60, env={**os.environ, "DUBBER_SERVING__TOKEN": ""})  # fmt: skip
    assert refused.returncode == 2 and "without a bearer token" in refused.stderr
    missing = subprocess.run(
        [exe, "logs", "serve", str(logdir / "nope")], capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 2 and "no such log folder" in missing.stderr
    port = free_port()
    proc = subprocess.Popen(
        [exe, "logs", "serve", str(logdir), "--port", str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert f"http://127.0.0.1:{port}/logs" in proc.stdout.readline()
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/logs/api/sessions", timeout=5) as r:
                    assert SESSION in {x["id"] for x in json.loads(r.read())["sessions"]}
                    break
            except urllib.error.URLError:
                assert time.monotonic() < deadline and proc.poll() is None, "dubber logs serve did not answer"
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(10)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_follow_reads_new_frames_from_the_offset_it_reached(frames, tmp_path):
    from ground.message_log import SessionLogWriter
    from inspector.store import LogStore

    from_dub = maps(frames)
    writer = SessionLogWriter(tmp_path, "live", durable=False)
    for item in from_dub[:5]:
        writer.append(item)
    store = LogStore(tmp_path)
    view = store.load("live")[2]
    events = store.follow("live", view.end_offset, 0.01, lambda: False)
    assert next(events)[0] == "idle"
    for item in from_dub[5:8]:
        writer.append(item)
    got = [e for e in (next(events) for _ in range(20)) if e[0] == "message"]
    assert [e[1]["message"]["type"] for e in got] == [m["type"] for m in from_dub[5:8]]
    assert got[-1][1]["next_offset"] == writer.path.stat().st_size
    references, chunk = (
        got[0][1],
        got[-1][1],
    )  # a line's message brings the line; a chunk only its take's audio
    assert references["line"]["line"] == 1 and len(references["line"]["takes"][0]["references"]) == 9
    assert chunk["line"] is None and chunk["audio"]["line"] == 1 and chunk["audio"]["chunks"] == 2
    with writer.path.open("ab") as f:
        f.write(b"\xc1" * 4)
    assert next(e for e in events if e[0] != "idle")[0] == "damage"
    events.close()
    writer.close()


# -- the page, in headless Chromium ------------------------------------------------------------------------
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", "--mute-audio",
    "--autoplay-policy=no-user-gesture-required",  # play() from the test, not from a click
]  # fmt: skip
INK = """c => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let ink = 0, f0 = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i] < 235 || d[i + 1] < 235 || d[i + 2] < 235) ink++;
    if (d[i] < 90 && d[i + 2] > 180) f0++;  // the F0 curve's blue
  }
  return {ink, f0, pixels: d.length / 4};
}"""


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.skip(
            "Debian's chromium is not installed at /usr/bin/chromium (`make test` installs it as root)"
        )
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    context.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_browser_session_conversation_play_plot_search_export(server, page, frames):
    page.goto(server.url + "/logs")
    page.wait_for_selector(f'.session-item[data-id="{SESSION}"]')
    job = page.locator('.job[data-job="job-a"]')
    assert job.locator(".session-item").count() == 1
    assert "Ada: I told you" in job.locator(".jline").inner_text()
    assert "state: lines 2, done 1, failed 0, pending 1" in job.locator(".job-info").inner_text()
    assert page.locator('.session-item[data-id="damaged"] .badge').first.inner_text() == "torn end"
    shot(page, "01-listing")
    page.click(f'.session-item[data-id="{SESSION}"]')
    line = page.locator('.line[data-line="1"]')
    line.locator('.take[data-take="2"] .review').wait_for()
    # the guidance: eight emotion bars, the guided one on top and widest
    rows = line.locator(".guidance").first.locator(".bar-row")
    assert rows.count() == 8
    assert line.locator(".guidance").first.locator(".bar-row.top").get_attribute("data-emotion") == "angry"
    widths = (
        line.locator(".guidance")
        .first.locator(".bar-fill")
        .evaluate_all("els => els.map(e => e.getBoundingClientRect().width)")
    )
    assert max(widths) == widths[0] > 0  # angry is the first class
    assert line.locator(".guidance .direction").first.inner_text().strip("“”")
    assert line.locator('.take[data-take="1"] .reference').count() == 9
    assert "re-directed" in line.locator('.take[data-take="1"] .review').inner_text()
    assert line.locator('.take[data-take="2"] .guidance .badge').inner_text() == "revision 1"
    # play the chosen take: time advances, no media error
    audio = line.locator('.take[data-take="2"] audio')
    audio.evaluate("a => a.play()")
    page.wait_for_function("a => a.currentTime > 0.3", arg=audio.element_handle())
    assert audio.evaluate("a => a.error === null && !a.paused")
    # its F0 and energy plot has ink, the F0 curve among it
    canvas = line.locator('.take[data-take="2"] canvas.prosody')
    canvas.scroll_into_view_if_needed()  # curves are computed for the takes in view
    page.wait_for_selector('.take[data-take="2"] canvas[data-drawn]')
    ink = canvas.evaluate(INK)
    assert ink["ink"] > 0.05 * ink["pixels"] and ink["f0"] > 200, ink
    shot(page, "02-session-playing")
    audio.evaluate("a => a.pause()")
    # a reference clip plays from the library; one whose media are elsewhere says so
    refs = line.locator('.take[data-take="1"] .reference')
    refs.nth(0).locator(".play-ref").click()
    page.wait_for_function("() => refAudio && refAudio.currentTime > 0.1")
    refs.nth(1).locator(".play-ref").click()
    page.wait_for_function("el => el.textContent.includes('not on this machine')",
                           arg=refs.nth(1).locator(".ref-error").element_handle())  # fmt: skip
    # search and filters
    page.fill("#search", "no such words anywhere")
    assert page.inner_text("#line-count") == "0 of 1 lines" and line.is_hidden()
    page.fill("#search", "never to come back")
    assert page.inner_text("#line-count") == "1 of 1 lines" and line.is_visible()
    page.fill("#search", "voice drifts")  # a review's reason
    assert line.is_visible()
    page.fill("#search", "")
    page.select_option("#emotion-filter", "angry")
    assert line.is_visible()
    page.select_option("#status-filter", "first")
    assert line.is_hidden()
    page.select_option("#status-filter", "redirected")
    assert line.is_visible()
    shot(page, "03-filtered")
    # export
    with page.expect_download() as download:
        page.click("#export")
    doc = json.loads(Path(download.value.path()).read_text())
    assert doc["session"] == SESSION and len(doc["messages"]) == len(frames)
    assert page.errors == []


def test_browser_follows_a_log_being_written(frames, page, tmp_path):
    from ground.message_log import SessionLogWriter

    items = maps(frames)
    guidance = next(i for i, m in enumerate(items) if m["type"] == "guidance")
    writer = SessionLogWriter(tmp_path, "live", durable=False)
    for item in items[: guidance + 1]:
        writer.append(item)
    s = Server(tmp_path)
    try:
        page.goto(f"{s.url}/logs#session=live")
        line = page.locator('.line[data-line="1"]')
        line.locator(".guidance").first.wait_for()
        page.wait_for_function("() => document.querySelector('#live').textContent === 'following'")
        assert line.locator(".take").count() == 0 and line.get_attribute("data-status") == "running"
        shot(page, "04-live-before")

        def write_rest():
            for item in items[guidance + 1 :]:
                writer.append(item)
                time.sleep(0.005)

        t = threading.Thread(target=write_rest)
        t.start()
        line.locator('.take[data-take="2"] .review').wait_for()
        page.wait_for_function("() => document.querySelector('#live').textContent === 'closed'")
        t.join()
        line = page.locator('.line[data-line="1"]')
        assert line.get_attribute("data-status") == "done" and line.locator(".take").count() == 2
        line.locator('.take[data-take="2"] canvas').scroll_into_view_if_needed()
        page.wait_for_selector('.take[data-take="2"] canvas[data-drawn]')
        assert page.locator("#session-meta").inner_text().count(f"{len(items)} messages") == 1
        shot(page, "05-live-after")
        assert page.errors == []
    finally:
        writer.close()
        s.stop()


def test_browser_shows_damage_and_what_came_before(server, page, frames):
    items = maps(frames)
    review = next(i for i, m in enumerate(items) if m["type"] == "review")
    page.goto(f"{server.url}/logs#session=damaged")
    banner = page.locator("#damage")
    banner.wait_for()
    offset = sum(len(b) for b in frames[:review])
    assert f"at byte {offset} " in banner.inner_text() and f"after {review} messages" in banner.inner_text()
    line = page.locator('.line[data-line="1"]')
    assert line.locator(".guidance").count() >= 1 and line.locator('.take[data-take="1"] audio').count() == 1
    assert line.locator(".review").count() == 0
    shot(page, "06-damaged")
    page.goto(f"{server.url}/logs#session=corrupt")
    page.wait_for_function("() => document.querySelector('#damage').textContent.includes('unreadable frame')")
    assert page.locator('.line[data-line="1"] .take').count() == 1  # references and audio came before
    assert page.locator('.take[data-take="1"] .take-head .badge').inner_text() == "unfinished in the log"
    shot(page, "07-corrupt")
    page.goto(f"{server.url}/logs#session=dub~messages")
    page.wait_for_selector('.line[data-line="1"] .take[data-take="2"]')
    assert page.locator('.take[data-take="1"] audio').count() == 1
    shot(page, "08-dub-log")
    assert page.errors == []
