"""Synthetic corpus tools: build the whole corpus, render single clips (the bundled demo clip is made
this way), list the voice bank."""

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
    sentences = sub.add_parser(
        "sentences",
        help="build the open-text sentence pool from Debian's fortunes (deterministic)",
        description="Curate Debian fortunes into 3-20 word English sentences labelled by emotion lexicons "
        "(NRC + VADER); needs the Debian packages fortunes, fortunes-min and wamerican.",
    )
    sentences.add_argument(
        "--out", type=Path, default=None, help="pool file (default assets/corpus/sentences.jsonl)"
    )
    sentences.add_argument(
        "--card", type=Path, default=None, help="also write the card (e.g. assets/corpus/SENTENCES.md)"
    )
    sentences.add_argument(
        "--coverage", action="store_true", help="phonemise the pool for the card (about 90 s cold, cached)"
    )
    synth = sub.add_parser(
        "synth",
        help="build (or resume building) the synthetic corpus",
        description="Build the synthetic audiovisual emotional corpus. Deterministic per --seed; rerun the "
        "same command on the same --out to resume after an interruption.",
    )
    synth.add_argument("--out", type=Path, required=True, help="corpus folder")
    synth.add_argument(
        "--clips",
        type=int,
        default=200,
        help="number of clips (default 200: demo size; the shipped models' corpus: 7000, about 7 h of speech)",
    )
    synth.add_argument("--seed", type=int, default=0, help="fixes the whole corpus (default 0)")
    synth.add_argument("--workers", type=int, default=2, help="render processes (default 2)")
    synth.add_argument("--voices", help="comma-separated voice ids (default: the corpus voices of the bank)")
    synth.add_argument(
        "--design",
        choices=("open", "standard", "scene-tones"),
        default="open",
        help="open (default): real sentences, many drawing styles, voices and scene palettes, with held-out "
        "splits by sentence, voice and look; standard: the first corpus (67 templates, one drawing, light "
        "following the emotion), kept to reproduce the models trained on it; scene-tones: the retrieval test "
        "bed (scene-level tones, reserved faces, new films seen only through the library)",
    )
    manifest = sub.add_parser(
        "manifest", help="rewrite a corpus's manifest from the clips on disk (works while a build runs)"
    )
    manifest.add_argument("--out", type=Path, required=True, help="corpus folder")
    synth.add_argument(
        "--allow-missing-engines", action="store_true", help="build with the voices whose engine is installed"
    )


def run(args: argparse.Namespace) -> int:
    if args.corpus_command == "voices":
        from corpora.voices import VOICE_BANK

        for v in VOICE_BANK:
            print(f"{v.id:14s} {v.engine:9s} {v.gender:7s} {v.licence}")
        return 0
    if args.corpus_command == "sentences":
        from corpora.sentences import build_sentence_pool

        summary = build_sentence_pool(args.out, card_path=args.card, coverage=args.coverage)
        cov = summary.pop("coverage", None)
        if cov:
            summary["coverage"] = {k: v for k, v in cov.items() if k not in ("phonemes", "reference_set")}
        print(json.dumps(summary, indent=1, ensure_ascii=False))
        return 0
    if args.corpus_command == "manifest":
        from corpora.synth import refresh_manifest

        print(json.dumps(refresh_manifest(args.out), indent=1))
        return 0
    if args.corpus_command == "synth":
        from corpora.synth import build_corpus

        voices = [v.strip() for v in args.voices.split(",") if v.strip()] if args.voices else None
        summary = build_corpus(
            args.out,
            args.clips,
            seed=args.seed,
            workers=args.workers,
            voice_ids=voices,
            allow_missing_engines=args.allow_missing_engines,
            design=args.design,
        )
        print(json.dumps(summary, indent=1))
        return 0 if summary["clips_failed"] == 0 else 1
    from corpora.clip import ClipSpec, render_clip
    from ground.errors import BadInputError
    from ground.messages import EMOTIONS
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
