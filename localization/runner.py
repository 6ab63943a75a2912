"""One localisation job end to end: plan and check the inputs, cut the lines, dub them on the Ray stages,
write each result as it lands, then rebuild every film's mix from what is done.

``plan_job`` refuses bad input before any work, with one line naming the problem: a missing or corrupt
video, subtitles with no cues or a broken timecode (with its line number), a character with no voice (named,
with the ones the voices file knows), an unusable voice prompt. A line whose span lies outside its film is
recorded as failed with that reason and the others go on. ``run_job`` is resumable (``localization.job``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ground.errors import BadInputError
from ground.files import atomic_write_bytes, atomic_write_json, replacing
from localization.job import JobFolder, LineState, file_digest, fingerprint
from localization.subtitles import LineSpec, safe_id, span_problem

log = logging.getLogger(__name__)


@dataclass
class Film:
    name: str
    video: str
    seconds: float
    fps: float | None
    me_track: str | None = None


@dataclass
class JobPlan:
    job_id: str
    lines: list[LineSpec]
    films: dict[str, Film]
    prompts: dict[str, np.ndarray]  # voice key ("<voices file>::<character>") -> checked audio
    voice_of: dict[str, str]  # line id -> voice key
    fingerprints: dict[str, str]
    refused: dict[str, str] = field(default_factory=dict)  # line id -> why it cannot be dubbed
    language: str | None = None
    fit: str = "speed"
    source: dict = field(default_factory=dict)


def _video_key(path: str) -> str:
    """Size plus the first and last MiB: cheap on a two-hour film, and any re-encode changes it."""
    import hashlib

    p = Path(path)
    size = p.stat().st_size
    h = hashlib.sha1(str(size).encode())
    with p.open("rb") as f:
        h.update(f.read(1 << 20))
        f.seek(max(0, size - (1 << 20)))
        h.update(f.read(1 << 20))
    return h.hexdigest()[:16]


def plan_job(
    lines: list[LineSpec],
    voices: str | Path | None,
    job_id: str,
    me_track: str | Path | None = None,
    language: str | None = None,
    fit: str = "speed",
    source: dict | None = None,
) -> JobPlan:
    from ground.config import get_config
    from localization.media import film_info
    from localization.voices import VoiceBook

    cfg = get_config()
    sr = cfg.media.sample_rate
    films: dict[str, Film] = {}
    for line in lines:
        if line.film not in films:
            info = film_info(line.video)  # missing, empty, corrupt: BadInputError naming the file
            films[line.film] = Film(line.film, line.video, float(info["duration"]), info.get("fps"))
        elif films[line.film].video != line.video:
            raise BadInputError(
                f"film {line.film!r} names two videos ({films[line.film].video}, {line.video})"
            )
    if me_track is not None:
        if len(films) != 1:
            raise BadInputError('--me goes with one film; give each film\'s track in the manifest ("me")')
        next(iter(films.values())).me_track = str(Path(me_track).resolve())
    for line in lines:
        if line.me and films[line.film].me_track not in (None, line.me):
            raise BadInputError(f"film {line.film!r} names two music-and-effects tracks")
        films[line.film].me_track = films[line.film].me_track or line.me
    from localization.media import load_me_track

    for film in films.values():
        if film.me_track:
            load_me_track(film.me_track, sr)  # checked now, not after the whole film is dubbed

    books: dict[str, VoiceBook] = {}
    for line in lines:
        path = line.voices or voices
        if path is None:
            raise BadInputError(f"{line.where} has no voices file", hint="give --voices voices.yaml")
        if str(path) not in books:
            books[str(path)] = VoiceBook.load(path)
    for path, book in books.items():
        book.check_covers([ln.character for ln in lines if str(ln.voices or voices) == path],
                          source.get("subs") if source else path)  # fmt: skip

    prompts: dict[str, np.ndarray] = {}
    digests: dict[str, str] = {}
    voice_of: dict[str, str] = {}
    for line in lines:
        book = books[str(line.voices or voices)]
        key = book.key_for(line.character)
        vkey = f"{book.source}::{key}"
        if vkey not in prompts:
            prompts[vkey] = book.load_prompt(key, sr)  # silent, too short, unreadable: BadInputError
            digests[vkey] = file_digest(book.prompts[key])
        voice_of[line.id] = vkey
    video_keys = {name: _video_key(f.video) for name, f in films.items()}
    refused = {}
    for line in lines:
        why = span_problem(line, films[line.film].seconds, cfg.localization.min_line_seconds)
        if why:
            refused[line.id] = f"{line.where}: {why}"
    fps = {line.id: fingerprint(line, digests[voice_of[line.id]], video_keys[line.film]) for line in lines}
    return JobPlan(
        safe_id(job_id), lines, films, prompts, voice_of, fps, refused, language, fit, source or {}
    )


# -- writing a line's outcome -------------------------------------------------------------------------------
def write_line_log(folder: JobFolder, line: LineSpec, try_no: int, result: dict, job_id: str) -> Path:
    """The line's messages as a session log (``ground.message_log`` format), written aside, then renamed in."""
    from ground.message_log import SessionLogWriter
    from ground.protocol import ClosedFrame, LineEnd, LoggedOpen

    session = folder.session_id(line.id)
    tries = folder.logs_dir / ".tries"
    for suffix in (".msgpack", ".index"):
        (tries / f"{session}{suffix}").unlink(missing_ok=True)
    w = SessionLogWriter(tries, session, durable=False)
    try:
        first_ts = min((m.get("ts") or time.time() for m in result["messages"]), default=time.time())
        w.append(LoggedOpen(session=session, ts=first_ts, name=f"{job_id} {line.id} (try {try_no})",
                            client="localize", sample_rate=result["sample_rate"], max_takes=result["takes"],
                            voices={line.character or "*": result.get("prompt_seconds", 0.0)}))  # fmt: skip
        for frame in result["messages"]:
            w.append(frame)
        w.append(LineEnd(session=session, line=line.number, status="done", chosen_take=result["chosen_take"],
                         takes=result["takes"], duration_s=round(len(result["audio"]) / result["sample_rate"], 3),
                         seconds=round(sum(result["stages"].values()), 3), warnings=result["warnings"]))  # fmt: skip
        w.append(ClosedFrame(session=session, lines=1, reason="batch line done"))
    finally:
        w.close()
    final = folder.log_path(line.id)
    for suffix in (".index", ".msgpack"):  # the index first: a visible log always has its index
        src = tries / f"{session}{suffix}"
        with src.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(src, final.with_suffix(suffix))
    return final


def record_done(
    folder: JobFolder, plan: JobPlan, line: LineSpec, result: dict, tries: list[dict]
) -> LineState:
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, result["audio"], result["sample_rate"], format="WAV", subtype="PCM_16")
    atomic_write_bytes(folder.wav_path(line.id), buf.getvalue(), durable=True)
    result["prompt_seconds"] = round(len(plan.prompts[plan.voice_of[line.id]]) / result["sample_rate"], 2)
    log_path = write_line_log(folder, line, len(tries) + 1, result, plan.job_id)
    keep = ("emotion", "intensity", "direction", "takes", "chosen_take", "scores", "warnings", "references",
            "stages", "cpu_seconds", "workers", "sample_rate")  # fmt: skip
    state = LineState(
        line.id, "done", plan.fingerprints[line.id], tries,
        {"wav": str(folder.wav_path(line.id).relative_to(folder.root)),
         "log": str(log_path.relative_to(folder.root)),
         "audio_seconds": round(len(result["audio"]) / result["sample_rate"], 3),
         "finished": time.time(), **{k: result[k] for k in keep}},
    )  # fmt: skip
    folder.write_state(state)  # the commit point
    return state


# -- the job ------------------------------------------------------------------------------------------------
@dataclass
class JobResult:
    done: int
    failed: int
    skipped: int
    report: dict
    outputs: dict[str, str]


def cut_lines(folder: JobFolder, plan: JobPlan, todo: list[LineSpec], progress: bool) -> None:
    """Each line's span as its own small mp4 (a cache in ``work/clips``), one decode pass per film."""
    from tqdm import tqdm

    from ground.config import get_config
    from localization.media import cut_spans, frame_span

    fps = get_config().media.fps
    need = [ln for ln in todo if ln.start_s is not None and not folder.clip_path(ln.id).is_file()]
    if not need:
        return
    bar = tqdm(
        total=len(need), desc="cutting", unit="line", disable=not progress, dynamic_ncols=True, leave=False
    )
    for film in sorted({ln.film for ln in need}):
        spans = {ln.id: frame_span(ln.start_s, ln.end_s, fps) for ln in need if ln.film == film}
        cut_spans(plan.films[film].video, spans, folder.clip_path, fps, on_done=lambda _: bar.update(1))
    bar.close()


def run_job(plan: JobPlan, out: str | Path, progress: bool = True, timeout_s: float | None = None,
            ensure_ray=lambda: None, events=None) -> JobResult:  # fmt: skip
    """Dub every line not already done, then mix and report. ``ensure_ray`` is called (to start or join
    Ray) only when there is a line to dub; ``events(kind, info)`` hears "placed" (each stage actor's node),
    "submitted" and "ended" (a try of a line)."""
    import ray
    from tqdm import tqdm

    from ground.config import get_config
    from localization.pipeline import Dispatcher, describe_failure, placement, start_stages, stop_stages

    cfg = get_config()
    lc = cfg.localization
    folder = JobFolder(out, plan.job_id)
    folder.clean_temporaries()
    by_id = {ln.id: ln for ln in plan.lines}
    states: dict[str, LineState] = {}
    skipped = 0
    for line in plan.lines:
        if folder.is_done(line.id, plan.fingerprints[line.id]):
            states[line.id] = folder.read_state(line.id)
            skipped += 1
    for line_id, why in plan.refused.items():
        if line_id not in states:
            states[line_id] = LineState(line_id, "failed", plan.fingerprints[line_id],
                                        [{"try": 0, "error": why, "at": time.time()}])  # fmt: skip
            folder.write_state(states[line_id])
    todo = [ln for ln in plan.lines if ln.id not in states]
    t_start = time.time()
    write_job_doc(folder, plan, states, t_start, running=True)
    log.info("%d lines: %d done before, %d refused, %d to dub", len(plan.lines), skipped,
             len(plan.refused), len(todo))  # fmt: skip

    tries: dict[str, list[dict]] = {ln.id: [] for ln in todo}
    # a failed line from an earlier run is retried with a fresh budget, its earlier reasons kept
    for ln in todo:
        old = folder.read_state(ln.id)
        if old and old.status == "failed":
            tries[ln.id] = [{**t, "earlier_run": True} for t in old.tries]
    queue = list(todo)
    bar = tqdm(total=len(plan.lines), initial=len(states), desc="localize", unit="line", disable=not progress,
               dynamic_ncols=True)  # fmt: skip
    counts = {"done": sum(s.status == "done" for s in states.values()),
              "failed": sum(s.status == "failed" for s in states.values())}  # fmt: skip
    bar.set_postfix(counts)
    dubbed_this_run: list[dict] = []
    timings = {"cut_s": 0.0, "driver_write_s": 0.0}
    if queue:
        ensure_ray()
        prompt_refs = {k: ray.put(v) for k, v in plan.prompts.items()}
        emit = events or (lambda kind, info: None)
        stages = start_stages(cfg)  # the actors load their models while the film is cut
        dispatcher = Dispatcher(stages, len(stages.perceivers) * lc.max_in_flight, timeout_s, emit)
        last_doc = 0.0
        try:
            t_cut = time.time()
            cut_lines(folder, plan, todo, progress)
            timings["cut_s"] = round(time.time() - t_cut, 3)
            placed = placement(stages)
            log.info("stages on nodes: %s", {k: sorted(set(v)) for k, v in placed.items()})
            emit("placed", placed)
            while queue or dispatcher.flights:
                since = dispatcher.all_down_since
                if queue and since is not None and time.time() - since > lc.stage_down_s:
                    reason = f"a whole stage has been unavailable for {lc.stage_down_s:g} s (Ray restarts exhausted?)"
                    for line in queue:
                        tries[line.id].append({"try": 0, "error": reason, "at": time.time()})
                        states[line.id] = LineState(
                            line.id, "failed", plan.fingerprints[line.id], tries[line.id]
                        )
                        folder.write_state(states[line.id])
                        counts["failed"] += 1
                        bar.update(1)
                    queue.clear()
                while queue and dispatcher.can_submit:
                    line = queue.pop(0)
                    clip = folder.clip_path(line.id) if line.start_s is not None else Path(line.video)
                    meta = {"id": line.id, "number": line.number, "session": folder.session_id(line.id),
                            "character": line.character, "start_s": line.start_s, "language": plan.language,
                            "fit": plan.fit}  # fmt: skip
                    dispatcher.submit(line.id, clip.read_bytes(), line.text, plan.language, meta,
                                      prompt_refs[plan.voice_of[line.id]])  # fmt: skip
                for line_id, result, error in dispatcher.wait(1.0):
                    line = by_id[line_id]
                    emit("ended", {"line": line_id, "ok": error is None})
                    live = [t for t in tries[line_id] if not t.get("earlier_run")]
                    if error is None:
                        t_write = time.perf_counter()
                        states[line_id] = record_done(folder, plan, line, result, tries[line_id])
                        timings["driver_write_s"] += time.perf_counter() - t_write
                        dubbed_this_run.append(states[line_id].result)
                        counts["done"] += 1
                        bar.update(1)
                    else:
                        reason, final = describe_failure(error)
                        tries[line_id].append({"try": len(live) + 1, "error": reason, "at": time.time()})
                        log.warning("%s %s, try %d: %s", line_id, line.where, len(live) + 1, reason)
                        if final or len(live) + 1 >= lc.max_tries:
                            states[line_id] = LineState(line_id, "failed", plan.fingerprints[line_id],
                                                        tries[line_id])  # fmt: skip
                            folder.write_state(states[line_id])
                            counts["failed"] += 1
                            bar.update(1)
                        else:
                            queue.insert(0, line)  # retried next, on whichever actors are least busy
                    bar.set_postfix(counts)
                if time.time() - last_doc > 2.0:
                    write_job_doc(folder, plan, states, t_start, running=True)
                    last_doc = time.time()
        except BaseException:  # interrupted (Ctrl-C) or a bug: job.json must not say it is still running
            write_job_doc(folder, plan, states, t_start, running=False)
            raise
        finally:
            bar.close()
            stop_stages(stages)
    else:
        bar.close()
    t_mix = time.time()
    outputs = build_mixes(folder, plan, states)
    timings["mix_s"] = round(time.time() - t_mix, 3)
    timings["driver_write_s"] = round(timings["driver_write_s"], 3)
    report = build_report(folder, plan, states, t_start, dubbed_this_run, skipped, outputs, timings)
    write_job_doc(folder, plan, states, t_start, running=False, outputs=outputs)
    return JobResult(counts["done"], counts["failed"], skipped, report, outputs)


def build_mixes(folder: JobFolder, plan: JobPlan, states: dict[str, LineState]) -> dict[str, str]:
    """Every film's dialogue track and dubbed mp4, rebuilt from the lines that are done."""
    import soundfile as sf

    from ground.config import get_config
    from localization.media import frame_span, load_me_track, mix, place_lines, write_dubbed

    cfg = get_config()
    sr, fps = cfg.media.sample_rate, cfg.media.fps
    outputs = {}
    for name, film in plan.films.items():
        placed = []
        for line in plan.lines:
            s = states.get(line.id)
            if line.film != name or not s or s.status != "done":
                continue
            audio, rate = sf.read(folder.wav_path(line.id), dtype="float32")
            a = frame_span(line.start_s, line.end_s, fps)[0] if line.start_s is not None else 0
            placed.append((int(round(a * sr / fps)), audio))
        total = int(round(film.seconds * sr))
        dialogue = place_lines(total, placed)
        buf_path = folder.root / f"{name}.dialogue.wav"
        with replacing(buf_path) as tmp:
            sf.write(tmp, dialogue, sr, format="WAV", subtype="FLOAT")
        me = load_me_track(film.me_track, sr) if film.me_track else None
        final = mix(dialogue, me, cfg.localization.dialogue_gain, cfg.localization.me_gain)
        mp4 = folder.root / f"{name}.dubbed.mp4"
        write_dubbed(film.video, final, sr, mp4)
        outputs[name] = str(mp4)
    return outputs


def summary_counts(plan: JobPlan, states: dict[str, LineState]) -> dict:
    done = sum(1 for s in states.values() if s.status == "done")
    failed = sum(1 for s in states.values() if s.status == "failed")
    return {
        "lines": len(plan.lines),
        "done": done,
        "failed": failed,
        "pending": len(plan.lines) - done - failed,
    }


def write_job_doc(folder: JobFolder, plan: JobPlan, states: dict[str, LineState], t_start: float,
                  running: bool, outputs: dict | None = None) -> None:  # fmt: skip
    """``job.json``: what a log inspector lists next to live sessions (the job, its films, its lines'
    states and the session id of each line's log)."""
    folder.write_job({
        "kind": "localization",
        "job": plan.job_id,
        "source": plan.source,
        "started": t_start,
        "running": running,
        "pid": os.getpid() if running else None,
        "films": {n: {"video": f.video, "seconds": round(f.seconds, 3), "me_track": f.me_track,
                      "dubbed": (outputs or {}).get(n)} for n, f in plan.films.items()},
        "state": summary_counts(plan, states),
        "logs_dir": "logs",
        "lines": [
            {"id": ln.id, "film": ln.film, "number": ln.number, "character": ln.character, "text": ln.text,
             "start_s": ln.start_s, "end_s": ln.end_s, "session": folder.session_id(ln.id),
             "status": states[ln.id].status if ln.id in states else "pending"}
            for ln in plan.lines
        ],
    })  # fmt: skip


def build_report(folder: JobFolder, plan: JobPlan, states: dict[str, LineState], t_start: float,
                 this_run: list[dict], skipped: int, outputs: dict, timings: dict | None = None) -> dict:  # fmt: skip
    wall = time.time() - t_start
    rows = []
    for ln in plan.lines:
        s = states.get(ln.id)
        row = {"id": ln.id, "film": ln.film, "number": ln.number, "character": ln.character, "text": ln.text,
               "start_s": ln.start_s, "end_s": ln.end_s, "status": s.status if s else "pending",
               "tries": s.tries if s else []}  # fmt: skip
        if s and s.status == "done":
            row.update({k: s.result.get(k) for k in ("emotion", "intensity", "takes", "chosen_take", "scores",
                                                    "wav", "log", "audio_seconds", "stages", "cpu_seconds",
                                                    "workers", "warnings")})  # fmt: skip
        elif s:
            row["reason"] = s.tries[-1]["error"] if s.tries else "unknown"
        rows.append(row)
    stage_means = {}
    for stage in ("perception", "direction", "speech"):
        vals = [r["stages"][stage] for r in this_run if r.get("stages")]
        if vals:
            stage_means[stage] = round(float(np.mean(vals)), 4)
    audio_s = sum(r.get("audio_seconds", 0.0) for r in this_run)
    report = {
        "job": plan.job_id,
        **summary_counts(plan, states),
        "skipped_already_done": skipped,
        "dubbed_this_run": len(this_run),
        "wall_seconds": round(wall, 2),
        "lines_per_minute": round(len(this_run) / wall * 60, 2) if this_run else None,
        "audio_seconds_per_second": round(audio_s / wall, 3) if this_run else None,
        "stage_seconds_mean": stage_means,
        "driver_seconds": timings or {},  # cutting the film, writing each line's files, the mix and mux
        "outputs": outputs,
        "per_line": rows,
    }
    atomic_write_json(folder.root / "report.json", report, durable=True)
    return report


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())
