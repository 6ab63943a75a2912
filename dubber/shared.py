"""Process-wide model instances: one of each loaded model per process, created on first use."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def process_wide(factory: Callable[[], T]) -> Callable[[], T]:
    """Decorate a no-argument factory so every call returns the one instance it made first (thread-safe)."""
    lock = threading.Lock()
    made: list[T] = []

    @functools.wraps(factory)
    def get() -> T:
        with lock:
            if not made:
                made.append(factory())
            return made[0]

    return get
