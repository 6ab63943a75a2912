"""Run the main job on the bundled demo clip (assets/demo): perception of the silent video, the voice
and the line, printed as a readable summary (and as JSON with --json)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dubber.config import REPO_ROOT

DEMO_DIR = REPO_ROOT / "assets" / "demo"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--clip", type=Path, default=DEMO_DIR, help="clip folder (video.mp4, audio.wav, line.txt)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    from dubber.errors import BadInputError
    from perception.cli import print_summary
    from perception.pipeline import ClipPerceiver
    from perception.text import decode_line

    clip: Path = args.clip
    video, audio, line = clip / "video.mp4", clip / "audio.wav", clip / "line.txt"
    for f in (video, audio, line):
        if not f.is_file():
            raise BadInputError("demo clip file is missing", source=f, hint="re-create it: make demo-clip")
    print(f"Perceiving the demo clip in {clip} ...", file=sys.stderr)
    summary = (
        ClipPerceiver()
        .perceive(video, audio=audio, text=decode_line(line.read_bytes(), source=line))
        .summary()
    )
    print_summary(summary, as_json=args.json)
    return 0
