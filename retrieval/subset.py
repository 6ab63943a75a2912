"""A small library cut from a big one: what ships in ``assets/library`` so that the demo and a fresh install
have reference footage without building a library first.

    dubber library subset --db runs/library --out assets/library --split train --per-emotion 50

Rows are copied as they are (same extractor version, same vectors), balanced over the emotion labels and
picked deterministically (clip id order); media locations still point at the source corpus, which the
director never opens (it reads captions and vectors).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ground.errors import BadInputError


def subset_library(source: str, out: str | Path, split: str | None = "train", per_emotion: int = 50) -> dict:
    from retrieval.library import ReferenceLibrary, sql_str

    src = ReferenceLibrary.open(source)
    where = f"split = {sql_str(split)}" if split else None
    ids_by_emotion: dict[str, list[str]] = {}
    for row in src.scan(["emotion"], where=where).to_pylist():
        ids_by_emotion.setdefault(row["emotion"] or "unlabelled", []).append(row["clip_id"])
    chosen = [cid for ids in ids_by_emotion.values() for cid in sorted(ids)[:per_emotion]]
    if not chosen:
        raise BadInputError(f"no rows{' in split ' + split if split else ''} to copy", source=source)
    out = Path(out)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    dst = ReferenceLibrary.open(str(tmp), create=True)
    rows = src.rows(chosen)
    for i in range(0, len(rows), 256):
        dst.upsert(rows[i : i + 256])
    dst.set_meta({k: v for k, v in src.meta().items() if not k.startswith("neighbours")})
    dst.optimize()
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return {"source": str(source), "out": str(out), "rows": len(rows), "bytes": size,
            "per_emotion": {k: min(len(v), per_emotion) for k, v in ids_by_emotion.items()}}  # fmt: skip
