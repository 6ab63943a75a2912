"""Evaluate dubbed takes of a corpus split: WER, SECS, EMO-ACC (and the emotion classifier's accuracy on the
ground truth), duration error, audio-visual sync and MCD-DTW-SL; writes JSON and a markdown table. Takes are
PRED/<clip_id>.wav or PRED/<clip_id>/audio.wav; --pred gt evaluates the ground truth itself (the baseline
row). The action train-emotion trains the EMO-ACC classifier on the corpus (train split, model selection on
valid) and reports its per-class accuracy and confusion matrices on every split."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from corpora.records import SPLITS


def add_arguments(p: argparse.ArgumentParser) -> None:
    # ``dubber eval --corpus ...`` evaluates; ``dubber eval train-emotion ...`` trains. The action is an
    # optional first word so that the evaluation needs none.
    p.add_argument(
        "action",
        nargs="?",
        choices=("run", "train-emotion"),
        default="run",
        help="run (default): evaluate takes; train-emotion: train the EMO-ACC classifier",
    )
    p.add_argument("--corpus", type=Path, required=True, help="corpus folder with manifest.jsonl")
    p.add_argument(
        "--split",
        default="test-unseen-speakers",
        choices=SPLITS,
        help="split to evaluate (default test-unseen-speakers)",
    )
    p.add_argument(
        "--pred",
        nargs="+",
        help="folder of takes (<clip_id>.wav or <clip_id>/audio.wav), or 'gt'; several: one table row each "
        "(ablations side by side)",
    )
    p.add_argument("--json", type=Path, help="write the result here (and the markdown table next to it, .md)")
    p.add_argument(
        "--emotion-model", type=Path, help="emotion classifier folder (default: the cached one if any)"
    )
    p.add_argument("--limit", type=int, help="evaluate at most N clips")
    p.add_argument(
        "--name", nargs="+", help="name of each system in the table (default: the prediction folder's name)"
    )
    p.add_argument("--no-sync", action="store_true", help="skip the AV-sync measure (no face tracking)")
    p.add_argument("--no-wer", action="store_true", help="skip WER (no Whisper)")
    p.add_argument("--cache-dir", type=Path, help="feature/lip cache (default: <cache>/evaluation)")
    p.add_argument("--out", type=Path, help="train-emotion: model folder to write")
    p.add_argument(
        "--normalisation",
        choices=("utterance", "speaker"),
        default="speaker",
        help="train-emotion: 'speaker' (default) trains a speaker-normalised model next to the utterance one; "
        "'utterance': that one only",
    )
    p.add_argument(
        "--classifier",
        help="train-emotion: fix one classifier instead of selecting on valid: logreg(C=0.03|0.3|3), "
        "svm-rbf(C=1|10), grad-boost",
    )
    p.add_argument(
        "--refit-with-valid",
        action="store_true",
        help="train-emotion: after selection, refit on train + valid",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from ground.errors import BadInputError

    corpus = args.corpus
    if not corpus.is_dir():
        raise BadInputError("corpus folder not found", source=corpus)
    if not (corpus / "manifest.jsonl").is_file():
        raise BadInputError("no manifest.jsonl in the corpus folder", source=corpus)
    if args.action == "train-emotion":
        return _train(args)
    return _evaluate(args)


def _train(args: argparse.Namespace) -> int:
    from evaluation.dataset import load_records
    from evaluation.emotion import format_report, train_and_report
    from ground.errors import BadInputError
    from perception.speech_emotion import default_model_dir

    out = args.out or default_model_dir()
    records = load_records(args.corpus)
    if not any(r.split == "train" for r in records):
        raise BadInputError("the corpus has no train split", source=args.corpus)
    cache = args.cache_dir / "emotion-features" if args.cache_dir else None
    report = train_and_report(
        records,
        out,
        normalisation=args.normalisation,
        classifier=args.classifier,
        cache_dir=cache,
        refit_with_valid=args.refit_with_valid,
        progress=not args.no_progress,
    )
    info = report["training"]
    print(f"model: {report['model']}")
    print(
        f"{info['train_clips']} train clips ({len(info['train_speakers'])} speakers), "
        f"{info['valid_clips']} valid clips ({len(info['valid_speakers'])} speakers)"
    )
    for mode, name in info["classifiers"].items():
        scores = ", ".join(f"{k} {v:.3f}" for k, v in info["selection_scores"].get(mode, {}).items())
        print(f"{mode} model: {name} ({info['selection']}: {scores or 'fixed'})")
    print("accuracy on ground-truth audio, per class:")
    print(format_report(report))
    for split, rep in report["splits"].items():
        print(f"confusion ({split}): {rep['png']}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from evaluation.report import evaluate, markdown_table, to_markdown, write_comparison, write_report
    from ground.errors import BadInputError
    from perception.speech_emotion import default_model_dir

    if not args.pred:
        raise BadInputError("--pred is needed (a folder of takes, or 'gt')")
    for pred in args.pred:
        if pred != "gt" and not Path(pred).is_dir():
            raise BadInputError("prediction folder not found", source=pred)
    names = args.name or [None] * len(args.pred)
    if len(names) != len(args.pred):
        raise BadInputError(f"{len(args.pred)} --pred folders but {len(names)} --name values")
    model = args.emotion_model
    if model is not None and not model.is_dir():
        raise BadInputError("emotion model folder not found", source=model)
    if model is None and (default_model_dir() / "card.json").is_file():
        model = default_model_dir()
    if model is None:
        print("note: no emotion model (--emotion-model); EMO-ACC is left out", file=sys.stderr)
    results = [
        evaluate(
            args.corpus,
            args.split,
            pred,
            emotion_model=model,
            limit=args.limit,
            cache_dir=args.cache_dir,
            with_wer=not args.no_wer,
            with_sync=not args.no_sync,
            name=name,
            progress=not args.no_progress,
        )
        for pred, name in zip(args.pred, names, strict=True)
    ]
    if len(results) == 1:
        if args.json:
            json_path, md_path = write_report(results[0], args.json)
            print(f"wrote {json_path} and {md_path}", file=sys.stderr)
        print(to_markdown(results[0]).split("\n## Clips")[0].rstrip())
    else:
        if args.json:
            json_path, md_path = write_comparison(results, args.json)
            print(f"wrote {json_path} and {md_path}", file=sys.stderr)
        print(markdown_table(results))
    if not args.json:
        json.dump({r["name"]: r["aggregate"] for r in results}, sys.stdout, indent=1)
        print()
    return 0
