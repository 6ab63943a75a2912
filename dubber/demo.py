"""The main job on the bundled demo clip (assets/demo): dub its line over the silent video in the demo
character's voice, end to end (perception, director, library, actor, review loop), and print where the
wav, the mp4 with the dubbed track and the message log are. ``--perceive-only`` prints what perception
finds instead."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ground.config import REPO_ROOT

DEMO_DIR = REPO_ROOT / "assets" / "demo"
DEMO_OUT = REPO_ROOT / "runs" / "demo"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--clip", type=Path, default=DEMO_DIR,
                   help="clip folder (video.mp4, line.txt, voice.wav = the character's voice prompt)")  # fmt: skip
    p.add_argument("--out", type=Path, default=DEMO_OUT, help="where the dubbed wav, mp4 and log go")
    p.add_argument("--no-llm", action="store_true", help="direct without the LLM (faster first run)")
    p.add_argument("--perceive-only", action="store_true", help="only print what perception finds")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")


def run(args: argparse.Namespace) -> int:
    from ground.errors import BadInputError
    from perception.text import decode_line

    clip: Path = args.clip
    video, line, voice = clip / "video.mp4", clip / "line.txt", clip / "voice.wav"
    for f in (video, line, voice):
        if not f.is_file():
            raise BadInputError("demo clip file is missing", source=f, hint="re-create it: make demo-clip")
    text = decode_line(line.read_bytes(), source=line)
    if args.perceive_only:
        from perception.cli import print_summary
        from perception.pipeline import ClipPerceiver

        print_summary(
            ClipPerceiver().perceive(video, audio=clip / "audio.wav", text=text).summary(), args.json
        )
        return 0

    from stage.dubbing import DubbingStage
    from stage.output import dub_to_files, outcome_report

    out: Path = args.out
    wav, mp4, log_path = out / "dubbed.wav", out / "dubbed.mp4", out / "messages.msgpack"
    log_path.unlink(missing_ok=True)  # one demo run, one log
    print(f"Dubbing the demo clip {clip} ...", file=sys.stderr)
    stage = DubbingStage(use_llm=not args.no_llm)
    outcome = dub_to_files(stage, "demo", video, text, voice, wav, mp4, log_path, character="demo")
    g = outcome.guidance
    report = {"line": text, **outcome_report(outcome, wav, mp4, log_path)}
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f'"{text}"')
    print(f"  director: {g.emotion} (intensity {g.intensity:.2f}): {g.direction}")
    s = outcome.scores
    print(
        f"  take {outcome.chosen_take} of {outcome.takes}: duration error {s['duration_error_frames']:+.1f} frames, "
        f"sync offset {s.get('sync_offset_frames')}, speaker similarity {s.get('speaker_similarity')}, "
        f"emotion match {s.get('emotion_match')} ({outcome.seconds:.1f} s)"
    )
    print(f"  wav: {wav}\n  mp4: {mp4}\n  log: {log_path}")
    return 0
