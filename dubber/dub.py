"""``dubber dub``: speak a line in a character's voice over a silent clip, lip-synced, with the emotion the
scene calls for. Writes the wav (and optionally an mp4 with the dubbed track, and the message log)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--video", type=Path, required=True, help="the silent clip")
    p.add_argument("--text", help="the line to speak")
    p.add_argument("--text-file", type=Path, help="read the line from a UTF-8 file instead")
    p.add_argument("--voice", type=Path, required=True, help="a voice prompt: a few seconds of the character")
    p.add_argument("--out", type=Path, required=True, help="where to write the dubbed line (wav)")
    p.add_argument("--mp4", type=Path, help="also write the clip with the dubbed track muxed in")
    p.add_argument("--log", type=Path, help="append every director-actor message here (msgpack stream)")
    p.add_argument("--character", help="who speaks (the director keeps context per character)")
    p.add_argument("--language", help="the line's language (ISO 639-1); default: detected")
    p.add_argument("--fit", choices=["refuse", "speed"], default="refuse",
                   help="a line too long for the clip: refuse (default) or speak it faster, bounded")  # fmt: skip
    p.add_argument("--no-llm", action="store_true", help="direct without the LLM (cues and templates only)")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")


def run(args: argparse.Namespace) -> int:
    from ground.errors import BadInputError
    from stage.dubbing import DubbingStage
    from stage.output import dub_to_files, outcome_report

    if (args.text is None) == (args.text_file is None):
        raise BadInputError("give the line with exactly one of --text or --text-file")
    text = args.text if args.text is not None else args.text_file.read_bytes()
    if not args.video.is_file():
        raise BadInputError("video not found", source=args.video)
    outcome = dub_to_files(
        DubbingStage(use_llm=not args.no_llm), args.video.stem, args.video, text, args.voice, args.out,
        args.mp4, args.log, character=args.character, language=args.language, fit=args.fit,
    )  # fmt: skip
    report = outcome_report(outcome, args.out, args.mp4, args.log)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        g = outcome.guidance
        print(
            f"{g.emotion} (intensity {g.intensity:.2f}), take {outcome.chosen_take} of {outcome.takes}: {g.direction}"
        )
        for key in ("wav", "mp4", "log"):
            if report[key]:
                print(f"  {key}: {report[key]}")
        for w in outcome.warnings:
            print(f"  warning: {w}", file=sys.stderr)
    return 0
