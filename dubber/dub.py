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
    import soundfile as sf

    from dubber.errors import BadInputError
    from dubber.message_log import MessageLogWriter
    from dubber.stage import DubbingStage
    from perception.audio import load_audio

    if (args.text is None) == (args.text_file is None):
        raise BadInputError("give the line with exactly one of --text or --text-file")
    text = args.text if args.text is not None else args.text_file.read_bytes()
    if not args.video.is_file():
        raise BadInputError("video not found", source=args.video)
    prompt = load_audio(args.voice)
    from dubber.config import get_config

    sr = get_config().media.sample_rate
    stage = DubbingStage(use_llm=not args.no_llm)
    log_writer = MessageLogWriter(args.log) if args.log else None
    try:
        outcome = stage.dub_line(
            stage.session(args.video.stem), 1, args.video, text, prompt, sr,
            character=args.character, language=args.language, fit=args.fit,
            emit=log_writer or (lambda m: None),
        )  # fmt: skip
    finally:
        if log_writer:
            log_writer.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(args.out, outcome.audio, outcome.sample_rate)
    if args.mp4:
        from perception.video import mux_audio

        mux_audio(args.video, outcome.audio, outcome.sample_rate, args.mp4)
    report = {
        "wav": str(args.out), "mp4": str(args.mp4) if args.mp4 else None, "log": str(args.log) if args.log else None,
        "emotion": outcome.guidance.emotion, "intensity": outcome.guidance.intensity,
        "direction": outcome.guidance.direction, "takes": outcome.takes, "chosen_take": outcome.chosen_take,
        "scores": outcome.scores, "seconds": outcome.seconds, "warnings": outcome.warnings,
        "references": {m: [r.clip_id for r in refs] for m, refs in outcome.references.items()},
    }  # fmt: skip
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
