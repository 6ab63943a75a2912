"""Errors a person can act on.

Every error the user can cause (bad files, bad options, missing components) is a ``DubberError``. The CLI
prints it as one line (``error: <file>: <problem>``) and exits non-zero, with no traceback.
"""

from __future__ import annotations

import re
from pathlib import Path

# an absolute path of two or more parts (POSIX or Windows), up to a space, quote, colon-space or bracket
_ABSOLUTE_PATH = re.compile(
    r"(?:(?<=^)|(?<=[\s'\"(=]))(?:[A-Za-z]:\\|/)(?:[^\s'\"():\\/]+[\\/])+([^\s'\"():\\/]*)"
)


def without_paths(text: str) -> str:
    """A message fit for a client of the server: every absolute path becomes its last part (``.../clip.mp4``),
    so no reply tells a client where the server keeps its files."""
    return _ABSOLUTE_PATH.sub(lambda m: ".../" + m.group(1), text)


class DubberError(Exception):
    """Base class for errors that are reported to the user as a single line."""

    exit_code = 2

    def __init__(self, problem: str, *, source: str | Path | None = None, hint: str | None = None):
        self.problem = problem
        self.source = str(source) if source is not None else None
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = f"{self.source}: {self.problem}" if self.source else self.problem
        if self.hint:
            text += f" ({self.hint})"
        return text


class BadInputError(DubberError):
    """A user-supplied file or value cannot be used (corrupt video, silent audio, empty line...)."""


class NoFaceError(BadInputError):
    """A video in which no face is ever found."""


class MissingComponentError(DubberError):
    """A package, Debian program, model file or backend that is needed is not installed."""

    exit_code = 3
