"""The actor's quality and speed on a corpus split, one or several checkpoints side by side (ablations).

For each clip of the split (first ``--clips``): the actor speaks the line over the clip's lips with the voice
prompt the evaluation uses (another clip of the same speaker), the director's guidance (shipped fused cues,
no LLM, so the run is about the actor), and references retrieved from the library's retrieval pool only
(``train`` and any library-only ``reference`` footage, as in training).
Then ``evaluation.report.evaluate`` measures WER, SECS, EMO-ACC (with the ground truth's beside it),
duration error, AV sync and MCD. Speed per clip: real-time factor of actor + vocoder (whole line) and the
time from guidance to the first streamed chunk.

    .venv/bin/python benchmarks/actor_quality.py --corpus runs/corpus-train --split test-seen-speakers \\
        --clips 40 --checkpoint full=assets/models/actor/actor.pt --out runs/reports/actor-seen
    # ablations: --checkpoint k0=runs/ablation-k0/best.pt g1=... g12=... full=...
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dubber  # noqa: E402,F401


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path("runs/corpus-train"))
    ap.add_argument("--split", default="test-seen-speakers")
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--library", default="runs/library")
    ap.add_argument("--checkpoint", nargs="+", required=True, metavar="NAME=PATH")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    import soundfile as sf
    import torch
    from tqdm import tqdm

    from actors.features import FeatureStore, clip_inputs
    from actors.voice import Actor, EmotionNodes
    from agents.cues import CueInput
    from agents.director import Director
    from agents.fusion import EmotionFusion
    from evaluation.dataset import load_records
    from evaluation.report import evaluate, markdown_paired, markdown_table, pick_prompts, write_report
    from ground.config import REPO_ROOT, get_config
    from perception.features import visual_features
    from retrieval.library import ReferenceLibrary
    from retrieval.neighbours import retrieval_pool
    from retrieval.schema import SEARCH_MODALITIES, vector_column

    torch.set_num_threads(get_config().actor.threads)
    records = load_records(args.corpus, args.split)[: args.clips]
    prompts = pick_prompts(records, load_records(args.corpus))
    library = ReferenceLibrary.open(args.library)
    pool = retrieval_pool(get_config().library.pool_split)
    director = Director(fusion=EmotionFusion.load(REPO_ROOT / "assets/models/director", use_llm=False),
                        write_directions=False)  # fmt: skip
    store = FeatureStore(corpus=args.corpus)
    results, speed = [], {}
    for spec in args.checkpoint:
        name, _, path = spec.partition("=")
        actor = Actor.load(path)
        k = max(actor.hp.k, 1)
        pred = args.out / name
        pred.mkdir(parents=True, exist_ok=True)
        rtf, first_chunk = [], []
        for rec in tqdm(records, desc=name, unit="clip"):
            x = store.get(rec.clip_id) if store.has(rec.clip_id) else clip_inputs(rec, with_targets=False)
            prompt_rec, _ = prompts[rec.clip_id]
            audio, sr = sf.read(prompt_rec.audio_path, dtype="float32")
            prompt = actor.voice_prompt(audio, sr)
            guidance = director.direct(CueInput(text=rec.text, visual=visual_features(rec.video_path)))
            row = library.row(rec.clip_id)
            refs = library.query_for_clip(rec.clip_id, k, split=pool)
            target = {m: np.asarray(row[vector_column(m)], np.float32) for m in SEARCH_MODALITIES}
            nodes = EmotionNodes.from_library(library, target, refs, k)
            t0 = time.perf_counter()
            wav = actor.perform(x, prompt, guidance, nodes)
            rtf.append((time.perf_counter() - t0) / (len(wav) / actor.config.media.sample_rate))
            t0 = time.perf_counter()
            next(actor.stream(x, prompt, guidance, nodes))
            first_chunk.append(time.perf_counter() - t0)
            sf.write(pred / f"{rec.clip_id}.wav", wav, actor.config.media.sample_rate)
        speed[name] = {
            "rtf_mean": round(statistics.fmean(rtf), 4),
            "rtf_p95": round(float(np.percentile(rtf, 95)), 4),
            "first_chunk_ms_p50": round(1000 * float(np.percentile(first_chunk, 50)), 1),
            "first_chunk_ms_p95": round(1000 * float(np.percentile(first_chunk, 95)), 1),
        }
        result = evaluate(args.corpus, args.split, pred, emotion_model=REPO_ROOT / "assets/models/emotion",
                          limit=args.clips, name=name)  # fmt: skip
        result["speed"] = speed[name]
        write_report(result, args.out / f"{name}.json")
        results.append(result)
    table = markdown_table(results)
    if len(results) > 1:  # ablations: each against the first, paired per clip
        table += "\n\n" + markdown_paired(results)
    (args.out / "table.md").write_text(table + "\n")
    print(table)
    print(json.dumps(speed, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
