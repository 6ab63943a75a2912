"""Where the shipped models stand on material they never trained on: the yardstick of the generalization work.

For each held-out split of an ``open``-design corpus (``test-new-sentences``: sentences never trained on;
``test-unseen-speakers``: new voices and sentences; ``test-new-look``: a face drawing style and scene palette
never trained on, new sentences), and for real human voice prompts (Czech actors of Fish Fillets NG, Debian's
``fillets-ng-data-cs``, prompting the lines of ``test-new-sentences``), on the same clips:

* the **director** as shipped: each cue alone (text, face, scene, LLM) and the fused decision, against the
  clip's emotion label;
* the **actor** as shipped, through the real dubbing stage (perception, director, retrieval from the shipped
  library, actor, review loop), with the voice prompt a dubbing user would have (another line of the same
  voice; for the human row, the actor's recording);
* a **plain localization pipeline** (the anchor): a stock Piper voice says the line, its speed set so the
  speech fills the clip (what common dubbing tools do: text-to-speech time-fitted to the subtitle span), no
  voice cloning, no emotion;
* the ground truth.

Several actors can be measured in one run, on the same clips and the same director decisions (``--actor``,
repeatable: a name, a checkpoint, optionally the library it retrieves from and its timbre adaptation).

The **review loop** of each actor is measured on the same lines: how often the director re-directs, and on
the re-directed lines, the first take against the chosen one (emotion match to the guided emotion under the
review's classifier, Whisper WER, SECS to the prompt), and how often the chosen take beats the first on
emotion match.

Measured as everywhere (DESIGN section 6, ``evaluation.report``): Whisper tiny.en WER, SECS to the prompt,
EMO-ACC (the shipped audio emotion classifier, its accuracy on the ground truth beside it), AV-sync offset
and confidence, duration error. Clips are taken in clip-id order, round-robin over emotions, so a small
``--clips`` still covers every class. One table: ``OUT/table.md`` (and ``OUT/result.json``).

    .venv/bin/python benchmarks/generalization.py --corpus runs/corpus-open --clips 24 \\
        --out runs/reports/generalization
    .venv/bin/python benchmarks/generalization.py --corpus runs/corpus-open --clips 16 --no-llm \\
        --actor shipped=assets/models/actor/actor.pt \\
        --actor "open=runs/actor-open/actor.pt,library=runs/library-open" \\
        --actor "open+timbre=runs/actor-open/actor.pt,library=runs/library-open,timbre=1"
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dubber  # noqa: E402,F401

SPLITS = ("test-new-sentences", "test-unseen-speakers", "test-new-look")
HUMAN = "human-prompts"  # the real-voice row: test-new-sentences lines prompted by real actors
BASELINE_VOICE = "piper_joe"


def balanced(records: list, n: int) -> list:
    """The first ``n`` records in clip-id order taking one emotion at a time, so every class is in."""
    by_emotion: dict[str, list] = defaultdict(list)
    for r in sorted(records, key=lambda r: r.clip_id):
        by_emotion[r.emotion].append(r)
    out, emotions = [], sorted(by_emotion)
    while len(out) < n and any(by_emotion.values()):
        for e in emotions:
            if by_emotion[e] and len(out) < n:
                out.append(by_emotion[e].pop(0))
    return sorted(out, key=lambda r: r.clip_id)


def plain_take(text: str, num_frames: int, fps: float, sr: int) -> np.ndarray:
    """The anchor: Piper says the line, re-said at the speed that fills the clip's speech span (the clip
    minus the corpus's lead-in and tail), placed after the lead-in; exactly the clip's length."""
    import librosa

    from corpora.clip import LEAD_IN_S, TAIL_S
    from corpora.voices import get_engine, get_voice

    def trim_silence(x: np.ndarray, _sr: int) -> np.ndarray:
        return librosa.effects.trim(x, top_db=40)[0]

    voice = get_voice(BASELINE_VOICE)
    engine = get_engine(voice)
    total = int(round(num_frames / fps * sr))
    span = max(total - int((LEAD_IN_S + TAIL_S) * sr), int(0.3 * sr))
    audio, _ = engine.synthesize(text, voice)
    audio = trim_silence(audio, sr)
    rate = len(audio) / span
    audio, _ = engine.synthesize(text, voice, rate_scale=rate)
    audio = trim_silence(audio, sr)[:span]
    out = np.zeros(total, np.float32)
    lead = int(LEAD_IN_S * sr)
    out[lead : lead + len(audio)] = audio[: total - lead]
    return out


def loop_summary(lines: list[dict]) -> dict:
    """The review loop over ``lines`` (each: takes' scores, first and chosen take, WER of both when
    re-directed): the re-direct rate and, on re-directed lines, first against chosen."""
    redirected = [ln for ln in lines if ln["takes"] > 1]
    out: dict = {"lines": len(lines), "redirected": len(redirected)}
    if not redirected:
        return out

    def mean(key: str, which: str) -> float | None:
        values = [ln[which][key] for ln in redirected if ln[which].get(key) is not None]
        return round(float(np.mean(values)), 4) if values else None

    for key in ("emotion_match", "speaker_similarity", "wer"):
        out[key] = {"first": mean(key, "first"), "chosen": mean(key, "chosen")}
    better = [
        ln["chosen"]["emotion_match"] > ln["first"]["emotion_match"]
        for ln in redirected
        if ln["chosen"].get("emotion_match") is not None and ln["first"].get("emotion_match") is not None
    ]
    out["chosen_beats_first_on_emotion"] = round(float(np.mean(better)), 3) if better else None
    out["chosen_is_a_later_take"] = sum(ln["chosen_take"] > 1 for ln in redirected)
    return out


def parse_actor(spec: str) -> dict:
    """``NAME=CHECKPOINT[,library=URI][,timbre=STRENGTH]`` -> its parts."""
    head, *options = spec.split(",")
    name, sep, checkpoint = head.partition("=")
    if not sep or not name or not checkpoint:
        raise SystemExit(f"--actor {spec!r}: expected NAME=CHECKPOINT[,library=URI][,timbre=STRENGTH]")
    out = {"name": name, "checkpoint": checkpoint, "library": None, "timbre": 0.0}
    for option in options:
        key, _, value = option.partition("=")
        if key not in ("library", "timbre"):
            raise SystemExit(f"--actor {spec!r}: unknown option {key!r} (library, timbre)")
        out[key] = float(value) if key == "timbre" else value
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path("runs/corpus-open"), help="an open-design corpus")
    ap.add_argument("--clips", type=int, default=24, help="clips per split (default 24: 3 per emotion)")
    ap.add_argument("--out", type=Path, default=Path("runs/reports/generalization"))
    ap.add_argument("--no-llm", action="store_true", help="leave the LLM cue out (the director without it)")
    ap.add_argument("--splits", default=",".join((*SPLITS, HUMAN)), help="comma-separated rows to run")
    ap.add_argument(
        "--actor",
        action="append",
        metavar="NAME=CHECKPOINT[,library=URI][,timbre=S]",
        help="an actor to measure (repeatable; default: the shipped one with the default library)",
    )
    args = ap.parse_args()
    actors = [parse_actor(a) for a in args.actor or ["shipped=assets/models/actor/actor.pt"]]

    import soundfile as sf
    from tqdm import tqdm

    from actors.voice import Actor
    from agents.cues import CueInput
    from corpora.human_voices import human_voice_prompts
    from evaluation.dataset import load_records
    from evaluation.report import evaluate, pick_prompts
    from evaluation.wer import get_transcriber, word_errors
    from ground.config import REPO_ROOT, get_config
    from ground.errors import DubberError
    from ground.messages import EMOTIONS
    from perception.speaker import secs
    from retrieval.library import ReferenceLibrary
    from stage.dubbing import DubbingStage

    cfg = get_config()
    sr, fps = cfg.media.sample_rate, cfg.media.fps
    wanted = [s.strip() for s in args.splits.split(",") if s.strip()]
    everything = load_records(args.corpus)
    stage = DubbingStage(use_llm=not args.no_llm)
    fusion = stage.director.fusion
    stages = {}
    for spec in actors:  # one director for all: every actor gets the same decisions
        actor = Actor.load(spec["checkpoint"])
        actor.config = cfg.model_copy(
            update={"actor": cfg.actor.model_copy(update={"timbre_adaptation": spec["timbre"]})}
        )
        library = ReferenceLibrary.open(spec["library"]) if spec["library"] else None
        stages[spec["name"]] = DubbingStage(actor=actor, director=stage.director, library=library)
    humans = human_voice_prompts() if HUMAN in wanted else []
    transcriber = get_transcriber()
    emotion_model = REPO_ROOT / "assets/models/emotion"
    result: dict = {"corpus": str(args.corpus), "clips_per_split": args.clips, "llm": not args.no_llm,
                    "actors": actors}  # fmt: skip
    result["director"], result["speech"] = {}, {}
    t_start = time.perf_counter()

    for row in wanted:
        split = "test-new-sentences" if row == HUMAN else row
        records = balanced([r for r in everything if r.split == split], args.clips)
        if not records:
            print(f"{row}: no clips of {split} in {args.corpus}; skipped", file=sys.stderr)
            continue
        prompts = pick_prompts(records, everything)
        dirs = {name: args.out / row / name for name in ("gt", *stages, "plain")}
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        cue_hits: dict[str, list[float]] = defaultdict(list)
        loop_lines: dict[str, list[dict]] = defaultdict(list)
        human_of: dict[str, object] = {}
        for i, rec in enumerate(tqdm(records, desc=row, unit="clip")):
            perceived = stage.perceive_line(rec.video_path, rec.text)
            x = CueInput(text=rec.text, visual=perceived.visual)
            probs = fusion.cue_probabilities(x)
            probs["fused"] = fusion.fuse(probs)
            for cue, p in probs.items():
                if cue != "context":
                    cue_hits[cue].append(float(EMOTIONS[int(np.argmax(p))] == rec.emotion))
            gt, gt_sr = sf.read(rec.audio_path, dtype="float32")
            sf.write(dirs["gt"] / f"{rec.clip_id}.wav", gt, gt_sr)
            if row == HUMAN:
                prompt = humans[i % len(humans)]
                human_of[rec.clip_id] = prompt
                prompt_audio, prompt_sr = prompt.audio, prompt.sample_rate
            else:
                prompt_audio, prompt_sr = sf.read(prompts[rec.clip_id][0].audio_path, dtype="float32")
            for name, actor_stage in stages.items():
                session = actor_stage.session(f"{row}-{rec.clip_id}-{name}")  # one line each: no context
                messages: list = []
                try:
                    outcome = actor_stage.perform_line(
                        session, 1, perceived, prompt_audio, prompt_sr, fit="speed", emit=messages.append
                    )
                    sf.write(dirs[name] / f"{rec.clip_id}.wav", outcome.audio, outcome.sample_rate)
                except DubberError as exc:  # a refused line counts as failed in the table, the run goes on
                    print(f"{rec.clip_id}: {name}: {exc.one_line()}", file=sys.stderr)
                    continue
                reviews = {m.take: m.scores.model_dump() for m in messages if m.type == "review"}
                line = {"takes": outcome.takes, "chosen_take": outcome.chosen_take, "first": reviews[1],
                        "chosen": reviews[outcome.chosen_take]}  # fmt: skip
                if outcome.takes > 1:  # what the re-direction did to the words: both takes through Whisper
                    takes = {m.take: m for m in messages if m.type == "take"}
                    for key, number in (("first", 1), ("chosen", outcome.chosen_take)):
                        audio = np.frombuffer(takes[number].pcm16, "<i2").astype(np.float32) / 32767
                        heard = transcriber.transcribe(audio, takes[number].sample_rate)
                        line[key] = {**line[key], "wer": word_errors(rec.text, heard).rate}
                loop_lines[name].append(line)
            sf.write(dirs["plain"] / f"{rec.clip_id}.wav", plain_take(rec.text, perceived.inputs.num_video_frames,
                                                                      fps, sr), sr)  # fmt: skip
        result.setdefault("loop", {})[row] = {name: loop_summary(v) for name, v in loop_lines.items()}
        result["director"][row] = {
            cue: {"correct": int(sum(v)), "clips": len(v), "accuracy": round(float(np.mean(v)), 3)}
            for cue, v in cue_hits.items()
        }
        rows = []
        for name, label in (
            ("gt", "ground truth"),
            *((n, f"actor {n}") for n in stages),
            ("plain", "plain Piper, fitted"),
        ):
            r = evaluate(args.corpus, split, dirs[name], emotion_model=emotion_model, name=label,
                         with_mcd=False, with_secs=row != HUMAN, progress=False)  # fmt: skip
            if row == HUMAN:  # SECS to the actor's own recording, the prompt the actor was given
                for clip in r["clips"]:
                    take, take_sr = sf.read(dirs[name] / f"{clip['clip_id']}.wav", dtype="float32")
                    p = human_of[clip["clip_id"]]
                    clip["secs"] = round(secs(take, p.audio, take_sr, p.sample_rate), 4)
                    clip["prompt"] = p.speaker_id
                r["aggregate"]["secs"] = round(float(np.mean([c["secs"] for c in r["clips"]])), 4)
            r["name"] = f"{row}: {label}"
            rows.append(r)
        result["speech"][row] = [
            {"name": r["name"], "aggregate": r["aggregate"], "failed": r["failed"]} for r in rows
        ]
        (args.out / row / "rows.json").write_text(json.dumps(rows, indent=1, default=str) + "\n")

    result["seconds"] = round(time.perf_counter() - t_start, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(result)
    (args.out / "table.md").write_text(table + "\n")
    print(table)
    return 0


def markdown(result: dict) -> str:
    """The director's accuracy per cue and the speech measures, one row per system and split."""
    from evaluation.report import TABLE_HEAD, markdown_row

    cues = ["fused", "text", "face", "scene", "llm"]
    lines = [
        "### Director: emotion right, per cue and fused",
        "",
        "| split | clips | " + " | ".join(cues) + " |",
        "|---|---|" + "---|" * len(cues),
    ]
    for row, per_cue in result["director"].items():
        n = next(iter(per_cue.values()))["clips"]
        cells = [f"{per_cue[c]['correct']}/{n}" if c in per_cue else "-" for c in cues]
        lines.append(f"| {row} | {n} | " + " | ".join(cells) + " |")
    lines += ["", "### Speech: the actors against a plain pipeline, same clips", "", TABLE_HEAD]
    lines.append("|" + "---|" * TABLE_HEAD.count(" | ") + "---|")
    for rows in result["speech"].values():
        lines += [markdown_row(r) for r in rows]
    lines += [
        "",
        "### Review loop: first take against the chosen one, on the lines it re-directed",
        "",
        "| split | actor | lines | re-directed | emotion match first -> chosen | WER first -> chosen "
        "| SECS first -> chosen | chosen beats first on emotion |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def pair(d: dict | None) -> str:
        if not d or d.get("first") is None:
            return "-"
        return f"{d['first']:.3f} -> {d['chosen']:.3f}"

    for row, per_actor in result.get("loop", {}).items():
        for name, loop in per_actor.items():
            beats = loop.get("chosen_beats_first_on_emotion")
            lines.append(
                f"| {row} | {name} | {loop['lines']} | {loop['redirected']} | {pair(loop.get('emotion_match'))} "
                f"| {pair(loop.get('wer'))} | {pair(loop.get('speaker_similarity'))} "
                f"| {'-' if beats is None else f'{beats:.0%}'} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
