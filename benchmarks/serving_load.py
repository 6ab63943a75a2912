"""The serving app under load, against a server on loopback: first-chunk latency and RTF with 1, 2 and 4
concurrent sessions, memory of the running app, and a load run (about 200 lines over 4 sessions, clients
disconnecting at random) after which nothing may be missing from the logs and nothing may be left running.

    nice -n 19 .venv/bin/python benchmarks/serving_load.py --out runs/reports/serving-load
    nice -n 19 .venv/bin/python benchmarks/serving_load.py --url ws://127.0.0.1:8000/v1/session  # a running one

Without ``--url`` it starts ``dubber serve --num-cpus 2 --no-llm`` itself (its own Ray, log folder under
``--out``) and stops it at the end. ``--random-actor`` serves a freshly initialised actor of the configured
size when the shipped checkpoint does not load with the code here (speed is the architecture's; what it
says is noise). Latency: time from sending a line to its first audio chunk at the client; RTF: time from
sending to the line's end over the chosen take's duration (``--takes`` takes at most, 1 by default so the
number is one take's). Memory: resident set of the app's replicas (ingress, director, actor) and of Ray's own
processes, from ``/healthz`` and psutil. Writes ``serving_load.json`` in ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DEMO = REPO / "assets" / "demo"
LINES = [
    "I told you never to come back here.",
    "Fine. Then go, and do not look back.",
    "You really came all this way for me?",
    "Please, just tell me what happened.",
    "That is the best news I have heard all year!",
    "I cannot believe you would do that.",
    "Stay close to me, something is wrong.",
    "Well, look who finally decided to show up.",
]


def random_actor(path: Path) -> Path:
    """A freshly initialised actor of the configured size (the shipped one may not load mid-retrain)."""
    import soundfile as sf
    import torch

    from actors.acoustics import FeatureLayout, FeatureStats, extract_acoustics
    from actors.dataset import PhonemeVocabulary
    from actors.model import ActorHParams, ProgressiveGraphGenerator
    from perception.text import phonemize

    audio, sr = sf.read(DEMO / "voice.wav", dtype="float32")
    vocab = PhonemeVocabulary.build([phonemize(t) for t in LINES])
    torch.manual_seed(0)
    hp = ActorHParams(
        vocab_size=len(vocab),
        acoustic_dim=FeatureLayout().dim,
        audio_emotion_dim=94,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "model": ProgressiveGraphGenerator(hp).state_dict(),
            "hparams": hp.to_dict(),
            "vocab": vocab.symbols,
            "stats": FeatureStats.fit([extract_acoustics(audio, sr)]).to_dict(),
        },
        path,
    )
    return path


def health(http: str) -> dict:
    with urllib.request.urlopen(f"{http}/healthz", timeout=30) as r:
        return json.loads(r.read())


def wait_idle(http: str, timeout: float = 120) -> tuple[dict, float]:
    t0 = time.monotonic()
    while True:
        h = health(http)
        if not (h["sessions"] or h["lines_in_flight"] or h["director"]["running"] or h["actor"]["streams"]):
            return h, time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            return h, -1.0
        time.sleep(0.25)


def ray_memory(root_pid: int | None) -> dict:
    """Resident memory (MB) of the server process tree, by role."""
    import psutil

    if root_pid is None:
        return {}
    out: dict[str, float] = {}
    try:
        procs = [psutil.Process(root_pid), *psutil.Process(root_pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    for p in procs:
        try:
            cmd = " ".join(p.cmdline())
            rss = p.memory_info().rss / 2**20
        except psutil.Error:
            continue
        role = "other"
        for key in ("Ingress", "DirectorWorker", "ActorWorker", "ServeController", "ProxyActor", "raylet",
                    "gcs_server", "dubber serve", "log_monitor", "dashboard", "runtime_env"):  # fmt: skip
            if key in cmd:
                role = key
                break
        out[role] = round(out.get(role, 0.0) + rss, 1)
    out["total"] = round(sum(v for k, v in out.items()), 1)
    return out


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, int(round(q * (len(v) - 1))))], 3)


async def connect(url, token, takes: int, stats: dict):
    """A client with an open session; a session refused for the per-client limit (a vanished session of
    ours still winding down on the server) is retried."""
    from websockets.exceptions import ConnectionClosed

    from serving.client import DubbingClient, ServerError

    for _ in range(120):
        c = DubbingClient(url, token)
        await c.connect()
        try:
            return c, await c.open({"*": DEMO / "voice.wav"}, sample_rate=16000, max_takes=takes)
        except (ServerError, ConnectionClosed) as exc:
            if isinstance(exc, ServerError) and exc.code != "too_many_sessions":
                raise
            stats["refused_retried"] = stats.get("refused_retried", 0) + 1
            await c.disconnect()
            await asyncio.sleep(0.25)
    raise RuntimeError("the server kept refusing a new session")


async def session_run(url, token, lines: int, takes: int, outstanding: int, rng, disconnect_p: float,
                      stats: dict) -> None:  # fmt: skip
    """One client: opens sessions and sends ``lines`` lines over them, ``outstanding`` at a time;
    with probability ``disconnect_p`` per line it vanishes mid-line and comes back as a new session."""

    sent = 0
    while sent < lines:
        c, ready = await connect(url, token, takes, stats)
        rec = {"session": ready.session, "lines": {}, "disconnected": False}
        stats["sessions"].append(rec)
        await c.register_clip("demo", DEMO / "video.mp4")
        pending: dict[int, float] = {}
        line_no = 0
        doom = None  # the line during which this client will vanish
        while sent < lines or pending:
            while sent < lines and len(pending) < outstanding and doom is None:
                line_no += 1
                sent += 1
                await c.send_line(line_no, rng.choice(LINES), clip_id="demo", fit="speed")
                pending[line_no] = time.perf_counter()
                rec["lines"][line_no] = {"sent": pending[line_no], "chunks": 0, "frames": 0}
                if rng.random() < disconnect_p:
                    doom = (line_no, rng.choice(["sent", "first_chunk", "mid"]))
            if doom and doom[1] == "sent":
                break
            frame = await c.recv(300)
            n = getattr(frame, "line", 0)
            entry = rec["lines"].get(n)
            if entry is not None:
                entry["frames"] += 1
            if frame.type == "audio" and entry is not None:
                entry["chunks"] += 1
                entry.setdefault("first_chunk_s", time.perf_counter() - entry["sent"])
                if doom and doom[0] == n and (doom[1] == "first_chunk" or entry["chunks"] >= 6):
                    break
            elif frame.type == "line_end" and entry is not None:
                entry.update(status=frame.status, end_s=time.perf_counter() - entry["sent"],
                             duration_s=frame.duration_s, take=frame.chosen_take)  # fmt: skip
                pending.pop(n, None)
        if doom:
            rec["disconnected"] = True
            c.ws.transport.abort()
            stats["disconnects"] += 1
            await asyncio.sleep(0.1)
        else:
            await c.close()


async def latency_phase(
    url, token, sessions: int, lines: int, takes: int, log_dir: Path | None = None
) -> dict:
    stats = {"sessions": [], "disconnects": 0}
    rngs = [random.Random(100 + i) for i in range(sessions)]
    t0 = time.perf_counter()
    await asyncio.gather(*(session_run(url, token, lines, takes, 1, r, 0.0, stats) for r in rngs))
    wall = time.perf_counter() - t0
    done = [e for s in stats["sessions"] for e in s["lines"].values() if e.get("status") == "done"]
    first = [e["first_chunk_s"] for e in done if "first_chunk_s" in e]
    rtf = [e["end_s"] / e["duration_s"] for e in done if e.get("duration_s")]
    audio = sum(e["duration_s"] for e in done if e.get("duration_s"))
    return {
        "sessions": sessions, "lines": len(done), "first_chunk_p50_s": pct(first, 0.5),
        "first_chunk_breakdown_p50_s": stage_breakdown(log_dir, stats),
        "first_chunk_p95_s": pct(first, 0.95), "rtf_p50": pct(rtf, 0.5), "rtf_p95": pct(rtf, 0.95),
        "wall_s": round(wall, 1), "throughput_audio_s_per_s": round(audio / wall, 3),
    }  # fmt: skip


def stage_breakdown(log_dir: Path | None, stats: dict) -> dict:
    """Where a line's first-chunk latency goes, from the server's timestamps in the logs (median seconds):
    queue (line frame logged -> request: transport to the director, its thread pool), perception (request ->
    perception: voice prompt + perceiving the clip), direction (-> guidance: cues, fusion, fitting the line,
    the target's caption vectors), retrieval (-> references), actor (-> first audio chunk: encode + first
    chunk decoded and vocoded)."""
    from ground.message_log import open_log

    if log_dir is None:
        return {}
    steps = {"queue": ("line", "request"), "perception": ("request", "perception"),
             "direction": ("perception", "guidance"), "retrieval": ("guidance", "references"),
             "actor": ("references", "audio")}  # fmt: skip
    got: dict[str, list[float]] = {k: [] for k in steps}
    for rec in stats["sessions"]:
        path = log_dir / f"{rec['session']}.msgpack"
        if not path.is_file():
            continue
        log = open_log(path)
        first: dict[tuple[int, str], float] = {}
        for e in log.entries:
            if e.take <= 1:
                first.setdefault((e.line, e.type), e.ts)
        for n in rec["lines"]:
            for name, (a, b) in steps.items():
                if (n, a) in first and (n, b) in first:
                    got[name].append(first[(n, b)] - first[(n, a)])
    return {k: pct(v, 0.5) for k, v in got.items()}


def check_logs(log_dir: Path, stats: dict) -> dict:
    """Every line a client sent has its frames in the log and exactly one line_end; the log agrees with
    what the client received for the lines it saw end; no log is damaged."""
    from ground.message_log import open_log

    problems = []
    counted = {"sessions": 0, "lines": 0, "messages": 0, "audio_chunks": 0, "cancelled": 0, "done": 0}
    for rec in stats["sessions"]:
        path = log_dir / f"{rec['session']}.msgpack"
        if not path.is_file():
            problems.append(f"{rec['session']}: no log")
            continue
        log = open_log(path)
        counted["sessions"] += 1
        counted["messages"] += len(log.entries)
        if log.problem:
            problems.append(f"{rec['session']}: damaged: {log.problem}")
        logged_lines = [e.line for e in log.select(types={"line"})]
        ends: dict[int, list] = {}
        for e, item in log.read(log.select(types={"line_end"})):
            ends.setdefault(e.line, []).append(item["status"])
        for n, entry in rec["lines"].items():
            counted["lines"] += 1
            if n not in logged_lines:
                problems.append(f"{rec['session']} line {n}: sent, not logged")
            if len(ends.get(n, [])) != 1:
                problems.append(f"{rec['session']} line {n}: {len(ends.get(n, []))} line_end in the log")
                continue
            status = ends[n][0]
            counted[status] = counted.get(status, 0) + 1
            if "status" in entry:  # the client saw it end: the log has every frame it got
                logged = len(log.select(line=n, types={"audio"}))
                counted["audio_chunks"] += logged
                if entry["status"] != status or logged != entry["chunks"]:
                    problems.append(
                        f"{rec['session']} line {n}: client {entry['status']}/{entry['chunks']} chunks, "
                        f"log {status}/{logged}"
                    )
        if not log.select(types={"closed"}):
            problems.append(f"{rec['session']}: no closed frame")
    return {"checked": counted, "problems": problems}


async def load_phase(url, token, http, log_dir, lines: int, sessions: int, takes: int, p: float) -> dict:
    before, _ = wait_idle(http)
    stats = {"sessions": [], "disconnects": 0}
    per = [lines // sessions + (1 if i < lines % sessions else 0) for i in range(sessions)]
    t0 = time.perf_counter()
    await asyncio.gather(
        *(session_run(url, token, n, takes, 2, random.Random(7 + i), p, stats) for i, n in enumerate(per))
    )
    wall = time.perf_counter() - t0
    after, settle = wait_idle(http)
    done = [e for s in stats["sessions"] for e in s["lines"].values() if e.get("status") == "done"]
    first = [e["first_chunk_s"] for e in done if "first_chunk_s" in e]
    logs = check_logs(log_dir, stats) if log_dir else {"checked": {}, "problems": ["no log folder given"]}
    same_pids = all(before[k]["pid"] == after[k]["pid"] for k in ("ingress", "director", "actor"))
    return {
        "lines_sent": sum(len(s["lines"]) for s in stats["sessions"]), "client_sessions": len(stats["sessions"]),
        "disconnects": stats["disconnects"], "refused_retried": stats.get("refused_retried", 0),
        "lines_done_seen": len(done), "wall_s": round(wall, 1),
        "first_chunk_p50_s": pct(first, 0.5), "first_chunk_p95_s": pct(first, 0.95),
        "settled_in_s": round(settle, 2), "left_running": {k: after[k] for k in ("sessions", "lines_in_flight")}
        | {"director_threads_busy": after["director"]["running"], "actor_streams": after["actor"]["streams"]},
        "ingress_tasks": [before["ingress"]["tasks"], after["ingress"]["tasks"]],
        "threads": {k: [before[k]["threads"], after[k]["threads"]] for k in ("ingress", "director", "actor")},
        "rss_mb": {k: [before[k]["rss_mb"], after[k]["rss_mb"]] for k in ("ingress", "director", "actor")},
        "replicas_restarted": not same_pids, "logs": logs,
    }  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running server's websocket; default: start one here")
    ap.add_argument("--token")
    ap.add_argument("--log-dir", type=Path, help="the running server's serving.log_dir (to check its logs)")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "reports" / "serving-load")
    ap.add_argument("--random-actor", action="store_true")
    ap.add_argument("--concurrency", default="1,2,4")
    ap.add_argument("--latency-lines", type=int, default=4, help="lines per session in each latency run")
    ap.add_argument("--load-lines", type=int, default=200)
    ap.add_argument("--load-sessions", type=int, default=4)
    ap.add_argument("--disconnect-p", type=float, default=0.08)
    ap.add_argument("--takes", type=int, default=1)
    ap.add_argument("--skip-load", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    server = None
    log_dir = args.log_dir
    url = args.url
    try:
        if url is None:
            env = dict(os.environ, RAY_AUTH_MODE="disabled", DUBBER_SERVING__LOG_DIR=str(args.out / "logs"))
            log_dir = args.out / "logs"
            if args.random_actor:
                from actors.voice import Actor

                try:
                    Actor.load()
                except Exception as exc:
                    print(
                        f"shipped actor does not load ({type(exc).__name__}); serving a random one",
                        flush=True,
                    )
                    env["DUBBER_ACTOR__CHECKPOINT"] = str(random_actor(args.out / "random_actor.pt"))
            exe = Path(sys.executable).parent / "dubber"
            cmd = [str(exe), "serve", "--num-cpus", "2", "--no-llm", "--port", str(args.port)]
            server_log = (args.out / "server.log").open("w")  # noqa: SIM115 -- held for the server's life
            server = subprocess.Popen(
                cmd, env=env, stdout=server_log, stderr=subprocess.STDOUT, start_new_session=True
            )
            url = f"ws://127.0.0.1:{args.port}/v1/session"
            t0 = time.monotonic()
            while True:
                try:
                    health(f"http://127.0.0.1:{args.port}")
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() - t0 > 1200:
                        raise SystemExit(
                            f"the server did not come up; see {args.out / 'server.log'}"
                        ) from None
                    time.sleep(1)
            print(f"server up in {time.monotonic() - t0:.1f} s", flush=True)
        http = url.replace("ws://", "http://").rsplit("/v1/", 1)[0]
        result: dict = {
            "url": url,
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "takes": args.takes,
        }
        # warm-up: the first line loads lazily what the replicas did not load at start
        asyncio.run(latency_phase(url, args.token, 1, 1, args.takes))
        result["memory_idle_mb"] = {
            "replicas": {k: health(http)[k]["rss_mb"] for k in ("ingress", "director", "actor")},
            "process_tree": ray_memory(server.pid if server else None),
        }
        result["latency"] = []
        for n in [int(x) for x in args.concurrency.split(",")]:
            r = asyncio.run(latency_phase(url, args.token, n, args.latency_lines, args.takes, log_dir))
            print(json.dumps(r), flush=True)
            result["latency"].append(r)
        if not args.skip_load:
            result["load"] = asyncio.run(
                load_phase(
                    url,
                    args.token,
                    http,
                    log_dir,
                    args.load_lines,
                    args.load_sessions,
                    args.takes,
                    args.disconnect_p,
                )  # fmt: skip
            )
            result["memory_after_load_mb"] = ray_memory(server.pid if server else None)
        text = json.dumps(result, indent=1)
        print(text)
        (args.out / "serving_load.json").write_text(text + "\n")
        problems = result.get("load", {}).get("logs", {}).get("problems", [])
        return 1 if problems else 0
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
