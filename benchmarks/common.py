"""What every benchmark script shares: printing its result and keeping it as JSON."""

from __future__ import annotations

import json
from pathlib import Path


def report(result: dict, out: Path | None) -> None:
    """Print ``result`` as JSON and, with ``out``, write it there (folders made as needed)."""
    text = json.dumps(result, indent=1)
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")


def timed_clips(actor, corpus: Path, library: str, split: str, limit: int):
    """The first ``limit`` clips of ``split`` that have engine phone timings, as the actor's training data
    reads them (cached features, timings, library nodes and neighbours): ``(clips, dataset)``."""
    from actors.dataset import ActorDataset, EmotionNodeTable, load_clips
    from actors.features import FeatureStore
    from actors.training import clip_durations
    from corpora.readers import read_corpus
    from retrieval.neighbours import load_neighbours

    records = [r for r in read_corpus(corpus) if r.split == split]
    clips = load_clips(FeatureStore(corpus=corpus), [r.clip_id for r in records])
    durations = clip_durations(records, clips)
    clips = [c for c in clips if c.clip_id in durations][:limit]
    pool: dict = {}
    for c in clips:
        pool.setdefault(c.speaker, []).append(c)
    k = max(actor.hp.k, 1)
    nodes, neighbours = EmotionNodeTable.from_library(library), load_neighbours(library, k=k)
    data = ActorDataset(clips, actor.vocab, actor.stats, nodes, neighbours, pool, durations, k, train=False)
    return clips, data
