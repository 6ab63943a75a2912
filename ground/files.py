"""Writing a file so that no reader, and no crash, ever sees half of it: write a temporary sibling, then
rename it over the target in one step (``os.replace`` is atomic within a filesystem).

Every artefact a later run trusts (caches, checkpoints, manifests, job state, rendered media) is written
this way, so an interrupted run leaves the old file or the new one, never a torn one to resume from.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path


def temporary_sibling(path: Path, suffix: str = "") -> Path:
    """A hidden name beside ``path``, unique per process and thread. ``suffix`` is for writers that pick the
    format from the name (``np.savez`` adds ``.npz`` to any other name)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp{suffix}")


@contextlib.contextmanager
def replacing(path: str | Path, suffix: str = "", durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new content to; when the block ends without an error it
    replaces ``path``, otherwise it is removed. ``durable`` fsyncs it first (job state a crash must keep)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path, suffix)
    try:
        yield tmp
        if durable:
            with tmp.open("rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes, durable: bool = False) -> None:
    with replacing(path, durable=durable) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str, durable: bool = False) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def atomic_write_json(path: str | Path, doc, indent: int | None = 1, durable: bool = False) -> None:
    """``doc`` as JSON (``default=str`` for paths and the like), newline-terminated."""
    text = json.dumps(doc, indent=indent, default=str, ensure_ascii=False) + "\n"
    atomic_write_text(path, text, durable=durable)
