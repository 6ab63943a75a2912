"""Retrieval latency of the reference library at 10k and 100k generated rows: p50 / p95 per query.

Rows are generated (the schema's real columns and dimensions): caption vectors are unit vectors drawn
around 8 emotion centres plus film- and speaker-specific offsets, so neighbourhoods have the structure a
real library has; audio and speaker vectors are random unit vectors. Each size is written to a fresh
LanceDB folder in batches through ``ReferenceLibrary`` (rows checked like any build), then timed:

* ``brute``: ``ReferenceLibrary.search`` as the director calls it (one modality, K=3, the target
  excluded), exact scan, no index; also with a film + language prefilter;
* ``retrieve``: all three modalities for one target (what one line costs the director);
* at 100k, ``ivf_pq``: after ``ensure_index(force=True)`` (IVF_PQ, cosine, sqrt(n) partitions,
  ``library.nprobes`` probes, exact re-ranking of ``library.refine_factor`` x K candidates), with its build
  time and recall@3 against the exact result.

    .venv/bin/python benchmarks/library_search_latency.py [--sizes 10000 100000] [--queries 200] \
        [--dir runs/latency] [--out docs/measurements/library_search_latency.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import report  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def generate(lib, n: int, seed: int = 0, batch: int = 5000) -> float:
    """Write ``n`` generated rows; returns the seconds it took."""
    from retrieval.schema import AUDIO_DIM, CAPTION_DIM, SPEAKER_DIM, check_rows

    rng = np.random.default_rng(seed)
    emotions = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise", "contempt"]
    centres = {m: rng.normal(size=(8, CAPTION_DIM)) for m in ("scene", "face", "text")}
    films = rng.normal(size=(200, CAPTION_DIM))
    speakers = rng.normal(size=(150, CAPTION_DIM))
    start = time.perf_counter()
    for lo in range(0, n, batch):
        m = min(batch, n - lo)
        label = rng.integers(8, size=m)
        film = rng.integers(200, size=m)
        speaker = rng.integers(150, size=m)
        vec = {
            mod: unit(
                c[label]
                + 0.6 * (films[film] if mod == "scene" else speakers[speaker])
                + 1.2 * rng.normal(size=(m, CAPTION_DIM))
            )
            for mod, c in centres.items()
        }
        audio = unit(rng.normal(size=(m, AUDIO_DIM)))
        spk = unit(rng.normal(size=(m, SPEAKER_DIM)))
        rows = [
            {
                "clip_id": f"g{lo + i:07d}",
                "film": f"film {film[i]}",
                "character": f"char {speaker[i]}",
                "speaker": f"spk{speaker[i]}",
                "language": "en",
                "split": "train",
                "text": "generated",
                "start_s": None,
                "end_s": None,
                "video_path": f"gen/{lo + i}.mp4",
                "audio_path": None,
                "scene_vector": vec["scene"][i].tolist(),
                "face_vector": vec["face"][i].tolist(),
                "text_vector": vec["text"][i].tolist(),
                "audio_vector": audio[i].tolist(),
                "speaker_vector": spk[i].tolist(),
                "scene_caption": "Scene: generated.",
                "face_caption": "Face: generated.",
                "text_caption": "Line: generated.",
                "audio_caption": "Voice: generated.",
                "caption_sources": "scene=rules,face=rules,text=rules,audio=rules",
                "f0_mean_hz": 150.0,
                "f0_range_st": 6.0,
                "rate_per_s": 4.0,
                "energy_db": -22.0,
                "duration_s": 3.0,
                "emotion": emotions[label[i]],
                "intensity": 0.5,
                "extractor_version": "generated",
                "built_at": time.time(),
            }
            for i in range(m)
        ]
        check_rows(rows)
        lib.table.add(rows)  # a bulk append: every id is new (a build upserts, the same writer path)
    lib.optimize()
    return time.perf_counter() - start


def timed(fn, queries: list) -> tuple[list[float], list]:
    out, times = [], []
    for q in queries:
        t0 = time.perf_counter()
        out.append(fn(q))
        times.append((time.perf_counter() - t0) * 1000)
    return times, out


def stats(ms: list[float]) -> dict:
    ms = sorted(ms)
    return {
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 2),
        "mean_ms": round(statistics.fmean(ms), 2),
        "queries": len(ms),
    }


def measure(root: Path, n: int, queries: int, index: bool) -> dict:
    from retrieval.library import ReferenceLibrary

    uri = root / f"rows-{n}"
    shutil.rmtree(uri, ignore_errors=True)
    lib = ReferenceLibrary.open(uri, create=True)
    result: dict = {"rows": n, "write_s": round(generate(lib, n), 1)}
    ids, vecs = lib.vectors(["scene_vector", "face_vector", "text_vector"])
    rng = np.random.default_rng(1)
    targets = [int(i) for i in rng.choice(len(ids), size=queries, replace=False)]
    films = {r["clip_id"]: r["film"] for r in lib.rows([ids[t] for t in targets], ["film"])}

    def one(t: int):
        return lib.search("scene", vecs["scene_vector"][t], 3, exclude_ids=[ids[t]])

    def filtered(t: int):
        return lib.search(
            "scene",
            vecs["scene_vector"][t],
            3,
            exclude_ids=[ids[t]],
            exclude_film=films[ids[t]],
            language="en",
        )

    def all3(t: int):
        return lib.retrieve(
            {m: vecs[f"{m}_vector"][t] for m in ("scene", "face", "text")}, 3, exclude_ids=[ids[t]]
        )

    one(targets[0])  # warm the file cache once
    ms, exact = timed(one, targets)
    result["brute"] = stats(ms)
    result["brute_filtered"] = stats(timed(filtered, targets)[0])
    result["brute_retrieve_3_modalities"] = stats(timed(all3, targets)[0])
    assert all(
        len(r) == 3 and ids[t] not in {c.clip_id for c in r} for r, t in zip(exact, targets, strict=True)
    )
    if index:
        t0 = time.perf_counter()
        lib.ensure_index(force=True)
        result["index_build_s"] = round(time.perf_counter() - t0, 1)
        lib = ReferenceLibrary.open(uri)
        one(targets[0])
        ms, approx = timed(one, targets)
        result["ivf_pq"] = stats(ms)
        recall = [
            len({c.clip_id for c in a} & {c.clip_id for c in e}) / 3
            for a, e in zip(approx, exact, strict=True)
        ]
        result["ivf_pq"]["recall_at_3"] = round(float(np.mean(recall)), 4)
        result["ivf_pq_filtered"] = stats(timed(filtered, targets)[0])
        result["ivf_pq_retrieve_3_modalities"] = stats(timed(all3, targets)[0])
        cfg = lib.config.library
        result["ivf_pq"]["settings"] = {
            "partitions": int(round(np.sqrt(n))),
            "sub_vectors": cfg.index_sub_vectors,
            "nprobes": cfg.nprobes,
            "refine_factor": cfg.refine_factor,
        }
    result["disk_mb"] = round(sum(f.stat().st_size for f in uri.rglob("*") if f.is_file()) / 1e6, 1)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--dir", type=Path, default=REPO / "runs" / "latency")
    ap.add_argument(
        "--index-at", type=int, default=100_000, help="also build and time the index from this size"
    )
    ap.add_argument("--keep", action="store_true", help="keep the generated databases")
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    args = ap.parse_args()
    import lancedb

    result = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_avg_start": [round(x, 2) for x in os.getloadavg()],
            "lancedb": lancedb.__version__,
        },
        "sizes": [],
    }
    args.dir.mkdir(parents=True, exist_ok=True)
    for n in args.sizes:
        result["sizes"].append(measure(args.dir, n, args.queries, index=n >= args.index_at))
        print(json.dumps(result["sizes"][-1]), file=sys.stderr)
        if not args.keep:
            shutil.rmtree(args.dir / f"rows-{n}", ignore_errors=True)
    result["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    report(result, args.out)


if __name__ == "__main__":
    main()
