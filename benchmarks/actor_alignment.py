"""How much the dubbing-time alignment costs in intelligibility: one checkpoint, the same clips decoded
with the corpus engine's phone timings (what training sees) and with the monotonic search through the
text-to-lip attention at several settings (minimum frames per phoneme, duration-prior weight); Whisper
tiny.en WER of each.

    .venv/bin/python benchmarks/actor_alignment.py --checkpoint runs/actor-v2/best.pt --split valid --clips 16
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import report, timed_clips  # noqa: E402

SETTINGS = {"search": (1, 0.0), "search, min 2 frames": (2, 0.0), "min 2 + prior 0.5": (2, 0.5),
            "min 2 + prior 1 (default)": (2, 1.0), "min 2 + prior 2": (2, 2.0)}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--checkpoint", type=Path, required=True, help="a training checkpoint (best.pt / last.pt)"
    )
    ap.add_argument("--corpus", type=Path, default=Path("runs/corpus-train"))
    ap.add_argument("--library", default="runs/library")
    ap.add_argument("--split", default="valid", help="a split whose features are cached (train or valid)")
    ap.add_argument("--clips", type=int, default=16)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    import numpy as np
    import torch

    from actors.acoustics import features_from_model
    from actors.alignment import skippable, with_boundaries
    from actors.dataset import collate
    from actors.model import ENCODE_INPUTS, alignment_from_attention
    from actors.vocoder import get_vocoder
    from actors.voice import Actor
    from evaluation.wer import get_transcriber, word_error_rate

    actor = Actor.load(args.checkpoint)  # a training checkpoint loads as well as an exported one
    model, stats = actor.model, actor.stats
    clips, data = timed_clips(actor, args.corpus, args.library, args.split, args.clips)
    vocoder, asr = get_vocoder(), get_transcriber()
    wer: dict[str, list[float]] = {"engine timings": [], **{name: [] for name in SETTINGS}}
    for i, clip in enumerate(clips):
        one = collate([data[i]], model.hp.frames_per_video_frame)
        inputs = {key: one[key] for key in ENCODE_INPUTS}
        skip = torch.from_numpy(skippable(with_boundaries(clip.phonemes)))[None]
        with torch.no_grad():
            enc = model.encode(**inputs, durations=one["durations"])
            for name in wer:
                if name == "engine timings":
                    d = one["durations"]
                else:
                    min_frames, weight = SETTINGS[name]
                    d = alignment_from_attention(enc.attention, one["video_mask"], one["phonemes"] != 0, skip,
                                                 model.hp, enc.log_durations, min_frames, weight)  # fmt: skip
                e = model.encode(**inputs, durations=d)
                _, refined = model.decode(e.content, e.style)
                audio = vocoder.synthesize(features_from_model(refined[0].numpy(), stats))
                wer[name].append(word_error_rate(clip.text, asr.transcribe(audio, 16000)))
    report({"checkpoint": str(args.checkpoint), "split": args.split, "clips": len(clips),
            "wer": {name: round(float(np.mean(v)), 4) for name, v in wer.items()}}, args.out)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
