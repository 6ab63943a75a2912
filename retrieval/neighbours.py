"""Training-time retrieval: every clip's top-K references, precomputed once so training never queries.

The pool is the training split (``library.pool_split``) and any ``reference`` footage (library-only clips,
never trained on): a training clip's references are other pool clips, and a valid or test clip's references
are pool clips too, as at inference, so nothing from the held-out splits leaks into training. K up to
``library.max_k`` (5) is stored, so the ablations (K in 0, 1, 3, 5) read the first K. The result is the
``neighbours`` table next to the references, in the same LanceDB database (any URI).

Similarities are exact cosines computed in numpy from one scan of the caption vectors (the same numbers a
brute-force LanceDB search gives), in chunks so 100k rows stay within memory.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from lancedb.pydantic import LanceModel

from corpora.records import REFERENCE_SPLIT
from ground.config import DubberConfig, get_config
from ground.errors import BadInputError
from retrieval.library import ReferenceLibrary, sql_str, vector_matrix
from retrieval.schema import NEIGHBOURS_TABLE, SEARCH_MODALITIES, VECTOR_DIMS, vector_column

log = logging.getLogger(__name__)

_CHUNK = 512  # query rows per similarity block: 512 x 100k float32 = 200 MB


class NeighbourRow(LanceModel):
    clip_id: str
    split: str | None = None
    pool_split: str
    k: int
    scene_ids: list[str]
    scene_sims: list[float]
    face_ids: list[str]
    face_sims: list[float]
    text_ids: list[str]
    text_sims: list[float]
    extractor_version: str
    made_at: float


@dataclass
class NeighbourReport:
    uri: str
    rows: int  # clips that got neighbours
    pool: int  # pool clips they were drawn from
    pool_split: str
    k: int
    exclude_same_film: bool
    exclude_same_speaker: bool
    seconds: float
    pool_splits: dict[str, int] = field(default_factory=dict)  # pool clips per split (train, reference)

    def pool_description(self) -> str:
        """E.g. "1260 clips (1004 train + 256 reference)", or "900 'train' clips" for a one-split pool."""
        present = {s: n for s, n in self.pool_splits.items() if n}
        if len(present) > 1:
            return f"{self.pool} clips ({' + '.join(f'{n} {s}' for s, n in present.items())})"
        return f"{self.pool} {next(iter(present), self.pool_split)!r} clips"  # the split actually drawn from


def _topk(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the indices and values of the k largest entries, best first (ties: lower index first)."""
    k = min(k, sims.shape[1])
    part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(sims, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)


def retrieval_pool(pool_split: str) -> tuple[str, ...]:
    """The splits references are drawn from: ``pool_split`` and the library-only ``reference`` footage
    (clips the actor never trains on, so drawing from them leaks nothing)."""
    return (pool_split, REFERENCE_SPLIT) if pool_split != REFERENCE_SPLIT else (pool_split,)


def compute_neighbours(
    uri: str | Path | None = None,
    k: int | None = None,
    *,
    pool_split: str | None = None,
    exclude_same_film: bool = False,
    exclude_same_speaker: bool = False,
    config: DubberConfig | None = None,
) -> NeighbourReport:
    """Compute and store every library clip's top-``k`` per modality from the ``pool_split`` clips."""
    cfg = config or get_config()
    k = int(k or cfg.library.max_k)
    pool_split = pool_split or cfg.library.pool_split
    if k < 1:
        raise BadInputError(f"k must be at least 1, got {k}")
    t0 = time.perf_counter()
    lib = ReferenceLibrary.open(uri, config=cfg)
    columns = [vector_column(m) for m in SEARCH_MODALITIES]
    data = lib.scan([*columns, "split", "film", "speaker", "extractor_version"])
    ids = data["clip_id"].to_pylist()
    vecs = {c: vector_matrix(data[c]) for c in columns}
    splits = data["split"].to_pylist()
    versions = data["extractor_version"].to_pylist()
    pool_splits = retrieval_pool(pool_split)
    pool = np.flatnonzero(np.array([s in pool_splits for s in splits], dtype=bool))
    if len(pool) <= k:
        raise BadInputError(
            f"the library has {len(pool)} clips in split {pool_split!r}; more than k={k} are needed",
            source=lib.uri,
            hint="build it from a corpus with a train split, or pass --pool-split",
        )
    # a missing film or speaker never equals another clip's
    films = np.array(
        [f or f"\0{i}" for f, i in zip(data["film"].to_pylist(), ids, strict=True)], dtype=object
    )
    speakers = np.array(
        [s or f"\0{i}" for s, i in zip(data["speaker"].to_pylist(), ids, strict=True)], dtype=object
    )
    result: dict[str, dict[str, np.ndarray]] = {}
    for m, c in zip(SEARCH_MODALITIES, columns, strict=True):
        X = vecs[c] / np.maximum(np.linalg.norm(vecs[c], axis=1, keepdims=True), 1e-12)
        P = X[pool]
        idx_all, sim_all = [], []
        for start in range(0, len(ids), _CHUNK):
            rows = np.arange(start, min(start + _CHUNK, len(ids)))
            sims = X[rows] @ P.T
            mask = rows[:, None] == pool[None, :]  # the clip itself
            if exclude_same_film:
                mask |= films[rows][:, None] == films[pool][None, :]
            if exclude_same_speaker:
                mask |= speakers[rows][:, None] == speakers[pool][None, :]
            sims[mask] = -np.inf
            idx, val = _topk(sims, k)
            idx_all.append(pool[idx])
            sim_all.append(val)
        result[m] = {"idx": np.vstack(idx_all), "sim": np.vstack(sim_all)}
    now = time.time()
    out = []
    for n, clip in enumerate(ids):
        row = {
            "clip_id": clip,
            "split": splits[n],
            "pool_split": pool_split,
            "k": k,
            "extractor_version": versions[n],
            "made_at": now,
        }
        for m in SEARCH_MODALITIES:
            keep = np.isfinite(result[m]["sim"][n])  # fewer than k candidates left after exclusions
            row[f"{m}_ids"] = [ids[j] for j in result[m]["idx"][n][keep]]
            row[f"{m}_sims"] = [round(float(s), 6) for s in result[m]["sim"][n][keep]]
        out.append(row)
    with lib._guard("write the neighbours table"):
        lib.db.create_table(NEIGHBOURS_TABLE, data=out, schema=NeighbourRow, mode="overwrite")
    lib.set_meta(
        {
            "neighbours_k": str(k),
            "neighbours_pool_split": pool_split,
            "neighbours_rows": str(len(ids)),
            "neighbours_exclude": ",".join(
                n for n, on in (("film", exclude_same_film), ("speaker", exclude_same_speaker)) if on
            ),
            "neighbours_made_at": f"{now:.0f}",
        }
    )
    report = NeighbourReport(
        uri=lib.uri,
        rows=len(ids),
        pool=len(pool),
        pool_split=pool_split,
        k=k,
        exclude_same_film=exclude_same_film,
        exclude_same_speaker=exclude_same_speaker,
        seconds=round(time.perf_counter() - t0, 3),
        pool_splits={p: sum(splits[i] == p for i in pool) for p in pool_splits},
    )
    log.info("neighbours: %d clips, top-%d from %s", len(ids), k, report.pool_description())
    return report


def load_neighbours(
    uri: str | Path | None = None,
    k: int | None = None,
    *,
    split: str | None = None,
    with_similarity: bool = False,
    config: DubberConfig | None = None,
) -> dict[str, dict[str, list]]:
    """{clip_id: {modality: [neighbour ids, best first]}} for every clip (or one ``split``'s), first ``k``.

    ``with_similarity``: {modality: [(id, cosine), ...]} instead. ``k`` above the stored K is refused."""
    cfg = config or get_config()
    lib = ReferenceLibrary.open(uri, config=cfg)
    if not lib._has_table(NEIGHBOURS_TABLE):
        raise BadInputError(
            "the library has no precomputed neighbours",
            source=lib.uri,
            hint="run: dubber library neighbours --db URI",
        )
    with lib._guard("read the neighbours"):
        q = lib.db.open_table(NEIGHBOURS_TABLE).search()
        if split is not None:
            q = q.where(f"split = {sql_str(split)}")
        rows = q.limit(None).to_arrow().to_pylist()
    if not rows:
        return {}
    stored = min(r["k"] for r in rows)
    k = stored if k is None else int(k)
    if k > stored:
        raise BadInputError(
            f"neighbours were precomputed for k={stored}, {k} asked",
            source=lib.uri,
            hint=f"run: dubber library neighbours --db URI --k {k}",
        )
    if lib.count() != int(lib.meta().get("neighbours_rows", -1)):
        log.warning("the library changed since its neighbours were computed; run dubber library neighbours")
    out: dict[str, dict[str, list]] = {}
    for r in rows:
        if with_similarity:
            out[r["clip_id"]] = {
                m: list(zip(r[f"{m}_ids"][:k], r[f"{m}_sims"][:k], strict=True)) for m in SEARCH_MODALITIES
            }
        else:
            out[r["clip_id"]] = {m: list(r[f"{m}_ids"][:k]) for m in SEARCH_MODALITIES}
    return out


def load_reference_vectors(
    uri: str | Path | None = None,
    columns: tuple[str, ...] = ("scene_vector", "face_vector", "text_vector", "audio_vector"),
    config: DubberConfig | None = None,
) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """({clip_id: row}, {column: (n, dim) float32}) of the whole library in one scan: what actor training
    looks its neighbours' caption and audio emotion vectors up in."""
    unknown = [c for c in columns if c not in VECTOR_DIMS]
    if unknown:
        raise BadInputError(f"unknown vector columns {unknown}", hint="one of " + ", ".join(VECTOR_DIMS))
    lib = ReferenceLibrary.open(uri, config=config)
    ids, vecs = lib.vectors(list(columns))
    return {c: i for i, c in enumerate(ids)}, vecs
