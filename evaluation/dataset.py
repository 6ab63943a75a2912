"""Clip records for evaluation: the synthetic corpus's ``manifest.jsonl`` read into ``ClipRecord`` lists.

A corpus folder ``DIR`` holds ``DIR/manifest.jsonl``, one JSON object per clip (``clip_id``, ``dir``
relative to ``DIR``, ``split``, ``film``, ``character``, ``speaker``, ``emotion``, ``intensity``,
``wording``, ``text``, ``duration_s``, ``num_frames``, ``status``, ``reason``); each clip folder holds
``video.mp4``, ``audio.wav``, ``line.txt`` and ``meta.json``. Only clips with ``status == "ok"`` are read.
``num_frames``, ``duration_s``, ``wording`` and ``dir`` go into ``ClipRecord.meta``.

A folder without ``manifest.jsonl`` is handed to ``corpora.readers.read_corpus`` (other layouts, such as
V2C-Animation), when that reader is installed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from corpora.records import SPLITS, ClipRecord
from dubber.errors import BadInputError

MANIFEST = "manifest.jsonl"
_META_KEYS = ("num_frames", "duration_s", "wording", "dir", "fps")


def _record_from_row(row: dict, root: Path, source: Path, line_no: int) -> ClipRecord:
    try:
        clip_dir = root / row["dir"]
        return ClipRecord(
            clip_id=str(row["clip_id"]),
            video_path=(clip_dir / "video.mp4").resolve(),
            audio_path=(clip_dir / "audio.wav").resolve(),
            text=str(row["text"]),
            speaker=row.get("speaker"),
            character=row.get("character"),
            film=row.get("film"),
            emotion=row.get("emotion"),
            intensity=row.get("intensity"),
            split=row.get("split"),
            meta={k: row[k] for k in _META_KEYS if row.get(k) is not None},
        )
    except KeyError as exc:
        raise BadInputError(f"line {line_no}: missing field {exc.args[0]!r}", source=source) from None


def read_manifest(corpus_dir: str | Path, split: str | Iterable[str] | None = None) -> list[ClipRecord]:
    """``ClipRecord`` of every ``status: ok`` clip in ``corpus_dir/manifest.jsonl`` (of ``split`` if given:
    one split name or several), in manifest order."""
    root = Path(corpus_dir)
    if not root.is_dir():
        raise BadInputError("corpus folder not found", source=root)
    path = root / MANIFEST
    if not path.is_file():
        raise BadInputError(f"no {MANIFEST} in the corpus folder", source=root)
    wanted = _split_set(split)
    records: list[ClipRecord] = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInputError(f"line {i} is not JSON ({exc.msg})", source=path) from None
        if row.get("status", "ok") != "ok":
            continue
        if wanted is not None and row.get("split") not in wanted:
            continue
        records.append(_record_from_row(row, root, path, i))
    return records


def _split_set(split: str | Iterable[str] | None) -> set[str] | None:
    if split is None:
        return None
    names = {split} if isinstance(split, str) else set(split)
    unknown = names - set(SPLITS)
    if unknown:
        raise BadInputError(f"unknown split {sorted(unknown)[0]!r}", hint="one of " + ", ".join(SPLITS))
    return names


def load_records(corpus_dir: str | Path, split: str | Iterable[str] | None = None) -> list[ClipRecord]:
    """Records of a corpus folder: the manifest when there is one, else ``corpora.readers.read_corpus``."""
    root = Path(corpus_dir)
    if not root.is_dir():
        raise BadInputError("corpus folder not found", source=root)
    if (root / MANIFEST).is_file():
        return read_manifest(root, split)
    try:
        from corpora.readers import read_corpus
    except ImportError:
        raise BadInputError(f"no {MANIFEST} in the corpus folder", source=root) from None
    wanted = _split_set(split)
    records = read_corpus(root)
    return [r for r in records if wanted is None or r.split in wanted]
