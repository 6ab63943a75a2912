"""Batch localisation (``dubber localize``) on real components: subtitles and voices parsing and their
errors; a synthetic film (clips rendered by the corpus code) dubbed end to end by the CLI on a local Ray,
killed mid-job and resumed; and a job on a real two-node Ray cluster (``ray.cluster_utils.Cluster`` on
loopback) whose worker node is removed mid-job, checking that every line lands exactly once.

The director runs without the LLM, one take per line; the actor is the shipped checkpoint and the library a
copy of the shipped one. Throughput is measured by ``benchmarks/localize_throughput.py``, not here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ground.errors import BadInputError
from tests.conftest import REPO

DEMO = REPO / "assets" / "demo"
FPS, SR = 25, 16000


# -- parsing and bad input (no Ray) ----------------------------------------------------------------------------
def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_subtitle_lines_with_speaker_tags_srt_and_vtt(tmp_path):
    from localization.subtitles import read_subtitle_lines

    srt = _write(tmp_path / "a.srt", "1\n00:00:00,500 --> 00:00:02,000\n[ANNA] Get out!\n\n"
                 "2\n00:00:02,500 --> 00:00:03,250\nBo Ray: Fine, fine.\n\n"
                 "3\n00:00:04,000 --> 00:00:05,000\nno tag at all\n")  # fmt: skip
    lines = read_subtitle_lines(srt, DEMO / "video.mp4")
    assert [(ln.id, ln.character, ln.text) for ln in lines] == [
        ("l0001", "ANNA", "Get out!"), ("l0002", "Bo Ray", "Fine, fine."), ("l0003", None, "no tag at all")
    ]  # fmt: skip
    assert (lines[1].start_s, lines[1].end_s) == (2.5, 3.25)
    vtt = _write(tmp_path / "b.vtt", "WEBVTT\n\n00:01.000 --> 00:02.500\n<v Anna>Hello <i>there</i></v>\n")
    (line,) = read_subtitle_lines(vtt, DEMO / "video.mp4")
    assert (line.character, line.text, line.start_s, line.end_s) == ("Anna", "Hello there", 1.0, 2.5)


def test_broken_subtitles_name_the_problem_and_line(tmp_path):
    from localization.subtitles import read_subtitle_lines

    bad = _write(
        tmp_path / "bad.srt", "1\n00:00:00,500 --> 00:00:02,000\nok\n\n2\n00:00:03,0 -> 00:00:04\nbad\n"
    )
    with pytest.raises(BadInputError, match="line 5"):
        read_subtitle_lines(bad, DEMO / "video.mp4")
    with pytest.raises(BadInputError, match="no subtitle cues"):
        read_subtitle_lines(_write(tmp_path / "empty.srt", "\n\n"), DEMO / "video.mp4")
    with pytest.raises(BadInputError, match="srt or .vtt"):
        read_subtitle_lines(_write(tmp_path / "x.txt", "hi"), DEMO / "video.mp4")


def test_manifest_lines_and_errors(tmp_path):
    from localization.subtitles import read_manifest

    shutil.copy(DEMO / "video.mp4", tmp_path / "clip.mp4")
    m = _write(tmp_path / "lines.jsonl", json.dumps({"video": "clip.mp4", "text": "Hi.", "character": "ANNA"})
               + "\n\n" + json.dumps({"video": "clip.mp4", "text": "Go.", "start_s": 0.5, "end_s": 2}) + "\n")  # fmt: skip
    a, b = read_manifest(m)
    assert (a.id, a.film, a.start_s, Path(a.video)) == ("clip-l0001", "clip", None, (tmp_path / "clip.mp4"))
    assert (b.id, b.number, b.start_s, b.end_s) == ("clip-l0002", 3, 0.5, 2.0)
    with pytest.raises(BadInputError, match="line 2 is not JSON"):
        read_manifest(_write(tmp_path / "bad.jsonl", '{"video": "clip.mp4", "text": "x"}\n{oops\n'))
    with pytest.raises(BadInputError, match="line 1: give both"):
        read_manifest(_write(tmp_path / "half.jsonl", '{"video": "clip.mp4", "text": "x", "start_s": 1}\n'))


def _tone(path: Path, seconds: float, amplitude: float = 0.3) -> Path:
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, (amplitude * np.sin(2 * np.pi * 180 * t)).astype(np.float32), SR)
    return path


def test_plan_refuses_bad_voices_and_video_and_records_spans_outside_the_film(tmp_path):
    from localization.runner import plan_job
    from localization.subtitles import read_subtitle_lines

    shutil.copy(DEMO / "voice.wav", tmp_path / "anna.wav")
    _tone(tmp_path / "short.wav", 0.4)
    sf.write(tmp_path / "silent.wav", np.zeros(SR * 2, np.float32), SR)
    srt = _write(tmp_path / "s.srt", "1\n00:00:00,200 --> 00:00:01,500\n[ANNA] One.\n\n"
                 "2\n00:00:01,600 --> 00:00:03,000\n[BO] Two.\n\n"
                 "3\n00:00:09,000 --> 00:00:10,000\n[ANNA] Too late.\n")  # fmt: skip
    lines = read_subtitle_lines(srt, DEMO / "video.mp4")
    voices = _write(tmp_path / "voices.yaml", "ANNA: anna.wav\nCY: anna.wav\n")
    with pytest.raises(BadInputError, match=r"no voice for 'BO'.*it knows: ANNA, CY"):
        plan_job(lines, voices, "t")
    for prompt, problem in (("short.wav", "too short"), ("silent.wav", "silent"), ("nope.wav", "not found")):
        voices = _write(tmp_path / "v2.yaml", f"ANNA: anna.wav\nBO: {prompt}\n")
        with pytest.raises(BadInputError, match=rf"voice prompt of 'BO'.*{problem}"):
            plan_job(lines, voices, "t")
    voices = _write(tmp_path / "v3.yaml", "ANNA: anna.wav\n'*': anna.wav\n")
    plan = plan_job(lines, voices, "t")
    assert list(plan.refused) == ["l0003"] and "outside the film" in plan.refused["l0003"]
    assert plan.voice_of["l0002"].endswith("::*")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x01 not a video" * 100)
    with pytest.raises(BadInputError, match="corrupt.mp4: cannot read this file as a video"):
        plan_job(read_subtitle_lines(srt, corrupt), voices, "t")
    with pytest.raises(BadInputError, match="video file not found"):
        plan_job(read_subtitle_lines(srt, tmp_path / "missing.mp4"), voices, "t")


# -- end to end ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def film(tmp_path_factory) -> dict:
    """A 5-line synthetic film (3 characters, flite voices) with subtitles, voices.yaml and an M&E track."""
    from localization.film import make_film

    return make_film(tmp_path_factory.mktemp("film"), lines=5, seed=11, workers=2)


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("lib") / "library"
    shutil.copytree(REPO / "assets" / "library", path)
    return str(path)


def _env(library: str) -> dict:
    return {
        **os.environ,
        "DUBBER_LIBRARY__DB_URI": library,
        "HF_HUB_OFFLINE": "1",
        "RAY_AUTH_MODE": "disabled",
    }


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the job and everything it started (its local Ray: gcs, raylet, workers), by pid."""
    import psutil

    try:
        parent = psutil.Process(proc.pid)
        family = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    for p in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.send_signal(signal.SIGKILL)
    psutil.wait_procs(family, timeout=30)


def _check_every_line_once(out: Path, film: dict, job: str, expect_done: list[str]) -> dict:
    """Each done line: a done state, one wav, one complete log (one line_end), no temp files left; the
    dialogue track holds each line's wav exactly once at its timecode and nothing elsewhere."""
    from ground.message_log import open_log
    from localization.media import frame_span
    from localization.subtitles import read_subtitle_lines

    lines = {ln.id: ln for ln in read_subtitle_lines(film["subs"], film["video"])}
    report = json.loads((out / "report.json").read_text())
    done = [r["id"] for r in report["per_line"] if r["status"] == "done"]
    assert done == expect_done
    assert sorted(p.stem for p in (out / "lines").glob("*.wav")) == expect_done
    logs = sorted(p.stem for p in (out / "logs").glob("*.msgpack"))
    assert logs == [f"{job}-{i}" for i in expect_done]
    assert not list((out / "logs" / ".tries").glob("*")), "a half-written log was left behind"
    assert not [p for p in out.rglob(".*.tmp")], "a temporary file was left behind"
    dialogue, sr = sf.read(out / "film.dialogue.wav", dtype="float32")
    assert sr == SR and len(dialogue) == int(round(film["seconds"] * SR))
    covered = np.zeros(len(dialogue), bool)
    for line_id in expect_done:
        state = json.loads((out / "state" / f"{line_id}.json").read_text())
        assert state["status"] == "done"
        log = open_log(out / state["result"]["log"])
        assert log.problem is None
        assert len(log.select(types={"line_end"})) == 1 and len(log.select(types={"accept"})) == 1
        assert {e.line for e in log.select(types={"request", "guidance", "accept"})} == {
            lines[line_id].number
        }
        wav, _ = sf.read(out / "lines" / f"{line_id}.wav", dtype="float32")
        a, b = frame_span(lines[line_id].start_s, lines[line_id].end_s, FPS)
        assert len(wav) == (b - a) * SR // FPS  # the dubbed line fills its span exactly
        start = a * SR // FPS
        np.testing.assert_allclose(dialogue[start : start + len(wav)], wav, atol=1e-6)
        assert np.sqrt(np.mean(wav**2)) > 1e-3
        covered[start : start + len(wav)] = True
    assert not np.any(dialogue[~covered]), "sound outside the dubbed lines"
    return report


def test_localize_cli_end_to_end_killed_and_resumed(film, library, tmp_path):
    from perception.video import probe, read_audio_track

    late = f"\n6\n00:10:00,000 --> 00:10:02,000\n[{film['characters'][0]}] After the end.\n"
    srt = Path(film["subs"]).read_text() + late
    subs = _write(tmp_path / "film.srt", srt)
    out = tmp_path / "job"
    exe = Path(sys.executable).parent / "dubber"
    cmd = [str(exe), "localize", "--video", film["video"], "--subs", str(subs), "--voices", film["voices"],
           "--me", film["me"], "--out", str(out), "--num-cpus", "2", "--no-progress"]  # fmt: skip
    # first run: killed (SIGKILL, with its Ray) as soon as a line has landed
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=_env(library), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.time() + 400
    try:
        while time.time() < deadline and proc.poll() is None:
            states = (
                [json.loads(p.read_text()) for p in (out / "state").glob("l*.json")] if out.is_dir() else []
            )
            if any(s["status"] == "done" for s in states):
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
    finally:
        _kill_tree(proc)
    first = {p.stem: json.loads(p.read_text()) for p in (out / "state").glob("l*.json")}
    done_first = sorted(k for k, s in first.items() if s["status"] == "done")
    assert 1 <= len(done_first) < 5
    job = json.loads((out / "job.json").read_text())
    assert job["running"] is True and job["kind"] == "localization"  # as the kill left it

    r = subprocess.run(
        [*cmd, "--json"], cwd=REPO, env=_env(library), capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 1, r.stderr[-3000:]  # one line failed (outside the film), the rest are done
    summary = json.loads(r.stdout)
    assert (summary["done"], summary["failed"], summary["skipped_already_done"]) == (5, 1, len(done_first))
    assert summary["dubbed_this_run"] == 5 - len(done_first)
    assert (
        "failed l0006: line 6 (600.00-602.00 s): the span 600.00-602.00 s lies outside the film" in r.stderr
    )
    for line_id in done_first:  # the lines done before were not redone
        assert json.loads((out / "state" / f"{line_id}.json").read_text()) == first[line_id]
    report = _check_every_line_once(out, film, "film", [f"l000{i}" for i in range(1, 6)])
    for row in report["per_line"][:5]:
        assert row["emotion"] and row["takes"] == 1 and set(row["scores"]) >= {"speaker_similarity"}
        assert set(row["stages"]) == {"perception", "direction", "speech"}
    info = probe(out / "film.dubbed.mp4")
    assert info["has_video"] and info["has_audio"] and abs(info["duration"] - film["seconds"]) < 0.15
    audio, sr = read_audio_track(out / "film.dubbed.mp4")
    assert np.sqrt(np.mean(audio**2)) > 0.01  # dialogue over the music-and-effects bed
    job = json.loads((out / "job.json").read_text())
    assert job["running"] is False and job["state"] == {"lines": 6, "done": 5, "failed": 1, "pending": 0}
    assert [ln["session"] for ln in job["lines"]][:2] == ["film-l0001", "film-l0002"]
    # a third run has nothing to dub: it rebuilds the mix from what is done and starts no Ray
    r = subprocess.run(
        [*cmd, "--json"], cwd=REPO, env=_env(library), capture_output=True, text=True, timeout=300
    )
    assert json.loads(r.stdout)["dubbed_this_run"] == 0


def test_cluster_job_survives_losing_a_worker_node(film, library, tmp_path):
    """A job given as a manifest, on a head and a worker node (two raylets on loopback). Once a line has
    landed, the worker node is removed (its raylet and every worker process on it die) just after a line
    was handed to its perception actor; the job retries what it lost on the head, and every line lands
    exactly once."""
    import ray
    from ray.cluster_utils import Cluster

    from ground.config import get_config, set_config
    from localization.runner import plan_job, run_job
    from localization.subtitles import read_manifest, read_subtitle_lines

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    old = get_config()
    lc = old.localization.model_copy(update={"perception_workers": 2, "perception_cpus": 0.5, "max_in_flight": 1,
                                             "director_cpus": 0.5, "speech_cpus": 0.5, "max_tries": 3})  # fmt: skip
    set_config(old.model_copy(update={"localization": lc,
                                      "library": old.library.model_copy(update={"db_uri": library})}))  # fmt: skip
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    worker = cluster.add_node(num_cpus=2)
    seen = {"placed": None, "done": 0}
    kill_now = threading.Event()

    def events(kind: str, info) -> None:
        if kind == "placed":
            seen["placed"] = info
        elif kind == "ended":
            seen["done"] += int(info["ok"])
        elif kind == "submitted" and seen["done"] >= 1:
            node = seen["placed"]["perceivers"][info["perceiver"]]
            if worker.node_id.startswith(node):
                kill_now.set()  # a line has just gone to the worker node: its perception is under way

    try:
        ray.init(address=cluster.address, logging_level="WARNING", log_to_driver=False)
        cluster.wait_for_nodes()
        # the lines as a manifest (the many-films form of a job): the film's cues, one JSON object each
        manifest = tmp_path / "cluster-film.jsonl"
        manifest.write_text("".join(json.dumps({"id": ln.id, "film": "film", "video": ln.video, "text": ln.text,
                                                "character": ln.character, "start_s": ln.start_s,
                                                "end_s": ln.end_s}) + "\n"
                                    for ln in read_subtitle_lines(film["subs"], film["video"])))  # fmt: skip
        plan = plan_job(read_manifest(manifest), film["voices"], manifest.stem)
        out = tmp_path / "job"
        box: dict = {}
        thread = threading.Thread(target=lambda: box.update(
            result=run_job(plan, out, progress=False, timeout_s=300, events=events)))  # fmt: skip
        thread.start()
        deadline = time.time() + 400
        while not kill_now.wait(timeout=0.2) and thread.is_alive() and time.time() < deadline:
            pass
        assert kill_now.is_set(), f"no line went to the worker node after the first landed: {seen}"
        cluster.remove_node(worker, allow_graceful=False)
        thread.join(timeout=500)
        assert not thread.is_alive(), "the job did not finish after losing a node"
        result = box["result"]
        assert (result.done, result.failed) == (5, 0)
        report = _check_every_line_once(out, film, "cluster-film", [f"l000{i}" for i in range(1, 6)])
        errors = [t["error"] for row in report["per_line"] for t in row["tries"]]
        assert errors and all("worker lost" in e for e in errors), errors  # the lost node's lines, retried
        assert all(len(row["tries"]) < 3 for row in report["per_line"])
    finally:
        set_config(old)
        ray.shutdown()
        cluster.shutdown()
