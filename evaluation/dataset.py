"""Clip records for evaluation: any corpus the readers take (``corpora.readers``), one or several splits."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from corpora.readers import read_corpus
from corpora.records import SPLITS, ClipRecord
from ground.errors import BadInputError


def _split_set(split: str | Iterable[str] | None) -> set[str] | None:
    if split is None:
        return None
    names = {split} if isinstance(split, str) else set(split)
    unknown = names - set(SPLITS)
    if unknown:
        raise BadInputError(f"unknown split {sorted(unknown)[0]!r}", hint="one of " + ", ".join(SPLITS))
    return names


def load_records(corpus_dir: str | Path, split: str | Iterable[str] | None = None) -> list[ClipRecord]:
    """Records of ``corpus_dir`` (of ``split`` if given: one split name or several), in corpus order."""
    wanted = _split_set(split)
    return [r for r in read_corpus(corpus_dir) if wanted is None or r.split in wanted]
