"""The director's review loop on real audio takes: how often it re-directs, and what re-directing buys.

Until the actor performs, a stand-in actor does: the corpus renderer (``corpora.prosody.render_line``, the
clip's own voice) says the line with the emotion and intensity of the guidance it is given, time-fitted to
the video with a phase vocoder, so re-directions change the take. Two conditions per test clip:

* ``follows``: every take follows the guidance (the first take is what a good actor would do);
* ``missed``: the first take is deliberately wrong (the opposite emotion on the arousal axis, e.g. an angry
  line said sadly); later takes follow the revised guidance.

The guidance is the director's own (shipped fused cues on the clip's perception), the review is the real
one (duration fit, AV sync against the clip's lips, SECS against another clip of the same voice, emotion
match by the shipped audio emotion classifier). Prints one JSON object and writes it to ``--out``.

    .venv/bin/python benchmarks/director_loop.py --corpus runs/corpus-train --clips 30 \\
        --out docs/measurements/director_loop.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dubber  # noqa: E402,F401

# A miss on purpose: the emotion a careless first read would land on.
WRONG = {
    "angry": "sad", "disgust": "happy", "fear": "neutral", "happy": "sad", "neutral": "angry",
    "sad": "happy", "surprise": "neutral", "contempt": "fear",
}  # fmt: skip


def fit_length(audio: np.ndarray, sr: int, seconds: float) -> np.ndarray:
    """Place the speech in the clip the way the corpus does (lead-in silence, padded tail); a render too
    long for the clip is squeezed with a phase vocoder (which blurs the voice: a cost to the take)."""
    import librosa

    from corpora.clip import LEAD_IN_S

    n, lead = int(round(seconds * sr)), int(LEAD_IN_S * sr)
    audio = audio.astype(np.float32)
    if len(audio) + lead > n:
        audio = librosa.effects.time_stretch(audio, rate=(len(audio) + lead) / n)
    out = np.concatenate([np.zeros(lead, np.float32), audio])
    return np.pad(out, (0, max(0, n - len(out))))[:n]


def stand_in_take(g, number: int, *, text: str, voice, seconds: float, condition: str):
    """The corpus renderer as the actor: says ``text`` as guided (or wrongly, for a deliberate miss)."""
    from corpora.prosody import render_line

    emotion, intensity = g.emotion, g.intensity
    if condition == "missed" and number == 1:
        emotion, intensity = WRONG[g.emotion], 0.8
    r = render_line(text, voice, emotion, intensity, seed=number)
    return fit_length(r.audio, r.sample_rate, seconds), r.sample_rate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path("runs/corpus-train"))
    ap.add_argument("--split", default="test-unseen-speakers")
    ap.add_argument("--clips", type=int, default=30)
    ap.add_argument("--llm", action="store_true", help="use the LLM cue and LLM-written directions")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    import soundfile as sf
    from tqdm import tqdm

    from agents.cues import CueInput
    from agents.director import Director
    from agents.fusion import EmotionFusion
    from corpora.voices import get_voice
    from evaluation.dataset import load_records
    from evaluation.report import LipCache, pick_prompts
    from ground.config import REPO_ROOT, get_config
    from perception.features import visual_features
    from perception.speech_emotion import EmotionClassifier

    records = load_records(args.corpus, args.split)
    rng = np.random.default_rng(0)
    records = [records[i] for i in sorted(rng.choice(len(records), min(args.clips, len(records)), False))]
    prompts = pick_prompts(records, load_records(args.corpus))
    fusion = EmotionFusion.load(REPO_ROOT / "assets/models/director", use_llm=args.llm)
    director = Director(
        fusion=fusion,
        classifier=EmotionClassifier.load(REPO_ROOT / "assets/models/emotion"),
        write_directions=args.llm,
    )
    lips = LipCache(get_config().cache_dir / "evaluation" / "lips")
    fps = get_config().media.fps
    rows = []
    t0 = time.perf_counter()
    for rec in tqdm(records, desc="lines", unit="line"):
        visual = visual_features(rec.video_path)
        guidance = director.direct(CueInput(text=rec.text, visual=visual, character=rec.character))
        inner = lips.inner_opening(rec.video_path)
        seconds = len(inner) / fps
        prompt_rec, _ = prompts[rec.clip_id]
        prompt, sr = sf.read(prompt_rec.audio_path, dtype="float32")
        voice = get_voice(rec.speaker)
        for condition in ("follows", "missed"):
            perform = partial(stand_in_take, text=rec.text, voice=voice, seconds=seconds, condition=condition)
            result = director.run_line(
                "bench", 1, guidance, perform, len(inner), fps, lips=inner, prompt_audio=prompt, text=rec.text
            )
            first, chosen = result.takes[0], result.chosen
            rows.append(
                {
                    "clip": rec.clip_id,
                    "label": rec.emotion,
                    "guided": guidance.emotion,
                    "condition": condition,
                    "takes": len(result.takes),
                    "redirected": len(result.takes) > 1,
                    "accepted": chosen.accepted,
                    "first": first.scores.model_dump(),
                    "chosen": chosen.scores.model_dump(),
                }
            )

    def summary(subset: list[dict]) -> dict:
        def mean(key, which):
            vals = [r[which][key] for r in subset if r[which].get(key) is not None]
            return round(statistics.fmean(vals), 4) if vals else None

        def share(pred):
            return round(sum(map(pred, subset)) / len(subset), 4)

        return {
            "lines": len(subset),
            "redirect_rate": share(lambda r: r["redirected"]),
            "mean_takes": round(statistics.fmean(r["takes"] for r in subset), 3),
            "accepted_rate": share(lambda r: r["accepted"]),
            "emotion_match": {
                "first": mean("emotion_match", "first"),
                "chosen": mean("emotion_match", "chosen"),
            },
            "reads_as_guided": {
                "first": share(lambda r: r["first"]["predicted_emotion"] == r["guided"]),
                "chosen": share(lambda r: r["chosen"]["predicted_emotion"] == r["guided"]),
            },
            "speaker_similarity": {
                "first": mean("speaker_similarity", "first"),
                "chosen": mean("speaker_similarity", "chosen"),
            },
            "abs_duration_error_frames": {
                "first": round(statistics.fmean(abs(r["first"]["duration_error_frames"]) for r in subset), 3),
                "chosen": round(
                    statistics.fmean(abs(r["chosen"]["duration_error_frames"]) for r in subset), 3
                ),
            },
            "sync_within_1_frame": {
                "first": share(lambda r: abs(r["first"].get("sync_offset_frames") or 0) <= 1),
                "chosen": share(lambda r: abs(r["chosen"].get("sync_offset_frames") or 0) <= 1),
            },
        }

    report = {
        "corpus": str(args.corpus),
        "split": args.split,
        "llm": args.llm,
        "guidance_accuracy": round(
            statistics.fmean(r["guided"] == r["label"] for r in rows if r["condition"] == "follows"), 4
        ),
        "conditions": {c: summary([r for r in rows if r["condition"] == c]) for c in ("follows", "missed")},
        "seconds": round(time.perf_counter() - t0, 1),
        "rows": rows,
    }
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "rows"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
