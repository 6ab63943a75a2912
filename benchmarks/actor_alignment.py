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

from benchmarks.common import report  # noqa: E402

SETTINGS = {"search": (1, 0.0), "search, min 2 frames": (2, 0.0), "min 2 + prior 0.5": (2, 0.5),
            "min 2 + prior 1 (default)": (2, 1.0), "min 2 + prior 2": (2, 2.0)}  # fmt: skip
ENCODE_INPUTS = ("phonemes", "lips", "video_mask", "dvector", "reference", "reference_mask", "guidance",
                 "target_nodes", "retrieved_nodes", "audio_nodes")  # fmt: skip


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

    from actors.acoustics import FeatureStats, features_from_model
    from actors.alignment import skippable, with_boundaries
    from actors.dataset import ActorDataset, EmotionNodeTable, PhonemeVocabulary, collate, load_clips
    from actors.features import FeatureStore
    from actors.model import ActorHParams, ProgressiveGraphGenerator, alignment_from_attention
    from actors.training import clip_durations
    from actors.vocoder import get_vocoder
    from corpora.readers import read_corpus
    from evaluation.wer import get_transcriber, word_error_rate
    from retrieval.neighbours import load_neighbours

    torch.set_num_threads(1)
    state = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    model = ProgressiveGraphGenerator(ActorHParams(**state["hparams"]))
    model.load_state_dict({k: v.float() for k, v in state["model"].items()})
    model.eval()
    vocab, stats = PhonemeVocabulary(state["vocab"]), FeatureStats.from_dict(state["stats"])
    records = [r for r in read_corpus(args.corpus) if r.split == args.split]
    clips = load_clips(FeatureStore(corpus=args.corpus), [r.clip_id for r in records])
    durations = clip_durations(records, clips)
    clips = [c for c in clips if c.clip_id in durations][: args.clips]
    pool: dict = {}
    for c in clips:
        pool.setdefault(c.speaker, []).append(c)
    k = max(model.hp.k, 1)
    data = ActorDataset(clips, vocab, stats, EmotionNodeTable.from_library(args.library),
                        load_neighbours(args.library, k=k), pool, durations, k, train=False)  # fmt: skip
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
