"""Where an actor checkpoint's acoustic error lives: L1 per WORLD feature dimension on validation clips,
beside what predicting each dimension's mean would score (normalised units). Loudness, pitch and voicing
learned but the formant-carrying envelope dimensions near the mean predictor means a hum, not speech.

    .venv/bin/python benchmarks/actor_diagnostics.py --checkpoint runs/actor-ctc/best.pt --library runs/library
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import report  # noqa: E402


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

    from actors.acoustics import FeatureLayout, FeatureStats
    from actors.dataset import ActorDataset, EmotionNodeTable, PhonemeVocabulary, collate, load_clips
    from actors.features import FeatureStore
    from actors.model import ActorHParams, ProgressiveGraphGenerator
    from corpora.readers import read_corpus
    from retrieval.neighbours import load_neighbours

    torch.set_num_threads(1)
    state = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    model = ProgressiveGraphGenerator(ActorHParams(**state["hparams"]))
    model.load_state_dict({k: v.float() for k, v in state["model"].items()})
    model.eval()
    vocab, stats = PhonemeVocabulary(state["vocab"]), FeatureStats.from_dict(state["stats"])
    records = [r for r in read_corpus(args.corpus) if r.split == "valid"][: args.clips]
    clips = load_clips(FeatureStore(), [r.clip_id for r in records])
    pool: dict = {}
    for c in clips:
        pool.setdefault(c.speaker, []).append(c)
    k = max(model.hp.k, 1)
    data = ActorDataset(clips, vocab, stats, EmotionNodeTable.from_library(args.library),
                        load_neighbours(args.library, k=k), pool, k, train=False)  # fmt: skip
    batch = collate([data[i] for i in range(len(data))], model.hp.frames_per_video_frame)
    with torch.no_grad():
        out = model(batch)
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
            "per_dim": per_dim}, args.out)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
