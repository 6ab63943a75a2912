"""The ``dubber`` command and its top-level jobs (demo, dub, logs): the entry points above every room."""

import ground  # noqa: F401  - the process environment (no hub access) before anything loads a model

__version__ = "0.1.0"
