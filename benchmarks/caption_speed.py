"""Caption speed: captions per second with the LLM, from the cache, and rules only; prints one JSON object.

Takes ``--clips`` clips of a corpus folder (``manifest.jsonl``; a synthetic corpus still being rendered is
read from its finished ``clips/*/meta.json``), perceives them (visual features are cached, audio is analysed
without the speaker encoder) and then times, per modality (scene, face, text, audio):

* ``rules``: descriptors + rules sentences (``CaptionWriter(use_llm=False)``);
* ``llm``: descriptors + LLM captions with an empty caption cache (a fresh temporary folder unless
  ``--cache-dir``), with how many fell back to rules and why;
* ``cache``: the same captions again, now all cache hits (what a library rebuild costs).

    .venv/bin/python benchmarks/caption_speed.py [--corpus runs/corpus-train] [--clips 20] \
        [--dtype float32] [--threads 1] [--no-llm]

Perception time is reported apart and not counted in any caption rate.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dubber  # noqa: E402,F401  (sets HF_HUB_OFFLINE before transformers is imported)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO / "runs" / "corpus-train"


def corpus_clips(root: Path, limit: int) -> tuple[list[dict], str]:
    """Up to ``limit`` clips (id, video, audio, text) spread over the corpus, and where they came from."""
    rows: list[dict] = []
    manifest = root / "manifest.jsonl"
    if manifest.is_file():
        source = "manifest.jsonl"
        for line in manifest.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            if row.get("status", "ok") != "ok":
                continue
            clip = root / row["dir"]
            rows.append(
                {
                    "clip_id": row["clip_id"],
                    "video": clip / "video.mp4",
                    "audio": clip / "audio.wav",
                    "text": row["text"],
                    "emotion": row.get("emotion"),
                }
            )
    else:  # a synthetic corpus whose build has not written its manifest yet: finished clips only
        source = "clips/*/meta.json (no manifest.jsonl yet)"
        for meta_path in sorted((root / "clips").glob("*/meta.json")):
            clip = meta_path.parent
            if not (clip / "video.mp4").is_file() or not (clip / "audio.wav").is_file():
                continue
            meta = json.loads(meta_path.read_text())
            rows.append(
                {
                    "clip_id": meta["clip_id"],
                    "video": clip / "video.mp4",
                    "audio": clip / "audio.wav",
                    "text": meta["text"],
                    "emotion": meta.get("emotion"),
                }
            )
    if not rows:
        raise SystemExit(f"{root}: no clips found (no manifest.jsonl and no finished clips/*/meta.json)")
    step = max(1, len(rows) // max(1, limit))
    return rows[::step][:limit], source


def perceive(clips: list[dict]) -> tuple[list[tuple], float]:
    from perception.audio import analyse_audio
    from perception.features import visual_features
    from perception.pipeline import ClipPerceiver

    perceiver = ClipPerceiver()
    start = time.perf_counter()
    inputs = []
    for c in clips:
        visual = visual_features(c["video"], perceiver=perceiver)
        audio = analyse_audio(c["audio"], with_egemaps=True, with_speaker=False)
        inputs.append((visual, c["text"], audio))
    return inputs, time.perf_counter() - start


def run_pass(writer, inputs: list[tuple]) -> dict:
    """Caption every clip; per-caption times and sources."""
    per_caption: list[float] = []
    sources: Counter = Counter()
    by_modality: dict[str, Counter] = {}
    captions = []
    start = time.perf_counter()
    for visual, text, audio in inputs:
        descriptors = writer.descriptors(visual, text, audio)
        clip_caps = {}
        for modality, descriptor in descriptors.items():
            t0 = time.perf_counter()
            cap = writer.caption(modality, descriptor)
            per_caption.append(time.perf_counter() - t0)
            sources[cap.source] += 1
            by_modality.setdefault(modality, Counter())[cap.source] += 1
            clip_caps[modality] = cap.text
        captions.append(clip_caps)
    total = time.perf_counter() - start
    return {
        "captions": len(per_caption),
        "seconds": round(total, 3),
        "captions_per_s": round(len(per_caption) / total, 3) if total > 0 else None,
        "per_caption_s_median": round(statistics.median(per_caption), 5),
        "per_caption_s_mean": round(statistics.fmean(per_caption), 5),
        "per_caption_s_max": round(max(per_caption), 5),
        "sources": dict(sources),
        "sources_by_modality": {m: dict(c) for m, c in by_modality.items()},
        "_captions": captions,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS if DEFAULT_CORPUS.is_dir() else None)
    ap.add_argument("--clips", type=int, default=20)
    ap.add_argument("--dtype", default=None, help="LLM weight dtype (default: llm.dtype from the config)")
    ap.add_argument("--threads", type=int, default=None, help="LLM CPU threads (default: llm.threads)")
    ap.add_argument("--no-llm", action="store_true", help="time the rules-only captions only")
    ap.add_argument("--cache-dir", type=Path, default=None, help="caption cache (default: a fresh temp dir)")
    ap.add_argument("--examples", type=int, default=3, help="clips whose captions are printed")
    args = ap.parse_args()
    if args.corpus is None:
        ap.error("--corpus is required (runs/corpus-train does not exist)")
    logging.basicConfig(level=logging.ERROR)  # the LLM fallbacks are counted, not printed

    from ground.config import get_config
    from retrieval.captions import PROMPT_VERSION, CaptionWriter

    clips, source = corpus_clips(args.corpus, args.clips)
    inputs, perceive_s = perceive(clips)
    result: dict = {
        "corpus": str(args.corpus),
        "clips_from": source,
        "clips": len(clips),
        "perception_s": round(perceive_s, 2),
        "prompt_version": PROMPT_VERSION,
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
    }

    rules = run_pass(CaptionWriter(use_llm=False), inputs)
    examples = {"rules": rules.pop("_captions")[: args.examples]}
    result["rules"] = rules

    if not args.no_llm:
        from llm import get_backend

        update = {k: v for k, v in (("dtype", args.dtype), ("threads", args.threads)) if v is not None}
        cfg = get_config().llm.model_copy(update=update)
        start = time.perf_counter()
        backend = get_backend(cfg)
        result["llm"] = {"model": backend.model_id, "dtype": cfg.dtype, "threads": cfg.threads}
        result["llm"]["load_s"] = round(time.perf_counter() - start, 2)
        with tempfile.TemporaryDirectory(prefix="caption-cache-") as tmp:
            cache_dir = args.cache_dir or Path(tmp)
            writer = CaptionWriter(backend=backend, cache_dir=cache_dir)
            cold = run_pass(writer, inputs)
            examples["llm"] = cold.pop("_captions")[: args.examples]
            cold["fallbacks"] = writer.fallbacks
            cold["llm_calls"] = writer.llm_calls
            result["llm"]["cold"] = cold
            warm_writer = CaptionWriter(backend=backend, cache_dir=cache_dir)
            warm = run_pass(warm_writer, inputs)
            warm.pop("_captions")
            warm["llm_calls"] = warm_writer.llm_calls
            result["llm"]["cache"] = warm
    result["examples"] = [
        {
            "clip_id": c["clip_id"],
            "emotion": c["emotion"],
            "text": c["text"],
            **{k: v[i] for k, v in examples.items()},
        }
        for i, c in enumerate(clips[: args.examples])
    ]
    print(json.dumps(result, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
