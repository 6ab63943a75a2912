"""Training and measuring the director's emotion decision on a labelled corpus.

Face, scene and LLM-calibration cues are fit on the train split, the fusion on the valid split, and every
cue (alone) and the fusion are measured on a test split. The LLM's raw label scores are cached per line
text, and visual features per video, so reruns cost seconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np

from agents.cues import CueInput
from agents.fusion import EmotionFusion
from corpora.readers import read_corpus
from corpora.records import ClipRecord
from dubber.config import get_config
from dubber.errors import BadInputError
from perception.features import visual_features

log = logging.getLogger(__name__)


def _sample(records: list[ClipRecord], limit: int | None, seed: int = 0) -> list[ClipRecord]:
    records = [r for r in records if r.emotion]
    if limit is None or len(records) <= limit:
        return records
    idx = np.random.default_rng(seed).choice(len(records), size=limit, replace=False)
    return [records[i] for i in sorted(idx)]


def cue_inputs(records: list[ClipRecord], progress: bool = True) -> list[CueInput]:
    """CueInputs with visual features; history is each character's previous lines in the same film."""
    from tqdm import tqdm

    from perception.pipeline import ClipPerceiver

    perceiver = ClipPerceiver()
    inputs = []
    for r in tqdm(records, desc="visual features", unit="clip", disable=not progress):
        inputs.append(
            CueInput(text=r.text, visual=visual_features(r.video_path, perceiver), character=r.character)
        )
    return inputs


class LLMScoreCache:
    """Raw label log-probabilities per (model, prompt, text), on disk as one JSON file."""

    def __init__(self, model_id: str, prompt: str):
        key = hashlib.sha1(f"{model_id}|{prompt}".encode()).hexdigest()[:16]
        self.path = get_config().cache_dir / "llm_scores" / f"{key}.json"
        self.data: dict[str, list[float]] = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data))
        tmp.replace(self.path)


def llm_raw_scores(fusion: EmotionFusion, texts: list[str], progress: bool = True) -> np.ndarray:
    from tqdm import tqdm

    backend = fusion.llm.backend
    cache = LLMScoreCache(getattr(backend, "model_id", "llm"), fusion.llm.PROMPT)
    out = []
    for i, text in enumerate(tqdm(texts, desc="LLM label scores", unit="line", disable=not progress)):
        if text not in cache.data:
            cache.data[text] = fusion.llm.raw_logprobs(text).tolist()
            if i % 50 == 0:
                cache.save()
        out.append(cache.data[text])
    cache.save()
    return np.asarray(out, dtype=np.float64)


def train_director(
    corpus: str | Path,
    out: str | Path,
    use_llm: bool = True,
    limit_train: int | None = 1200,
    limit_valid: int | None = 400,
    limit_test: int | None = 600,
    test_split: str = "test-unseen-speakers",
    progress: bool = True,
) -> dict:
    t0 = time.perf_counter()
    splits = {}
    for name, limit in (("train", limit_train), ("valid", limit_valid), (test_split, limit_test)):
        splits[name] = _sample(read_corpus(corpus, split=name), limit)
        if not splits[name]:
            raise BadInputError(f"no labelled clips in split {name!r}", source=corpus)
    fusion = EmotionFusion(use_llm=use_llm)
    inputs = {k: cue_inputs(v, progress) for k, v in splits.items()}
    labels = {k: [r.emotion for r in v] for k, v in splits.items()}
    raw = {
        k: llm_raw_scores(fusion, [x.text for x in v], progress) if use_llm else None
        for k, v in inputs.items()
    }
    fusion.fit_cues(inputs["train"], labels["train"], raw["train"])
    tables = {k: fusion.cue_table(inputs[k], labels[k], raw[k]) for k in splits}
    fusion.fit_stacker(tables["valid"])
    accuracy = {k: fusion.evaluate(tables[k]) for k in ("valid", test_split)}
    if use_llm:  # the same tables through the stacker without the LLM cue (what --no-llm decides with)
        without = fusion.without_llm()
        for k in ("valid", test_split):
            accuracy[k]["fused_without_llm"] = without.evaluate(tables[k])["fused"]
    report = {
        "corpus": str(corpus),
        "clips": {k: len(v) for k, v in splits.items()},
        "accuracy": accuracy,
        "use_llm": use_llm,
        "train_seconds": round(time.perf_counter() - t0, 1),
    }
    fusion.save(out, info=report)
    return report
