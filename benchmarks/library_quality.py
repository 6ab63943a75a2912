"""Retrieval quality of the reference library: does emotion-similarity retrieval find clips of the same
emotion? Builds (or resumes) the library, precomputes the training neighbours, then for every test clip
takes the top-3 training clips per modality and reports the share whose emotion label matches the target's.

Library: the corpus's training split (``--train-every 2``: every other training clip, a subset that
builds in about half the time) plus the target splits and any ``reference`` footage, rules captions
(``--no-llm``); ``--no-build`` measures the library as it is (e.g. the whole corpus built by ``dubber
library build``). The test rows sit in the same table but are never retrieved (the retrieval pool is the
train split plus any library-only ``reference`` footage, as in training and at inference), so the test
splits are held-out queries; ``--targets`` picks them (``test-new-films`` for the ``scene-tones`` corpus).

Reported per modality (scene, face, text: the director's ``ReferenceLibrary.query_for_clip``, LanceDB
brute-force cosine), and combined two ways: ``pooled`` (all 9 references the actor receives, 3 per
modality) and ``fused`` (top-3 by the mean of the three cosines). Beside them, the random baseline (three
training clips drawn at random: the expected share is each target's label frequency in the pool), and a
majority-vote accuracy (the most common label among the 9 references). ``audio`` (retrieval by the audio
emotion vector, which a silent target does not have) shows how much emotion the vector the actor receives
carries. ``--exclude-film`` variants leave out the target's film (the corpus's films reuse their scenes).

    .venv/bin/python benchmarks/library_quality.py [--corpus runs/corpus-train] [--db runs/library] \
        [--train-every 2] [--workers 2] [--no-build] [--targets test-seen-speakers,test-unseen-speakers] \
        [--out docs/measurements/library_quality.json]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import report  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TEST_SPLITS = ("test-seen-speakers", "test-unseen-speakers")
MODALITIES = ("scene", "face", "text")


def library_records(corpus: Path, train_every: int, targets: tuple[str, ...]):
    from corpora.readers import read_corpus
    from corpora.records import REFERENCE_SPLIT

    records = read_corpus(corpus)
    train = [r for r in records if r.split == "train"][:: max(1, train_every)]
    test = [r for r in records if r.split in (*targets, REFERENCE_SPLIT)]
    return test + train


def share(labels: list[str | None], target: str) -> float:
    return sum(lbl == target for lbl in labels) / len(labels) if labels else float("nan")


def summarise(values: dict[str, list[float]]) -> dict[str, float]:
    return {k: round(float(np.mean(v)), 4) for k, v in values.items()}


def evaluate(uri: str, k: int, exclude_film: bool, targets_splits: tuple[str, ...] = TEST_SPLITS) -> dict:
    from retrieval.library import ReferenceLibrary, vector_matrix
    from retrieval.neighbours import retrieval_pool

    lib = ReferenceLibrary.open(uri)
    data = lib.scan(["split", "emotion", "film", *(f"{m}_vector" for m in (*MODALITIES, "audio"))])
    ids = data["clip_id"].to_pylist()
    split = data["split"].to_pylist()
    label = data["emotion"].to_pylist()
    film = data["film"].to_pylist()
    vec = {m: vector_matrix(data[f"{m}_vector"]) for m in (*MODALITIES, "audio")}
    pool_splits = retrieval_pool("train")
    pool = np.array([s in pool_splits for s in split])
    pool_idx = np.flatnonzero(pool)
    pool_labels = Counter(label[i] for i in pool_idx)
    targets = [i for i, s in enumerate(split) if s in targets_splits]
    rng = np.random.default_rng(0)
    per: dict[str, dict[str, list[float]]] = {s: {} for s in ("all", *targets_splits)}
    latencies: list[float] = []

    def add(key: str, t: int, value: float) -> None:
        for s in ("all", split[t]):
            per[s].setdefault(key, []).append(value)

    for t in targets:
        target = label[t]
        t0 = time.perf_counter()
        refs = lib.query_for_clip(ids[t], k, split=pool_splits, exclude_same_film=exclude_film)
        latencies.append((time.perf_counter() - t0) * 1000)
        pooled = []
        for m in MODALITIES:
            labels = [c.emotion for c in refs[m]]
            assert len(labels) == k and ids[t] not in {c.clip_id for c in refs[m]}
            add(m, t, share(labels, target))
            pooled += labels
        add("pooled", t, share(pooled, target))
        vote = Counter(pooled).most_common()
        top = [lbl for lbl, n in vote if n == vote[0][1]]
        add("vote_accuracy", t, float(target in top) / len(top))  # ties split the credit
        allowed = pool & (np.array([f != film[t] for f in film]) if exclude_film else True)
        cand = np.flatnonzero(allowed)
        fused = np.mean([vec[m][cand] @ vec[m][t] for m in MODALITIES], axis=0)
        add("fused", t, share([label[cand[j]] for j in np.argsort(-fused)[:k]], target))
        audio = vec["audio"][cand] @ vec["audio"][t]
        add("audio", t, share([label[cand[j]] for j in np.argsort(-audio)[:k]], target))
        n_allowed = Counter(label[i] for i in cand)
        add("random_expected", t, n_allowed[target] / len(cand))
        add("random_drawn", t, share([label[i] for i in rng.choice(cand, size=k, replace=False)], target))
    return {
        "targets": len(targets),
        "pool": int(pool.sum()),
        "pool_labels": dict(sorted(pool_labels.items())),
        "match_share": {s: summarise(v) for s, v in per.items()},
        "query_for_clip_ms": {
            "p50": round(statistics.median(latencies), 2),
            "p95": round(sorted(latencies)[int(0.95 * (len(latencies) - 1))], 2),
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=REPO / "runs" / "corpus-train")
    ap.add_argument("--db", default=str(REPO / "runs" / "library"))
    ap.add_argument("--train-every", type=int, default=2, help="every n-th training clip goes in (1: all)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--neighbours-k", type=int, default=5)
    ap.add_argument("--no-build", action="store_true", help="measure the library as it is")
    ap.add_argument("--targets", default=",".join(TEST_SPLITS), help="comma-separated query splits")
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    args = ap.parse_args()
    targets = tuple(s.strip() for s in args.targets.split(",") if s.strip())
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("retrieval").setLevel(logging.INFO)

    from retrieval.library import ReferenceLibrary
    from retrieval.neighbours import compute_neighbours

    result: dict = {
        "corpus": str(args.corpus),
        "db": args.db,
        "pool": "train split"
        + (f" (every {args.train_every}th clip)" if args.train_every > 1 else "")
        + " and any reference footage",
        "targets": " + ".join(targets),
        "k": args.k,
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
    }
    if not args.no_build:
        from retrieval.build import build_library

        built = build_library(
            library_records(args.corpus, args.train_every, targets),
            args.db,
            use_llm=False,
            workers=args.workers,
        )
        build = built.to_json()
        build["failed_clips"] = build["failed_clips"][:20]
        result["build"] = build
    t0 = time.perf_counter()
    nb = compute_neighbours(args.db, args.neighbours_k)
    result["neighbours"] = {
        "k": nb.k,
        "rows": nb.rows,
        "pool": nb.pool,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    info = ReferenceLibrary.open(args.db).info()
    result["rows"] = info["rows"]
    result["failed"] = info["failed"]
    result["extractor_versions"] = info["versions"]
    result["quality"] = evaluate(args.db, args.k, exclude_film=False, targets_splits=targets)
    result["quality_excluding_target_film"] = evaluate(
        args.db, args.k, exclude_film=True, targets_splits=targets
    )
    result["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    report(result, args.out)


if __name__ == "__main__":
    main()
