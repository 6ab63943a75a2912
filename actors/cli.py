"""``dubber train``: train the actor on a corpus with a recipe; resumable (rerun the same command)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ground.config import REPO_ROOT

DEFAULT_RECIPE = REPO_ROOT / "recipes" / "actor" / "default.yaml"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", type=Path, required=True, help="a corpus folder the readers take (with audio)")
    p.add_argument(
        "--recipe", type=Path, default=DEFAULT_RECIPE, help="training recipe (YAML, recipes/actor/*.yaml)"
    )
    p.add_argument("--out", type=Path, required=True, help="run folder: checkpoints, losses, samples")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one recipe field, e.g. --set k=0 (repeatable)")  # fmt: skip
    p.add_argument("--features-only", action="store_true",
                   help="only precompute and cache the clips' features (resumable), then exit")  # fmt: skip
    p.add_argument("--max-steps", type=int, help="stop after this many optimiser steps (smoke runs)")
    p.add_argument("--export", type=Path, metavar="FILE",
                   help="write the run's best checkpoint as a small inference-only file and exit")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from actors.training import TrainingRecipe, export_checkpoint, train_actor

    if args.export is not None:
        print(json.dumps(export_checkpoint(args.out, args.export), indent=1))
        return 0
    recipe = TrainingRecipe.load(args.recipe, args.overrides)
    if args.features_only:
        from actors.training import precompute_features

        print(json.dumps(precompute_features(args.corpus, recipe), indent=1))
        return 0
    report = train_actor(args.corpus, args.out, recipe, max_steps=args.max_steps)
    print(json.dumps(report, indent=1))
    return 0
