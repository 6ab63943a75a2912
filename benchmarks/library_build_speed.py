"""Library build throughput: clips per minute, with rules captions and with LLM captions, on corpus clips.

Every timed build starts cold for its clips: a fresh cache folder (no cached visual features, audio
emotion features or captions; only the converted LLM is shared through a link to the real cache's
``models``) and a fresh LanceDB folder. Models are loaded before the clock starts by building one other
clip first, so the numbers are the steady per-clip cost; ``ray2`` (two Ray workers) includes Ray's start
and each worker's model loading, as a user's build does. ``rebuild`` is the same clips again into a new
database with every cache warm (what a rebuild after a schema change costs).

    .venv/bin/python benchmarks/library_build_speed.py [--corpus runs/corpus-train] [--clips 12] \
        [--llm-clips 10] [--modes rules llm ray2 rebuild] [--out docs/measurements/library_build_speed.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dubber  # noqa: E402,F401  (sets HF_HUB_OFFLINE before transformers is imported)
from benchmarks.common import report  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def fresh_cache(root: Path, real: Path) -> Path:
    cache = Path(tempfile.mkdtemp(prefix="cache-", dir=root))
    if (real / "models").is_dir():
        (cache / "models").symlink_to(real / "models")  # the converted LLM: not what is measured
    return cache


def timed_build(records, root: Path, use_llm: bool, workers: int = 1) -> dict:
    from retrieval.build import build_library

    db = tempfile.mkdtemp(prefix="db-", dir=root)
    r = build_library(records, db, use_llm=use_llm, workers=workers, progress=False)
    return {
        "clips": r.written,
        "failed": r.failed,
        "seconds": round(r.seconds, 2),
        "clips_per_minute": round(r.clips_per_minute, 2),
        "perception_s_per_clip": round(r.perception_seconds / max(1, r.written), 3),
        "captions_embed_write_s_per_clip": round(r.caption_seconds / max(1, r.written), 3),
        "captions": r.captions,
        "workers": workers,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=REPO / "runs" / "corpus-train")
    ap.add_argument("--clips", type=int, default=40, help="clips per build (rules, ray2, rebuild)")
    ap.add_argument("--llm-clips", type=int, default=10, help="the first this many of them for llm (slow)")
    ap.add_argument("--modes", nargs="+", default=["rules", "llm", "ray2", "rebuild"])
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)

    from corpora.readers import read_corpus
    from ground.config import get_config, set_config

    base = get_config()
    records = read_corpus(args.corpus)
    step = max(1, len(records) // (args.clips + 1))
    clips = records[step // 2 :: step][: args.clips]
    warmup = [records[1]]
    result: dict = {
        "corpus": str(args.corpus),
        "clip_ids": [r.clip_id for r in clips],
        "speech_s": round(sum(r.meta.get("duration_s", 0) for r in clips), 1),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
    }
    with tempfile.TemporaryDirectory(prefix="library-speed-") as tmp:
        root = Path(tmp)
        for mode in args.modes:
            use_llm = mode == "llm"
            if mode != "rebuild":  # rebuild keeps the previous mode's warm cache
                set_config(base.model_copy(update={"cache_dir": fresh_cache(root, base.cache_dir)}))
            if mode in ("rules", "llm"):
                timed_build(warmup, root, use_llm)  # load every model before the clock starts
            these = clips[: args.llm_clips] if use_llm else clips
            result[mode] = timed_build(these, root, use_llm, workers=2 if mode == "ray2" else 1)
            print(mode, json.dumps(result[mode]), file=sys.stderr)
    set_config(base)
    result["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    report(result, args.out)


if __name__ == "__main__":
    main()
