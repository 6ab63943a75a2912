"""Where an actor checkpoint's acoustic error lives: L1 per WORLD feature dimension on validation clips,
beside what predicting each dimension's mean would score (normalised units). Loudness, pitch and voicing
learned but the formant-carrying envelope dimensions near the mean predictor means a hum, not speech.
Decoded with the engine's phone timings (teacher-forced); also the share of frames that the dubbing-time
alignment (monotonic search through the text-to-lip attention) puts in another token than the timings.

    .venv/bin/python benchmarks/actor_diagnostics.py --checkpoint runs/actor-ctc/best.pt --library runs/library
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import report, timed_clips  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--checkpoint", type=Path, required=True, help="a training checkpoint (best.pt / last.pt)"
    )
    ap.add_argument("--corpus", type=Path, default=Path("runs/corpus-train"))
    ap.add_argument("--library", default="runs/library")
    ap.add_argument("--clips", type=int, default=32)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    import torch

    from actors.acoustics import FeatureLayout
    from actors.alignment import skippable, with_boundaries
    from actors.dataset import collate
    from actors.model import ENCODE_INPUTS
    from actors.voice import Actor

    actor = Actor.load(args.checkpoint)  # a training checkpoint loads as well as an exported one
    model = actor.model
    clips, data = timed_clips(actor, args.corpus, args.library, "valid", args.clips)
    batch = collate([data[i] for i in range(len(data))], model.hp.frames_per_video_frame)
    with torch.no_grad():
        out = model(batch)
        cfg = actor.config.actor  # the search as dubbing runs it
        can_skip = torch.zeros(batch["phonemes"].shape, dtype=torch.bool)
        for i, clip in enumerate(clips):
            skip = torch.from_numpy(skippable(with_boundaries(clip.phonemes)))
            can_skip[i, : len(skip)] = skip
        searched = model.encode(**{k: v for k, v in batch.items() if k in ENCODE_INPUTS}, can_skip=can_skip,
                                min_frames=cfg.alignment_min_frames, prior_weight=cfg.alignment_prior_weight)  # fmt: skip
    # how far the dubbing-time alignment (monotonic search through the attention) is from the timings
    alignment_error = (searched.durations - batch["durations"]).abs().sum(1).float() / 2
    alignment_error = alignment_error / batch["acoustic_mask"].sum(1)
    mask = batch["acoustic_mask"].float()[..., None]
    target = batch["acoustics"]
    frames = mask.sum()
    model_l1 = ((out["refined"] - target).abs() * mask).sum((0, 1)) / frames
    mean = (target * mask).sum((0, 1)) / frames
    mean_l1 = ((target - mean).abs() * mask).sum((0, 1)) / frames
    layout = FeatureLayout()
    names = (
        [f"sp{i}" for i in range(layout.spectral_dims)]
        + ["lf0", "vuv"]
        + [f"ap{i}" for i in range(layout.ap_dims)]
    )
    per_dim = {
        n: [round(float(a), 3), round(float(b), 3)] for n, a, b in zip(names, model_l1, mean_l1, strict=True)
    }
    groups = {
        "sp0 (level)": [0],
        "sp1-9 (formants)": range(1, 10),
        "sp10-39": range(10, layout.spectral_dims),
    }
    summary = {
        g: [round(float(model_l1[list(ix)].mean()), 3), round(float(mean_l1[list(ix)].mean()), 3)]
        for g, ix in groups.items()
    }
    report({"checkpoint": str(args.checkpoint), "clips": len(clips), "model_l1_vs_mean_l1": summary,
            "alignment_frames_misplaced_share": round(float(alignment_error.mean()), 4),
            "per_dim": per_dim}, args.out)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
