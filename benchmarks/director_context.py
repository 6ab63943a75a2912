"""What the session context does to the director's decision: help when a scene carries on, harm when it turns.

For each test clip, the director (shipped cues, no LLM) decides three times: with no history; after two
earlier lines of the same character with the clip's own emotion (the scene carries on); and after two earlier
lines with another emotion (the scene turned). Run with the clip's full perception and with the words alone
(no video: the ambiguous case the context is for). Prints and writes one JSON object.

    .venv/bin/python benchmarks/director_context.py --clips 200 --out docs/measurements/director_context.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import report  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path("runs/corpus-train"))
    ap.add_argument("--split", default="test-unseen-speakers")
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    from tqdm import tqdm

    from agents.cues import CueInput
    from agents.fusion import EmotionFusion
    from evaluation.dataset import load_records
    from ground.config import REPO_ROOT, get_config
    from ground.messages import EMOTIONS
    from perception.features import visual_features

    records = [r for r in load_records(args.corpus, args.split) if r.emotion][: args.clips]
    fusion = EmotionFusion.load(REPO_ROOT / "assets/models/director", use_llm=False)
    rng = np.random.default_rng(0)
    result: dict = {
        "split": args.split,
        "clips": len(records),
        "context_weight": get_config().director.context_weight,
    }
    for inputs in ("video+words", "words only"):
        correct = {"no history": 0, "scene carries on": 0, "scene turned": 0}
        for r in tqdm(records, desc=inputs, unit="line"):
            visual = visual_features(r.video_path) if inputs == "video+words" else None
            other = EMOTIONS[(EMOTIONS.index(r.emotion) + int(rng.integers(1, 8))) % 8]
            for name, history in (
                ("no history", []),
                ("scene carries on", [("A", r.emotion), ("A", r.emotion)]),
                ("scene turned", [("A", other), ("A", other)]),
            ):
                probs, _ = fusion.decide(CueInput(text=r.text, visual=visual, character="A", history=history))
                correct[name] += EMOTIONS[int(np.argmax(probs))] == r.emotion
        result[inputs] = {k: round(v / len(records), 4) for k, v in correct.items()}
    report(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
