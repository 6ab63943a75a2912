"""Batch localisation throughput: a ~100-line synthetic film dubbed with 1 and 2 perception worker processes.

For each setting a fresh output folder and a fresh local Ray (``--num-cpus``, default 2) run the whole
job as ``dubber localize`` does (``localization.runner.run_job``: cut, perceive, direct, act, write, mix,
mux). Reported per setting: wall time of the job (Ray start excluded, actor start and model loading
included), the steady rate between the first and the last line landing (lines per minute and seconds of
dubbed audio per wall second), per-stage cost per line (wall and CPU seconds: perception, direction with
the review, speech), and the machine's load average while it ran. Scaling efficiency is the steady rate
with 2 workers over twice the rate with 1. The director and the speech actor are one process each in both
settings (``localization.director_workers`` / ``speech_workers``): perception is the stage that scales.

    nice -n 19 .venv/bin/python benchmarks/localize_throughput.py [--lines 100] [--workers 1 2] \
        [--film runs/film100] [--out docs/measurements/localize_throughput.json]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dubber  # noqa: E402,F401  (sets HF_HUB_OFFLINE before transformers is imported)
from benchmarks.common import report  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


class LoadSampler:
    """The 1-minute load average every few seconds while a run goes."""

    def __init__(self, every_s: float = 5.0):
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every_s,), daemon=True)

    def _run(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        s = self.samples or [os.getloadavg()[0]]
        return {"mean": round(float(np.mean(s)), 2), "min": round(min(s), 2), "max": round(max(s), 2)}


def stats(values: list[float]) -> dict:
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if not v.size:
        return {}
    return {"mean": round(float(v.mean()), 4), "p50": round(float(np.median(v)), 4),
            "p95": round(float(np.percentile(v, 95)), 4)}  # fmt: skip


def one_run(film: dict, workers: int, num_cpus: int, root: Path) -> dict:
    import ray

    from ground.config import get_config, set_config
    from localization.cli import start_ray
    from localization.runner import plan_job, run_job
    from localization.subtitles import read_subtitle_lines
    from retrieval.library import search_uri

    base = get_config()
    lc = base.localization.model_copy(update={"perception_workers": workers})
    cfg = base.model_copy(update={"localization": lc,
                                  "library": base.library.model_copy(update={"db_uri": search_uri(base)})})  # fmt: skip
    set_config(cfg)
    plan = plan_job(
        read_subtitle_lines(film["subs"], film["video"]), film["voices"], "film", me_track=film["me"]
    )
    out = root / f"workers{workers}"
    shutil.rmtree(out, ignore_errors=True)
    ends: list[float] = []
    marks: dict[str, float] = {}

    def events(kind: str, info) -> None:
        if kind == "placed":
            marks["placed"] = time.time()
        elif kind == "ended" and info["ok"]:
            ends.append(time.time())

    t_ray = time.time()
    start_ray(None, num_cpus)
    ray_start = time.time() - t_ray
    try:
        with LoadSampler() as load:
            t0 = time.time()
            result = run_job(plan, out, progress=True, events=events)
            wall = time.time() - t0
    finally:
        ray.shutdown()
    rows = [r for r in result.report["per_line"] if r["status"] == "done"]
    audio = [r["audio_seconds"] for r in rows]
    steady_s = ends[-1] - ends[0] if len(ends) > 1 else None
    mean_audio = float(np.mean(audio)) if audio else 0.0
    return {
        "perception_workers": workers,
        "director_workers": lc.director_workers,
        "speech_workers": lc.speech_workers,
        "stage_cpus": {
            "perception": lc.perception_cpus,
            "director": lc.director_cpus,
            "speech": lc.speech_cpus,
        },
        "lines": len(plan.lines),
        "done": result.done,
        "failed": result.failed,
        "audio_seconds": round(sum(audio), 2),
        "ray_start_s": round(ray_start, 1),
        "job_wall_s": round(wall, 1),
        "actors_ready_s": round(marks.get("placed", t0) - t0, 1),
        "first_line_s": round(ends[0] - t0, 1) if ends else None,
        "steady_s": round(steady_s, 1) if steady_s else None,
        "lines_per_minute_job": round(result.done / wall * 60, 2),
        "lines_per_minute_steady": round((len(ends) - 1) / steady_s * 60, 2) if steady_s else None,
        "audio_s_per_s_job": round(sum(audio) / wall, 3),
        # the lines that landed after the first, over the time between: the pipeline's steady rate
        "audio_s_per_s_steady": round((len(ends) - 1) * mean_audio / steady_s, 3) if steady_s else None,
        "stage_wall_s": {
            k: stats([r["stages"][k] for r in rows]) for k in ("perception", "direction", "speech")
        },
        "stage_cpu_s": {
            k: stats([(r.get("cpu_seconds") or {}).get(k) for r in rows]) for k in ("perception", "direction")
        },  # fmt: skip
        "driver_s": result.report.get("driver_seconds", {}),
        "load_average": load.summary(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=100)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--num-cpus", type=int, default=2)
    p.add_argument("--film", type=Path, default=REPO / "runs" / "film100", help="where the film is (re)made")
    p.add_argument("--out", type=Path, default=REPO / "docs" / "measurements" / "localize_throughput.json")
    args = p.parse_args(argv)
    from localization.film import make_film

    t0 = time.time()
    film = make_film(args.film, lines=args.lines, seed=0, workers=2, progress=True)
    film_s = time.time() - t0
    runs = []
    with tempfile.TemporaryDirectory(prefix="localize-bench-") as tmp:
        for w in args.workers:
            runs.append(one_run(film, w, args.num_cpus, Path(tmp)))
            print(runs[-1], flush=True)
    by = {r["perception_workers"]: r for r in runs}
    scaling = {}
    if 1 in by and 2 in by and by[1]["lines_per_minute_steady"] and by[2]["lines_per_minute_steady"]:
        scaling = {
            "speedup_steady": round(by[2]["lines_per_minute_steady"] / by[1]["lines_per_minute_steady"], 3),
            "efficiency_steady": round(by[2]["lines_per_minute_steady"] / (2 * by[1]["lines_per_minute_steady"]), 3),
            "speedup_job": round(by[2]["lines_per_minute_job"] / by[1]["lines_per_minute_job"], 3),
            "efficiency_job": round(by[2]["lines_per_minute_job"] / (2 * by[1]["lines_per_minute_job"]), 3),
        }  # fmt: skip
    report(
        {
            "what": "dubber localize on a synthetic film, 1 vs 2 perception worker processes, one local Ray",
            "command": "nice -n 19 .venv/bin/python benchmarks/localize_throughput.py "
            + " ".join(argv if argv is not None else sys.argv[1:]),
            "film": {k: film[k] for k in ("lines", "seconds", "speech_seconds", "characters")},
            "film_render_s": round(film_s, 1),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "ray_num_cpus": args.num_cpus,
            },
            "settings": "no LLM, 1 take per line, shipped actor checkpoint and library, --fit speed",
            "runs": runs,
            "scaling": scaling,
        },
        args.out,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
