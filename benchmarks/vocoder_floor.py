"""The vocoder's floor: what resynthesis of the ground truth through the actor's acoustic features keeps.

No actor can sound better than its vocoder given perfect features, so the actor's WER and speaker
similarity are read against this floor. For each clip of a held-out split (balanced over emotions, as in
``benchmarks/generalization.py``): the ground-truth audio -> WORLD analysis (``extract_acoustics``, the
actor's training target) -> the WORLD vocoder -> Whisper tiny.en WER (``evaluation.report``) and speaker
similarity to the same clip's ground truth (SECS, ``perception.speaker.secs``), with the vocoder's real-time factor
on one thread.

    .venv/bin/python benchmarks/vocoder_floor.py --corpus runs/corpus-open --split test-new-sentences \\
        --clips 16 --out runs/reports/vocoder-floor

Writes ``OUT/result.json`` and prints one table. On a corpus rendered through WORLD itself (the open corpus
applies WORLD transforms to most voices), the floor is close to the ground truth by construction; the
issue's figure on plain Piper speech (WER 0.015 -> 0.089, similarity 0.83) is the harder case.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path("runs/corpus-open"))
    ap.add_argument("--split", default="test-new-sentences")
    ap.add_argument("--clips", type=int, default=16)
    ap.add_argument("--out", type=Path, default=Path("runs/reports/vocoder-floor"))
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    import numpy as np
    import soundfile as sf
    import torch

    from actors.acoustics import extract_acoustics
    from actors.vocoder import get_vocoder
    from benchmarks.generalization import balanced
    from evaluation.dataset import load_records
    from evaluation.wer import get_transcriber, word_errors
    from ground.config import get_config
    from perception.speaker import secs

    torch.set_num_threads(1)
    sr = get_config().media.sample_rate
    records = balanced([r for r in load_records(args.corpus) if r.split == args.split], args.clips)
    if not records:
        raise SystemExit(f"{args.corpus}: no clips in split {args.split!r}")
    folder = args.out / "world"
    folder.mkdir(parents=True, exist_ok=True)
    vocoder = get_vocoder()
    transcriber = get_transcriber()
    synth_s, audio_s = 0.0, 0.0
    wer = {"ground truth": [], "WORLD resynthesis": []}  # per clip, averaged as evaluation.report does
    similarity = []
    for rec in records:
        gt, gt_sr = sf.read(rec.audio_path, dtype="float32")
        feats = extract_acoustics(gt, gt_sr)
        t0 = time.perf_counter()
        audio = vocoder.synthesize(feats)
        synth_s += time.perf_counter() - t0
        audio_s += len(audio) / sr
        sf.write(folder / f"{rec.clip_id}.wav", audio, sr)
        similarity.append(secs(audio, gt, sr, gt_sr))
        for name, (take, take_sr) in (("ground truth", (gt, gt_sr)), ("WORLD resynthesis", (audio, sr))):
            wer[name].append(word_errors(rec.text, transcriber.transcribe(take, take_sr)).rate)
    rows = {name: {"wer": round(float(np.mean(v)), 4)} for name, v in wer.items()}
    rows["WORLD resynthesis"]["secs_to_source"] = round(float(np.mean(similarity)), 4)
    rows["WORLD resynthesis"]["rtf_one_thread"] = round(synth_s / audio_s, 4)
    result = {"corpus": str(args.corpus), "split": args.split, "clips": len(records), "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"| {args.split} ({len(records)} clips) | WER | SECS to source | RTF (1 thread) |")
    print("|---|---|---|---|")
    for name, row in rows.items():
        print(
            f"| {name} | {row['wer']:.3f} | {row.get('secs_to_source', 1.0):.3f} | {row.get('rtf_one_thread', '-')} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
