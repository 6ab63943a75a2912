"""Perception throughput on a 10 s, 25 fps speaking clip, and how well the lip-opening curve follows the
speech loudness envelope.

    .venv/bin/python benchmarks/perception_speed.py --out runs/bench/perception.json

Renders its own clip with the corpus code (a drawn face mouthing a flite voice), then times each stage of
``ClipPerceiver.perceive`` (best of --repeats, after one warm-up that loads the models).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

LINE = (
    "I waited for you at the station all evening, and when the last train came in without you, "
    "I walked home alone in the rain, thinking about everything we said to each other."
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="write the result as JSON here")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for torch/tflite/BLAS")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    from corpora.clip import ClipSpec, render_clip
    from perception.pipeline import ClipPerceiver
    from perception.video import read_video

    with tempfile.TemporaryDirectory() as tmp:
        clip_dir = Path(tmp) / "clip"
        meta = render_clip(ClipSpec("bench", LINE, "flite_awb", "sad", 0.7, seed=11), clip_dir)
        video = clip_dir / "video.mp4"
        perceiver = ClipPerceiver()
        perceiver.perceive(video, audio=clip_dir / "audio.wav")  # warm-up: model loads
        best: dict[str, float] | None = None
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            clip = read_video(video)
            result = perceiver.perceive(clip, audio=clip_dir / "audio.wav", with_speaker=False)
            result.timings["read_video"] = time.perf_counter() - t0 - sum(result.timings.values())
            total = time.perf_counter() - t0
            timings = {**result.timings, "total": total}
            if best is None or total < best["total"]:
                best = timings
    frames = meta["num_frames"]
    video_stages = ("read_video", "face_track", "lips", "expression", "scene")
    video_s = sum(best[k] for k in video_stages)
    report = {
        "clip_seconds": meta["duration_s"],
        "frames": frames,
        "threads": args.threads,
        "stage_seconds": {k: round(v, 3) for k, v in best.items()},
        "video_frames_per_second": round(frames / video_s, 1),
        "all_stages_frames_per_second": round(frames / best["total"], 1),
        "face_share": round(result.face.face_share, 4),
        "av_sync": result.extras.get("av_sync"),
    }
    print(json.dumps(report, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
