"""Perceive a video clip: share of frames with a face, lip-opening statistics, facial expression
probabilities and scene statistics; with --audio also prosody, eGeMAPS, the speaker embedding and the
lip/loudness synchrony; with --text also the normalised line and its IPA phonemes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("video", type=Path, help="video file (mp4, mkv, mov, webm)")
    p.add_argument("--audio", type=Path, help="speech for this clip (wav, flac, mp3...), resampled to 16 kHz")
    p.add_argument("--text", help="the line spoken in the clip")
    p.add_argument("--text-file", type=Path, help="read the line from a UTF-8 text file instead")
    p.add_argument("--json", action="store_true", help="print the summary as JSON (default: readable text)")
    p.add_argument("--allow-no-face", action="store_true", help="do not fail when no face is ever found")


def run(args: argparse.Namespace) -> int:
    from ground.errors import BadInputError
    from perception.pipeline import ClipPerceiver
    from perception.text import decode_line

    text: str | None = None if args.text is None else decode_line(args.text, source="--text")
    if args.text_file is not None:
        if not args.text_file.is_file():
            raise BadInputError("text file not found", source=args.text_file)
        text = decode_line(args.text_file.read_bytes(), source=args.text_file)
    perception = ClipPerceiver().perceive(
        args.video, audio=args.audio, text=text, require_face=not args.allow_no_face
    )
    print_summary(perception.summary(), as_json=args.json)
    return 0


def print_summary(summary: dict, as_json: bool) -> None:
    if as_json:
        json.dump(summary, sys.stdout, indent=2, ensure_ascii=False)
        print()
    else:
        print(format_summary(summary))


def format_summary(s: dict) -> str:
    lines = [
        f"{s['source']}: {s['frames']} frames at {s['fps']:g} fps ({s['duration_s']:.2f} s)",
        f"  face found in {s['face']['share']:.1%} of frames",
    ]
    inner = s["lips"]["inner_opening"]
    if inner["mean"] is not None:
        lines.append(
            f"  inner lip opening: mean {inner['mean']:.3f}, p90 {inner['p90']:.3f}, max {inner['max']:.3f}"
        )
    probs = s["expression"]["probabilities"]
    ranked = sorted(probs.items(), key=lambda kv: -kv[1])[:3]
    lines.append("  expression: " + ", ".join(f"{k} {v:.2f}" for k, v in ranked))
    sc = s["scene"]
    lines.append(
        f"  scene: brightness {sc['brightness_mean']:.2f}, saturation {sc['saturation_mean']:.2f}, "
        f"warmth {sc['warmth']:+.2f}, motion {sc['motion_mean']:.3f}"
    )
    if "audio" in s:
        a = s["audio"]
        lines.append(
            f"  audio: {a['duration_s']:.2f} s, F0 {a['f0_mean_hz']:.0f}+-{a['f0_std_hz']:.0f} Hz, "
            f"voiced {a['voiced_share']:.0%}"
        )
    if "av_sync" in s:
        v = s["av_sync"]
        lines.append(
            f"  lip/loudness: correlation {v['lip_loudness_correlation']:+.2f}, best offset "
            f"{v['offset_frames']:+d} frames (confidence {v['confidence']:.2f})"
        )
    if "text" in s:
        t = s["text"]
        lines.append(f"  text: {t['normalised']!r}")
        lines.append(f"  phonemes ({t['num_phonemes']}): {t['phonemes']}")
    return "\n".join(lines)
