"""What every benchmark script shares: printing its result and keeping it as JSON."""

from __future__ import annotations

import json
from pathlib import Path


def report(result: dict, out: Path | None) -> None:
    """Print ``result`` as JSON and, with ``out``, write it there (folders made as needed)."""
    text = json.dumps(result, indent=1)
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
