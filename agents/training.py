"""Training and measuring the director's emotion decision on a labelled corpus.

Face, scene and LLM-calibration cues are fit on the train split. The fusion learns how far to trust each cue
where the cues cannot cheat: on **out-of-look** predictions of the train split, each face predicted by a
face cue fit on the other drawing styles, each scene by a scene cue fit on the other palettes, each LLM
score by a calibration fit on the other folds. A fusion stacked on the valid split instead (same looks as
train) learned to trust the face and the light most, and on footage drawn by someone else they are the
least reliable cues (6 new clips: fused right 0 times, text alone 5). Every cue alone and the fusion are
measured on the valid split and on each held-out split. The LLM's raw label scores are cached per line
text, and visual features per video, so reruns cost seconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np

from agents.cues import NUM_CLASSES, CueInput, LLMLabelCue
from agents.fusion import CueTable, EmotionFusion
from corpora.readers import read_corpus
from corpora.records import ClipRecord
from ground.config import get_config
from ground.errors import BadInputError
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


def llm_raw_scores(fusion: EmotionFusion, inputs: list[CueInput], progress: bool = True) -> np.ndarray:
    """The LLM's raw label scores of each line with its perception summary, cached per prompt."""
    from tqdm import tqdm

    backend = fusion.llm.backend
    cache = LLMScoreCache(getattr(backend, "model_id", "llm"), fusion.llm.PROMPT)
    out = []
    for i, x in enumerate(tqdm(inputs, desc="LLM label scores", unit="line", disable=not progress)):
        key = fusion.llm.prompt(x)
        if key not in cache.data:
            cache.data[key] = fusion.llm.raw_logprobs(x).tolist()
            if i % 50 == 0:
                cache.save()
        out.append(cache.data[key])
    cache.save()
    return np.asarray(out, dtype=np.float64)


def look_of(record: ClipRecord, cue: str) -> str:
    """The look a cue reads, for grouping: the face's drawing style, the scene's palette (the manifest's;
    a film without a named palette is lit at random, one group of its own)."""
    meta = record.meta or {}
    return str(meta.get("drawing" if cue == "face" else "palette") or "default")


def out_of_look_table(fusion: EmotionFusion, records, inputs, labels, raw, folds: int = 5) -> CueTable:
    """The train split's cue table with every trained cue predicting only what it was not fit on: the face
    cue by drawing style, the scene cue by palette, the LLM calibration by fold of sentences."""
    table = fusion.cue_table(inputs, labels, raw)
    n = len(records)
    for cue in ("face", "scene"):
        groups = np.array([look_of(r, cue) for r in records])
        if len(set(groups)) < 2:
            log.warning("one %s look in the train split: its cue is stacked on its own training data", cue)
            continue
        out = np.empty((n, NUM_CLASSES))
        for g in sorted(set(groups)):
            held = groups == g
            other = type(getattr(fusion, cue))()
            rows = [(other.vector(x), y) for x, y, h in zip(inputs, labels, held, strict=True) if not h]
            rows = [(v, y) for v, y in rows if v is not None]
            if len({y for _, y in rows}) > 1:
                other.fit(np.stack([v for v, _ in rows]), [y for _, y in rows])
            out[held] = np.stack([other.probabilities(inputs[i]) for i in np.flatnonzero(held)])
        table.probabilities[cue] = out
    # folds by sentence: the open corpus says a sentence in several clips, and a fold must hold out its text
    fold = np.array([int(hashlib.sha1(x.text.encode()).hexdigest()[:8], 16) % folds for x in inputs])
    if fusion.llm is not None and raw is not None:
        out = np.empty((n, NUM_CLASSES))
        for f in range(folds):
            other = LLMLabelCue()  # calibration only: no backend needed
            other.fit(raw[fold != f], [y for y, k in zip(labels, fold, strict=True) if k != f])
            out[fold == f] = other.probabilities_from_raw(raw[fold == f])
        table.probabilities["llm"] = out
    return table


def train_director(
    corpus: str | Path,
    out: str | Path,
    use_llm: bool = True,
    limit_train: int | None = 1200,
    limit_valid: int | None = 400,
    limit_test: int | None = 600,
    test_splits: tuple[str, ...] | None = None,
    progress: bool = True,
) -> dict:
    """Fit the cues and the fusion (see the module notes); measure on valid and every held-out split
    (default: the corpus's test splits)."""
    t0 = time.perf_counter()
    every = read_corpus(corpus)
    present = sorted({str(r.split) for r in every if r.split})
    test_splits = tuple(test_splits or [s for s in present if s.startswith("test")])
    splits = {}
    for name, limit in (
        ("train", limit_train),
        ("valid", limit_valid),
        *((t, limit_test) for t in test_splits),
    ):
        splits[name] = _sample([r for r in every if r.split == name], limit)
        if not splits[name] and name == "train":
            raise BadInputError(
                "no labelled clips in split 'train'", source=corpus, hint="splits: " + ", ".join(present)
            )
        if not splits[name]:  # measured only: a small corpus may have none
            log.warning("no labelled clips in split %r: not measured", name)
            del splits[name]
    fusion = EmotionFusion(use_llm=use_llm)
    inputs = {k: cue_inputs(v, progress) for k, v in splits.items()}
    labels = {k: [r.emotion for r in v] for k, v in splits.items()}
    raw = {k: llm_raw_scores(fusion, v, progress) if use_llm else None for k, v in inputs.items()}
    stack_table = out_of_look_table(fusion, splits["train"], inputs["train"], labels["train"], raw["train"])
    fusion.fit_cues(inputs["train"], labels["train"], raw["train"])
    tables = {k: fusion.cue_table(inputs[k], labels[k], raw[k]) for k in splits if k != "train"}
    fusion.fit_stacker(stack_table)
    accuracy = {"train (out of look)": fusion.evaluate(stack_table)}
    accuracy.update({k: fusion.evaluate(table) for k, table in tables.items()})
    if use_llm:  # the same tables through the stacker without the LLM cue (what --no-llm decides with)
        without = fusion.without_llm()
        for k, table in tables.items():
            accuracy[k]["fused_without_llm"] = without.evaluate(table)["fused"]
    report = {
        "corpus": str(corpus),
        "clips": {k: len(v) for k, v in splits.items()},
        "accuracy": accuracy,
        "use_llm": use_llm,
        "train_seconds": round(time.perf_counter() - t0, 1),
    }
    fusion.save(out, info=report)
    return report
