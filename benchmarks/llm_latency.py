"""Director LLM latency on CPU (transformers backend, shipped Gemma 3 270M): prints one JSON object.

Measures
* cold load: the one-off GGUF -> bf16 conversion (``--cold`` converts into a fresh temporary cache so it is
  always measured; otherwise it is reported only if the configured cache was empty) and the cached reload;
* greedy generation speed (new tokens per second, after a warm-up);
* label scoring latency for 8 labels: the fast path (prompt once through the body, labels batched on its
  KV cache, output layer only where needed) against the naive one (a full forward per label).

    .venv/bin/python benchmarks/llm_latency.py [--cold] [--dtype bfloat16 float32] [--threads 2] [--repeats 3]

Timings on a shared machine are noisy; the medians of ``--repeats`` runs are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dubber  # noqa: E402,F401  (sets HF_HUB_OFFLINE before transformers is imported)

EMOTIONS = ["angry", "disgusted", "fearful", "happy", "neutral", "sad", "surprised", "calm"]
DIRECTOR_PROMPT = (
    "You are a film dubbing director. Read the scene and the line, then name the emotion the actor "
    "should perform.\n"
    "Scene: a dark, rain-soaked street at night; the camera shakes and the light flickers red.\n"
    "Face: brows lowered, jaw clenched, eyes narrowed.\n"
    'Line: "I told you never to come back here, and you did it anyway!"\n'
    "Previous take: too flat, not enough energy.\n"
    "Emotion:"
)


def _median(xs: list[float]) -> float:
    return round(statistics.median(xs), 4)


def _time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return _median(times), out


def bench_dtype(dtype: str, threads: int, repeats: int, gen_tokens: int, cache_dir: Path) -> dict:
    from llm.transformers_backend import TransformersBackend

    start = time.perf_counter()
    backend = TransformersBackend(None, dtype=dtype, threads=threads, cache_dir=cache_dir, timeout_s=600)
    construct_s = time.perf_counter() - start
    result: dict = {
        "dtype": dtype,
        "threads": threads,
        "cached_load_s": round(backend.load_seconds, 3),
        "construct_s": round(construct_s, 3),
    }

    # generation: warm up, then time greedy decoding of up to gen_tokens new tokens
    backend.generate("The capital of France is", max_new_tokens=2)
    tok = backend.tokenizer
    speeds, texts = [], []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        text = backend.generate("Once upon a time, in a small village by the sea,", max_new_tokens=gen_tokens)
        elapsed = time.perf_counter() - start
        n = len(tok(text, add_special_tokens=False)["input_ids"])
        speeds.append(n / elapsed if elapsed > 0 else 0.0)
        texts.append(text)
    result["generate_tokens_per_s"] = _median(speeds)
    result["generate_new_tokens"] = gen_tokens
    result["generate_sample"] = texts[-1][:80]

    prompt_tokens = backend.count_tokens(DIRECTOR_PROMPT)
    backend.label_logprobs(DIRECTOR_PROMPT, EMOTIONS[:2])  # warm-up
    fast_s, fast = _time(lambda: backend.label_logprobs(DIRECTOR_PROMPT, EMOTIONS), repeats)
    naive_s, naive = _time(lambda: backend.naive_label_logprobs(DIRECTOR_PROMPT, EMOTIONS), repeats)
    result["label_scoring"] = {
        "labels": len(EMOTIONS),
        "prompt_tokens": prompt_tokens,
        "label_tokens": {
            k: backend.count_tokens(DIRECTOR_PROMPT + " " + k) - prompt_tokens for k in EMOTIONS
        },
        "fast_s": fast_s,
        "naive_s": naive_s,
        "speedup": round(naive_s / fast_s, 2) if fast_s > 0 else None,
        "max_abs_diff_fast_vs_naive": round(max(abs(fast[k] - naive[k]) for k in EMOTIONS), 5),
        "best_fast": max(fast, key=fast.get),
        "best_naive": max(naive, key=naive.get),
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--cold", action="store_true", help="measure the GGUF conversion in a fresh temp cache"
    )
    parser.add_argument("--dtype", nargs="+", default=None, help="dtypes to run (default: llm.dtype)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: llm.threads)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gen-tokens", type=int, default=32)
    args = parser.parse_args(argv)

    from ground.config import get_config

    cfg = get_config()
    threads = args.threads if args.threads is not None else cfg.llm.threads
    dtypes = args.dtype or [cfg.llm.dtype]
    report: dict = {
        "benchmark": "llm_latency",
        "backend": "transformers",
        "model": "gemma-3-270m (base, shipped GGUF -> bf16 cache)",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_avg": os.getloadavg()},
    }

    import torch

    from llm.transformers_backend import ensure_gemma_folder, gemma_cache_folder

    report["torch"] = torch.__version__
    tmp = None
    if args.cold:
        tmp = tempfile.TemporaryDirectory(prefix="dubber-llm-cold-")
        cache_dir = Path(tmp.name)
    else:
        cache_dir = Path(cfg.cache_dir)
    start = time.perf_counter()
    folder, conversion_s = ensure_gemma_folder(cache_dir)
    report["cache_folder"] = str(gemma_cache_folder(cache_dir)) if not args.cold else "(temporary)"
    report["conversion_s"] = round(conversion_s, 2) if conversion_s is not None else None
    report["ensure_cached_s"] = round(time.perf_counter() - start, 3) if conversion_s is None else None
    report["runs"] = [bench_dtype(d, threads, args.repeats, args.gen_tokens, cache_dir) for d in dtypes]
    report["machine"]["load_avg_end"] = os.getloadavg()
    if tmp is not None:
        tmp.cleanup()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
