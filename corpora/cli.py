"""Synthetic corpus tools: render single clips (the bundled demo clip is made this way)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)
    clip = sub.add_parser("clip", help="render one clip folder (video.mp4, audio.wav, line.txt, meta.json)")
    clip.add_argument("--text", required=True, help="the line to say")
    clip.add_argument("--voice", default="flite_slt", help="voice id from the voice bank (default flite_slt)")
    clip.add_argument("--emotion", default="neutral", help="one of the 8 emotion classes")
    clip.add_argument("--intensity", type=float, default=1.0, help="0..1 (default 1)")
    clip.add_argument("--scene-emotion", help="emotion of the scene's light (default: the line's)")
    clip.add_argument("--seed", type=int, default=0, help="fixes the face, head motion and scene")
    clip.add_argument("--out", type=Path, required=True, help="output folder")
    sub.add_parser("voices", help="list the voice bank (id, engine, licence)")


def run(args: argparse.Namespace) -> int:
    if args.corpus_command == "voices":
        from corpora.voices import VOICE_BANK

        for v in VOICE_BANK:
            print(f"{v.id:14s} {v.engine:9s} {v.gender:7s} {v.licence}")
        return 0
    from corpora.clip import ClipSpec, render_clip
    from corpora.emotions import EMOTIONS
    from dubber.errors import BadInputError
    from perception.text import decode_line

    if args.emotion not in EMOTIONS:
        raise BadInputError(f"unknown emotion {args.emotion!r}", hint="one of " + ", ".join(EMOTIONS))
    spec = ClipSpec(
        clip_id=args.out.name,
        text=decode_line(args.text),
        voice_id=args.voice,
        emotion=args.emotion,
        intensity=args.intensity,
        scene_emotion=args.scene_emotion,
        seed=args.seed,
    )
    meta = render_clip(spec, args.out)
    print(json.dumps({k: meta[k] for k in ("clip_id", "voice_id", "emotion", "num_frames", "duration_s")}))
    return 0
