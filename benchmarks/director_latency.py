"""Guidance latency per line on CPU: cold (a new process: imports, model loads, first line) and warm.

The director's input is the clip's perception (measured separately by ``perception_speed.py``), so the
visual features come from their on-disk cache here. Three setups:

* ``full``: the LLM label cue and the LLM-written direction (the default of ``dubber direct``);
* ``llm-cue``: the LLM label cue, the template direction;
* ``no-llm``: text, face, scene and context cues only, template direction (``--no-llm``).

Per setup, warm p50/p95 over ``--lines`` test lines in one process, with the time split into the cue
decision and the direction; cold p50/p95 over ``--cold-runs`` fresh processes (the Gemma folder already
converted; the one-off conversion is measured by ``llm_latency.py --cold``).

    .venv/bin/python benchmarks/director_latency.py --corpus runs/corpus-train --lines 20 --cold-runs 3 \\
        --out docs/measurements/director_latency.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

T_START = time.perf_counter()
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks.common import report  # noqa: E402

SETUPS = {"full": (True, True), "llm-cue": (True, False), "no-llm": (False, False)}


def percentiles(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    return {
        "p50_s": round(float(np.percentile(a, 50)), 3),
        "p95_s": round(float(np.percentile(a, 95)), 3),
        "n": len(values),
    }


def make_director(setup: str):
    from agents.director import Director
    from agents.fusion import EmotionFusion
    from ground.config import REPO_ROOT

    use_llm, write = SETUPS[setup]
    fusion = EmotionFusion.load(REPO_ROOT / "assets/models/director", use_llm=use_llm)
    return Director(fusion=fusion, write_directions=write)


def lines(corpus: Path, n: int):
    from evaluation.dataset import load_records

    records = load_records(corpus, "test-unseen-speakers")
    idx = np.random.default_rng(1).choice(len(records), min(n, len(records)), replace=False)
    return [records[i] for i in sorted(idx)]


def one_cold_line(setup: str, corpus: Path) -> dict:
    """Run in a fresh process: everything from interpreter start to the first guidance."""
    from agents.cues import CueInput
    from perception.features import visual_features

    rec = lines(corpus, 1)[0]
    x = CueInput(text=rec.text, visual=visual_features(rec.video_path))
    director = make_director(setup)
    g = director.direct(x)
    return {"seconds": time.perf_counter() - T_START, "emotion": g.emotion}


def warm(setup: str, corpus: Path, n: int) -> dict:
    from agents.cues import CueInput
    from agents.director import DIRECTION_TEMPLATES, level_word
    from perception.features import visual_features

    director = make_director(setup)
    records = lines(corpus, n + 1)
    templates = {
        t.format(level=level)
        for t in DIRECTION_TEMPLATES.values()
        for level in map(level_word, (0.3, 0.6, 0.9))
    }
    inputs = [CueInput(text=r.text, visual=visual_features(r.video_path)) for r in records]
    director.direct(inputs[0])  # loads the models; not counted
    totals, decide, write, directions = [], [], [], []
    for x in inputs[1:]:
        t0 = time.perf_counter()
        director.fusion.decide(x)
        t1 = time.perf_counter()
        g = director.direct(x)  # the whole call, as users see it
        t2 = time.perf_counter()
        t3 = time.perf_counter()
        director.direction(x.text, g.emotion, g.intensity)
        t4 = time.perf_counter()
        decide.append(t1 - t0)
        totals.append(t2 - t1)
        write.append(t4 - t3)
        directions.append(g.direction)
    return {
        "per_line": percentiles(totals),
        "cue_decision": percentiles(decide),
        "direction": percentiles(write),
        "sample_directions": directions[:5],
        "llm_written_share": round(sum(d not in templates for d in directions) / max(1, len(directions)), 3),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path("runs/corpus-train"))
    ap.add_argument("--lines", type=int, default=20)
    ap.add_argument("--cold-runs", type=int, default=3)
    ap.add_argument("--setups", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    ap.add_argument("--one-cold-line", choices=list(SETUPS), help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.one_cold_line:
        print(json.dumps(one_cold_line(args.one_cold_line, args.corpus)))
        return 0

    import platform

    result: dict = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_average_at_start": os.getloadavg(),
        "setups": {},
    }
    for setup in args.setups:
        cold = []
        for _ in range(args.cold_runs):
            out = subprocess.run(
                [sys.executable, __file__, "--one-cold-line", setup, "--corpus", str(args.corpus)],
                capture_output=True,
                text=True,
                check=True,
            )
            cold.append(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])
        result["setups"][setup] = {
            "cold_first_line": percentiles(cold) if cold else None,
            "warm": warm(setup, args.corpus, args.lines),
        }
        print(setup, json.dumps(result["setups"][setup]), file=sys.stderr, flush=True)
    result["load_average_at_end"] = os.getloadavg()
    report(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
