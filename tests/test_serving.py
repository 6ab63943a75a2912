"""The serving room on real components: a Ray started here (2 CPUs), the Serve app (actor and director
deployments behind the FastAPI websocket ingress) on loopback, the real websocket client, the real stage
(perception, the shipped director cues without the LLM, the shipped library, an actor checkpoint), and the
audio that comes back measured. One Serve app serves every test of the module.

The actor is the shipped checkpoint (the serving tests measure that audio streams; what it sounds like is
measured by ``benchmarks/actor_quality.py``).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
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
TOKEN = "test-token-7"
LINE = (DEMO / "line.txt").read_text().strip()


def _checkpoint(tmp: Path) -> Path:
    """The shipped actor checkpoint; it must load with the code here (a stale one fails the module)."""
    from actors.voice import Actor
    from ground.config import get_config

    shipped = get_config().actor.checkpoint
    Actor.load(shipped)
    return shipped


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    os.environ["RAY_AUTH_MODE"] = "disabled"
    import ray
    from ray import serve

    from ground.config import get_config
    from serving.cli import deploy, start_ray

    tmp = tmp_path_factory.mktemp("serving")
    base = get_config()
    cfg = base.model_copy(
        update={
            "actor": base.actor.model_copy(update={"checkpoint": _checkpoint(tmp)}),
            "serving": base.serving.model_copy(
                update={
                    "port": _free_port(),
                    "token": TOKEN,
                    "use_llm": False,
                    "log_dir": tmp / "logs",
                    "max_frame_bytes": 1 << 20,
                    "max_line_chars": 200,
                    "max_sessions_per_client": 3,
                    "open_timeout_s": 4.0,
                    "idle_timeout_s": 8.0,
                }
            ),
        }
    )
    start_ray(None, num_cpus=2)
    try:
        url = deploy(cfg)
        yield {"url": url, "http": f"http://127.0.0.1:{cfg.serving.port}", "cfg": cfg}
    finally:
        serve.shutdown()
        ray.shutdown()


def client(server, token=TOKEN):
    from serving.client import DubbingClient

    return DubbingClient(server["url"], token=token)


def http(server, path, body: bytes | None = None, token=TOKEN):
    req = urllib.request.Request(server["http"] + path, data=body, method="POST" if body else "GET")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def health(server) -> dict:
    return json.loads(http(server, "/healthz", token=None)[2])


def wait_idle(server, timeout=30.0) -> dict:
    """/healthz until no session, no line, no director thread and no actor stream is left."""
    deadline = time.monotonic() + timeout
    while True:
        h = health(server)
        idle = not h["sessions"] and not h["lines_in_flight"]
        if idle and not h["director"]["running"] and not h["actor"]["streams"]:
            return h
        assert time.monotonic() < deadline, f"work left over: {h}"
        time.sleep(0.25)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 600))


def pcm(frames) -> np.ndarray:
    return np.frombuffer(b"".join(f.pcm16 for f in frames), dtype="<i2").astype(np.float32) / 32768.0


def test_a_session_streams_two_lines_in_order_with_look_ahead(server):
    async def go():
        async with client(server) as c:
            ready = await c.open({"Ada": DEMO / "voice.wav"}, sample_rate=24000, max_takes=1)
            assert ready.sample_rate == 24000 and ready.characters == ["Ada"]
            await c.register_clip("demo", DEMO / "video.mp4")
            await c.send_line(1, LINE, clip_id="demo", character="Ada", timecode_s=12.5)
            await c.send_line(2, "Fine. Then go.", clip_id="demo", character="Ada")
            frames = [f async for f in c.line_frames(1)] + [f async for f in c.line_frames(2)]
            closed = await c.close()
            return ready.session, frames, closed

    session, frames, closed = run(go())
    assert closed.type == "closed" and closed.lines == 2
    by_line = {n: [f for f in frames if getattr(f, "line", None) == n] for n in (1, 2)}
    ends = [f for f in frames if f.type == "line_end"]
    assert [e.line for e in ends] == [1, 2] and all(e.status == "done" for e in ends)
    # strictly in order on the wire: everything of line 1, then everything of line 2
    assert frames.index(ends[0]) < min(frames.index(f) for f in by_line[2])
    for n, fs in by_line.items():
        kinds = [f.type for f in fs]
        assert kinds[0] == "request" and kinds[-1] == "line_end"
        for kind in ("perception", "guidance", "references", "audio", "take", "review", "accept"):
            assert kind in kinds, (n, kind)
        assert kinds.index("guidance") < kinds.index("audio") < kinds.index("take") < kinds.index("accept")
        chunks = [f for f in fs if f.type == "audio"]
        assert [c.seq for c in chunks] == list(range(len(chunks)))
        assert {c.sample_rate for c in chunks} == {24000} and {c.take for c in chunks} == {1}
        audio = pcm(chunks)
        take = next(f for f in fs if f.type == "take")
        # the streamed audio is the take, resampled to the session's rate: same length, and not silence
        assert abs(len(audio) / 24000 - take.duration_s) < 0.05
        assert np.sqrt(np.mean(audio**2)) > 1e-3
        end = fs[-1]
        assert end.chosen_take == 1 and 0 < end.first_chunk_s <= end.seconds
    # look-ahead: the director was already working on line 2 before line 1 had ended
    request2 = next(f for f in by_line[2] if f.type == "request")
    assert request2.ts < ends[0].ts

    # the log has every frame the client got, and the index answers filters
    from ground.message_log import open_log

    log = open_log(server["cfg"].serving.log_dir / f"{session}.msgpack")
    assert not log.index_rebuilt and log.problem is None
    assert len(log.select(types={"audio"})) == sum(f.type == "audio" for f in frames)
    assert [e.line for e in log.select(types={"line"})] == [1, 2]
    assert {e.line for e in log.select(types={"line_end"})} == {1, 2}
    status, headers, body = http(server, f"/v1/sessions/{session}/log?line=2&type=guidance,accept")
    assert status == 200 and headers["content-type"] == "application/msgpack"
    items = list(msgpack.Unpacker(io.BytesIO(body), raw=False))
    assert [i["type"] for i in items] == ["guidance", "accept"] and {i["line"] for i in items} == {2}
    status, _, body = http(server, f"/v1/sessions/{session}/log?format=json&type=audio&line=1")
    assert status == 200
    doc = json.loads(body)
    assert doc["messages"] and doc["messages"][0]["pcm16"]["bytes"] > 0
    assert http(server, "/v1/sessions/../../etc/passwd/log")[0] == 404
    assert http(server, "/v1/sessions/nosuchsession/log")[0] == 404
    assert http(server, f"/v1/sessions/{session}/log", token=None)[0] == 401


def test_bad_frames_get_error_frames_and_the_session_stays_usable(server):
    big = b"\x00" * (server["cfg"].serving.max_frame_bytes + 10)
    nested: object = "line"
    for _ in range(400):
        nested = {"type": nested}

    async def go():
        async with client(server) as c:
            await c.send({"type": "line", "line": 1, "text": "hi"})  # before open
            first = await c.recv(30)
            await c.open({"*": DEMO / "voice.wav"}, max_takes=1)
            errors = [first]
            for raw in (
                b"\xc1\xc1",  # not msgpack
                msgpack.packb([1, 2, 3]),  # not a map
                msgpack.packb({"type": "dance"}),  # unknown type
                msgpack.packb({"type": "line", "line": 3}),  # no text
                msgpack.packb({"type": "clip", "clip_id": "x", "video": "/etc/passwd"}),  # a path, not bytes
                msgpack.packb({"type": "clip", "clip_id": "../../etc", "video": b"123"}),
                msgpack.packb({"type": "clip", "clip_id": "big", "video": big}, use_bin_type=True),
                msgpack.packb({"type": "line", "line": 4, "text": "x" * 300, "clip_id": "nope"}),
                msgpack.packb({"type": "line", "line": 5, "text": "Hello there.", "clip_id": "nope"}),
                msgpack.packb({"type": "line", "line": 6, "text": "Hi.", "video": "/etc/passwd"}),
                msgpack.packb({"type": "cancel", "line": 99}),
                msgpack.packb({"type": "cancel", "line": 2**31}),  # past the log index's 32 bits
                msgpack.packb(nested),  # a type nested 400 deep
                msgpack.packb({"type": "y" * 100_000}),  # echoed back short, not whole
            ):
                await c.send_raw(raw)
                errors.append(await c.recv(30))
            await c.ws.send("a text frame")
            errors.append(await c.recv(30))
            await c.register_clip("ok", DEMO / "video.mp4")  # still usable
            await c.close()
            return errors

    errors = run(go())
    assert all(e.type == "error" for e in errors), errors
    codes = [e.code for e in errors]
    assert codes == [
        "not_open", "malformed_frame", "malformed_frame", "unknown_type", "bad_frame", "bad_frame",
        "bad_frame", "too_large", "too_long", "unknown_clip", "bad_frame", "unknown_line", "bad_frame",
        "malformed_frame", "unknown_type", "malformed_frame",
    ]  # fmt: skip
    assert errors[9].line == 5 and "limit" in errors[7].message
    assert all(len(e.message) < 400 for e in errors)  # nothing a client sent is echoed whole


def test_silent_connections_and_idle_sessions_are_closed_with_a_reason(server):
    """A connection that never opens, and an open session with nothing running that goes quiet, each get a
    ``timeout`` error frame and lose their slot (``serving.open_timeout_s``, ``idle_timeout_s``)."""

    async def silent():
        async with client(server) as c:
            t0 = time.monotonic()
            frame = await c.recv(30)
            return frame, time.monotonic() - t0

    async def quiet():
        async with client(server) as c:
            await c.open({"*": DEMO / "voice.wav"}, max_takes=1)
            t0 = time.monotonic()
            frame = await c.recv(60)
            return frame, time.monotonic() - t0

    frame, waited = run(silent())
    assert frame.type == "error" and frame.code == "timeout" and "'open'" in frame.message
    assert 3.0 < waited < 20
    frame, waited = run(quiet())
    assert frame.type == "error" and frame.code == "timeout" and "no line running" in frame.message
    assert 7.0 < waited < 30
    wait_idle(server)


def test_a_bad_voice_prompt_or_option_is_refused_at_open(server):
    async def go(voice, **options):
        async with client(server) as c:
            await c.send({"type": "open", "voices": {"Ada": voice}, **options})
            return await c.recv(30)

    silent = io.BytesIO()
    sf.write(silent, np.zeros(32000, np.float32), 16000, format="WAV")
    assert run(go({"audio": silent.getvalue()})).code == "bad_input"
    assert run(go({"audio": b"not audio"})).code == "bad_input"
    assert run(go({"audio": "/etc/passwd"})).code == "bad_frame"
    speech, sr = sf.read(DEMO / "voice.wav", dtype="float32")
    short = io.BytesIO()
    sf.write(short, speech[: sr // 2], sr, format="WAV")  # 0.5 s: under actor.min_prompt_seconds
    assert run(go({"audio": short.getvalue()})).code == "bad_input"
    voice = {"audio": (DEMO / "voice.wav").read_bytes()}
    assert run(go(voice, sample_rate=22050)).code == "bad_frame"
    assert run(go(voice, max_takes=9)).code == "bad_frame"
    for options in ({"protocol": 7}, {"max_takes": True}, {"name": b"Ada"}, {"sample_rate": 16000.0}):
        assert run(go(voice, **options)).code == "bad_frame", options
    assert run(go({"pcm16": b"\x00" * 33, "sample_rate": 16000})).code == "bad_frame"  # odd byte count


def test_token_and_sessions_per_client_are_enforced(server):
    from ground.security import check_security

    async def no_token():
        async with client(server, token=None) as c:
            return await c.recv(30)

    assert run(no_token()).code == "unauthorized"
    assert http(server, "/v1/dub", b"\x80", token="wrong")[0] == 401

    async def many():
        clients = [client(server) for _ in range(4)]
        for c in clients[:3]:
            await c.connect()
            await c.open({"*": DEMO / "voice.wav"})
        await clients[3].connect()
        refused = (await clients[3].recv(30)).code  # refused before it can even open
        for c in clients:
            await c.disconnect()
        return refused

    assert run(many()) == "too_many_sessions"
    wait_idle(server)
    from ground.errors import BadInputError

    check_security("127.0.0.1", None)
    check_security("0.0.0.0", "secret")
    with pytest.raises(BadInputError, match="token"):
        check_security("0.0.0.0", None)


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> Path:
    """The demo face played back and forth for about 16 s: a line on it takes seconds to perform and
    review, so a cancel sent on the first audio chunk always lands mid-line (on the 3 s demo clip a fast
    machine finished the line before the cancel arrived)."""
    from perception.video import read_video, write_video

    clip = read_video(DEMO / "video.mp4", with_audio=False)
    frames = np.concatenate([clip.frames, clip.frames[::-1]] * 3)[: int(16 * clip.fps)]
    path = tmp_path_factory.mktemp("long-clip") / "long.mp4"
    write_video(path, frames, clip.fps)
    return path


def test_cancel_and_disconnect_mid_line_stop_the_work(server, long_clip):
    from ground.message_log import open_log

    long_line = " ".join([LINE] * 3)
    assert len(long_line) <= server["cfg"].serving.max_line_chars

    async def go():
        # cancel: the line ends as cancelled and the session carries on
        async with client(server) as c:
            ready = await c.open({"*": DEMO / "voice.wav"}, max_takes=3)
            await c.send_line(1, long_line, video=long_clip)
            async for f in c.frames(120):
                if f.type == "audio":
                    await c.cancel(1)
                    break
            end = await c.expect("line_end", 60)
            await c.register_clip("still", DEMO / "video.mp4")
            await c.close()
        # disconnect: the client vanishes mid-line
        c2 = client(server)
        await c2.connect()
        ready2 = await c2.open({"*": DEMO / "voice.wav"}, max_takes=3)
        await c2.send_line(1, long_line, video=long_clip)
        await c2.expect("audio", 120)
        c2.ws.transport.abort()
        return ready.session, end, ready2.session

    s1, end, s2 = run(go())
    assert end.status == "cancelled" and end.line == 1
    h = wait_idle(server)
    assert h["sessions"] == 0
    for session in (s1, s2):
        log = open_log(server["cfg"].serving.log_dir / f"{session}.msgpack")
        ends = [item for _, item in log.read(log.select(types={"line_end"}))]
        assert [(e["line"], e["status"]) for e in ends] == [(1, "cancelled")]
        assert log.select(types={"closed"}) and log.problem is None
    log2 = open_log(server["cfg"].serving.log_dir / f"{s2}.msgpack")
    (_, closed), = log2.read(log2.select(types={"closed"}))  # fmt: skip
    assert closed["reason"] == "client disconnected"


def test_rest_dub_returns_a_wav(server):
    body = msgpack.packb(
        {
            "video": (DEMO / "video.mp4").read_bytes(),
            "voice": (DEMO / "voice.wav").read_bytes(),
            "text": LINE,
            "max_takes": 1,
            "sample_rate": 48000,
        },
        use_bin_type=True,
    )
    status, headers, wav = http(server, "/v1/dub", body)
    assert status == 200, wav
    audio, sr = sf.read(io.BytesIO(wav), dtype="float32")
    from perception.video import probe

    assert sr == 48000 and abs(len(audio) / sr - probe(DEMO / "video.mp4")["duration"]) < 0.3
    assert np.sqrt(np.mean(audio**2)) > 1e-3
    assert headers["X-Dubber-Session"]
    bad = msgpack.packb({"video": b"not a video", "voice": (DEMO / "voice.wav").read_bytes(), "text": "Hi."})
    status, _, err = http(server, "/v1/dub", bad)
    assert status == 400 and json.loads(err)["code"] == "bad_input"
    message = json.loads(err)["message"]
    assert "/tmp" not in message and "dubber-line-" not in message, message  # no server path reaches a client
    assert http(server, "/v1/dub", b"\xc1")[0] == 400


def test_rest_bodies_are_refused_by_length_before_they_are_read_and_no_schema_is_served(server):
    """A declared 300 MB body is refused at once, with nothing sent after the headers; a chunked body (no
    length) is refused as soon as it passes the limit; /openapi.json is off with the docs."""
    import socket
    from http.client import HTTPConnection

    host, port = "127.0.0.1", server["cfg"].serving.port
    with socket.create_connection((host, port), timeout=60) as sock:
        sock.sendall(
            b"POST /v1/dub HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
            + b"\r\nContent-Type: application/msgpack\r\nContent-Length: 300000000\r\n\r\n"
        )  # fmt: skip
        reply = b""
        while b"too_large" not in reply:  # the headers and the body may arrive in separate segments
            part = sock.recv(65536)
            if not part:
                break
            reply += part
        reply = reply.decode("latin-1")
    assert reply.startswith("HTTP/1.1 413") and "too_large" in reply

    conn = HTTPConnection(host, port, timeout=120)
    conn.putrequest("POST", "/v1/dub")
    conn.putheader("Authorization", f"Bearer {TOKEN}")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    chunk = b"\0" * (256 << 10)
    try:
        for _ in range(8):  # 2 MiB against the test server's 1 MiB limit
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may answer and close before the rest arrives
    answer = conn.getresponse()
    assert answer.status == 413 and json.loads(answer.read())["code"] == "too_large"
    conn.close()
    assert http(server, "/openapi.json")[0] == 404
    assert (
        http(server, "/v1/dub", b"\x80", token=TOKEN)[0] == 400
    )  # a small bad body is still read and refused


def test_client_command_and_logs_commands(server, tmp_path, capsys):
    from dubber.cli import main

    out = tmp_path / "out.wav"
    rc = main([
        "client", "--url", server["url"], "--token", TOKEN, "--video", str(DEMO / "video.mp4"), "--text", LINE,
        "--voice", str(DEMO / "voice.wav"), "--out", str(out), "--sample-rate", "24000", "--max-takes", "2",
        "--json",
    ])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["status"] == "done", report
    audio, sr = sf.read(out)
    assert sr == 24000 and len(audio) > sr and not list(tmp_path.glob("*.partial"))
    logs = ["logs", "--dir", str(server["cfg"].serving.log_dir)]
    assert main([*logs, "list", "--json"]) == 0
    listed = {s["session"]: s for s in json.loads(capsys.readouterr().out)}
    assert listed[report["session"]]["lines_ended"] == 1 and listed[report["session"]]["closed"]
    assert main([*logs, "show", report["session"], "--type", "review,accept", "--json"]) == 0
    shown = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert shown[-1]["type"] == "accept" and {s["type"] for s in shown} == {"review", "accept"}
    assert main([*logs, "tail", report["session"], "-n", "2"]) == 0
    assert "line_end" in capsys.readouterr().out
    wavs = tmp_path / "wavs"
    export = tmp_path / "export.json"
    assert main([*logs, "export", report["session"], "--out", str(export), "--wav", str(wavs)]) == 0
    exported, _ = sf.read(wavs / "line0001.wav")
    assert abs(len(exported) - len(audio)) <= 1  # the log holds the chosen take, chunk for chunk
    assert json.loads(export.read_text())["messages"]


def test_a_crash_loses_at_most_the_message_being_written(tmp_path):
    from ground.message_log import SessionLogWriter, open_log
    from ground.messages import ErrorMessage

    w = SessionLogWriter(tmp_path, "s1", durable=True)
    for i in range(5):
        w.append(ErrorMessage(session="s1", line=i, code="x", message=f"m{i}"))
    w.close()
    path = tmp_path / "s1.msgpack"
    data = path.read_bytes()
    path.write_bytes(data[:-3])  # the last frame half-written, its index record already there
    log = open_log(path)
    assert log.index_rebuilt and len(log.entries) == 4 and "truncated" in log.problem
    assert [f.message for _, f in log.frames()] == ["m0", "m1", "m2", "m3"]
    (tmp_path / "s1.index").unlink()
    assert [e.line for e in open_log(path).select(line=2)] == [2]


def test_every_frame_reaches_the_index_whatever_its_values(tmp_path):
    """Values the index cannot hold (a line past 32 bits, a negative take, a nested or missing type, a
    string timestamp) still give the frame its record; an index that misses a frame in the middle is
    noticed and rebuilt from the log."""
    import struct

    from ground.message_log import INDEX, SessionLogWriter, open_log

    odd = [
        {"type": "cancel", "session": "s2", "line": 2**31},
        {"type": "cancel", "session": "s2", "line": -(2**40), "take": -5},
        {"type": {"type": {"type": "x"}}, "session": "s2"},
        {"session": "s2", "ts": "yesterday", "line": True},
        {"type": "error", "session": "s2", "line": 7, "take": 70000, "ts": 1.5},
    ]
    w = SessionLogWriter(tmp_path, "s2", durable=False)
    for frame in odd:
        w.append(frame)
    w.close()
    log = open_log(tmp_path / "s2.msgpack")
    assert not log.index_rebuilt and len(log.entries) == len(odd)
    assert [item for _, item in log.read()] == odd  # the frames keep their values
    assert [e.line for e in log.entries] == [0, 0, 0, 0, 7]

    index = tmp_path / "s2.index"
    raw = index.read_bytes()
    index.write_bytes(raw[: INDEX.size] + raw[2 * INDEX.size :])  # the second record lost
    gap = open_log(tmp_path / "s2.msgpack")
    assert gap.index_rebuilt and len(gap.entries) == len(odd)
    assert struct.calcsize("<QIiHBd") == INDEX.size


def test_serve_refuses_a_public_address_without_a_token():
    from tests.conftest import run_dubber

    r = run_dubber("serve", "--host", "0.0.0.0", "--port", "8999", timeout=60)
    assert r.returncode == 2 and "without a bearer token" in r.stderr and "Traceback" not in r.stderr


def test_serve_stop_without_a_cluster_says_so():
    from tests.conftest import run_dubber

    r = run_dubber("serve", "--stop", "--address", f"127.0.0.1:{_free_port()}", timeout=60)
    assert r.returncode == 2 and "no Ray cluster answers" in r.stderr and "Traceback" not in r.stderr


# Last on purpose: it removes the module's app from its cluster.
def test_serve_stop_removes_the_app_and_leaves_the_cluster(server):
    import ray

    from tests.conftest import run_dubber

    gcs = ray.get_runtime_context().gcs_address
    assert health(server)["status"] == "ok"
    r = run_dubber("serve", "--stop", "--address", gcs, timeout=120)
    assert r.returncode == 0 and "stopped dubber" in r.stdout, r.stderr
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(server["http"] + "/healthz", timeout=5)
    # the cluster lives on, with the replicas' CPUs given back
    deadline = time.monotonic() + 30
    while ray.available_resources().get("CPU", 0) < ray.cluster_resources()["CPU"]:
        assert time.monotonic() < deadline, ray.available_resources()
        time.sleep(0.5)
    r = run_dubber("serve", "--stop", "--address", gcs, timeout=120)
    assert r.returncode == 0 and "not running" in r.stdout, r.stderr
