#!/usr/bin/env bash
# The actor on the open corpus (recipes/actor/open.yaml): real sentences, 30 voices, five drawing styles
# (docs/measurements/corpus_open_card.md), warm-started from the first shipped actor (the 67-template
# model of commit f68027a, whose acoustics it already knows); its phoneme vocabulary grows by the open
# text's new sounds.
#
#   recipes/actor/run.sh [STAGE...]    no stage: every stage, in order
#   recipes/actor/run.sh --list        the stages, one line each
#
# Run it from the repository root. Every stage can be run again: corpus, library, features and train
# resume where they stopped; neighbours and export are redone (seconds); evaluate is skipped when its
# report exists (FORCE=1 redoes it). Nothing under assets/ changes unless SHIP=1.
set -euo pipefail

PY=${PY:-.venv/bin/python}
DUBBER=${DUBBER:-.venv/bin/dubber}
CORPUS=${CORPUS:-runs/corpus-open}          # the open corpus (design open)
CLIPS=${CLIPS:-2000}
SEED=${SEED:-0}
WORKERS=${WORKERS:-2}                       # render, library and feature processes
LIBRARY=${LIBRARY:-runs/library-open}       # the reference library the actor trains with
INIT=${INIT:-runs/actor-templates.pt}       # warm start: the first shipped actor
INIT_COMMIT=${INIT_COMMIT:-f68027a}         # where train takes INIT from when the file is missing
RUN=${RUN:-runs/actor-open}                 # checkpoints, losses, samples, actor.pt
REPORTS=${REPORTS:-runs/reports/gen-open}
EVAL_CLIPS=${EVAL_CLIPS:-12}                # clips per held-out split
NO_LLM=${NO_LLM:-1}                         # evaluate: 1 directs without the LLM cue (as measured), 0 with it
SHIP=${SHIP:-0}                             # 1: export copies into assets/models/actor/
FORCE=${FORCE:-0}                           # 1: evaluate runs again over an existing report

RECIPE=recipes/actor/open.yaml
DEST=assets/models/actor
MADE_BY="SHIP=1 recipes/actor/run.sh corpus library neighbours features train export"
STAGES=(corpus library neighbours features train export evaluate)
# the recipe with this script's library and warm start (the same as the YAML's unless LIBRARY/INIT are set)
recipe_args=(--recipe "$RECIPE" --set "library=$LIBRARY" --set "init_from=$INIT")

about() {
    case $1 in
        corpus) echo "render the open corpus ($CLIPS clips, seed $SEED) into $CORPUS (resumes)" ;;
        library) echo "reference library $LIBRARY from the corpus's train and valid splits, rules captions (resumes)" ;;
        neighbours) echo "precompute each clip's top-5 references per modality from the train split" ;;
        features) echo "cache the training clips' features: phonemes, lips, WORLD frames, d-vectors (resumes)" ;;
        train) echo "train $RECIPE into $RUN, warm-started from $INIT (resumes from $RUN/last.pt)" ;;
        export) echo "write $RUN/actor.pt (inference-only, float16); SHIP=1 copies it to $DEST/" ;;
        evaluate) echo "held-out splits, $EVAL_CLIPS clips each, against a plain pipeline (benchmarks/generalization.py) into $REPORTS" ;;
    esac
}

# --------------------------------------------------------------------------------------------- stages
# (``export`` below shadows the shell builtin of that name: this script never uses the builtin.)

corpus() {
    "$DUBBER" corpus synth --out "$CORPUS" --clips "$CLIPS" --seed "$SEED" --design open --workers "$WORKERS"
}

library() {
    local split
    for split in train valid; do
        "$DUBBER" library build --from "$CORPUS" --db "$LIBRARY" --no-llm --workers "$WORKERS" --split "$split"
    done
}

neighbours() {
    "$DUBBER" library neighbours --db "$LIBRARY"
}

features() {
    "$DUBBER" train --corpus "$CORPUS" "${recipe_args[@]}" --out "$RUN" --features-only --set "workers=$WORKERS"
}

train() {
    if [[ ! -f $INIT ]]; then
        echo "train: $INIT missing: taking the first shipped actor from commit $INIT_COMMIT"
        git rev-parse --verify --quiet "$INIT_COMMIT^{commit}" >/dev/null ||
            die "train: commit $INIT_COMMIT is not in this checkout; set INIT to the first shipped actor (assets/models/actor/actor.pt at $INIT_COMMIT)"
        mkdir -p "$(dirname "$INIT")"
        git show "$INIT_COMMIT:assets/models/actor/actor.pt" >"$INIT.tmp" || {
            rm -f "$INIT.tmp"
            die "train: no assets/models/actor/actor.pt at $INIT_COMMIT"
        }
        mv "$INIT.tmp" "$INIT"
    fi
    "$DUBBER" train --corpus "$CORPUS" "${recipe_args[@]}" --out "$RUN"
}

export() {
    "$DUBBER" train --out "$RUN" --corpus "$CORPUS" --export "$RUN/actor.pt"
    if [[ $SHIP != 1 ]]; then
        echo "export: $RUN/actor.pt written; not shipped (SHIP=1 copies it to $DEST/)"
        return 0
    fi
    cp "$RUN/actor.pt" "$DEST/actor.pt"
    [[ ! -f $RUN/losses.png ]] || cp "$RUN/losses.png" "$DEST/losses.png"
    echo "export: shipped $DEST/actor.pt and losses.png; $DEST/card.json is written by hand: bring it up to" \
        "date (training, measurements) with \"made_by\": \"$MADE_BY\""
}

evaluate() {
    if [[ -f $REPORTS/result.json && $FORCE != 1 ]]; then
        echo "evaluate: $REPORTS/result.json exists, skipped (FORCE=1 measures again)"
        return 0
    fi
    [[ -f $RUN/actor.pt ]] || die "evaluate: $RUN/actor.pt missing (run the export stage first)"
    local llm=()
    [[ $NO_LLM != 1 ]] || llm=(--no-llm)
    # the actor as it is and with timbre adaptation, beside the ground truth and a plain Piper pipeline
    "$PY" benchmarks/generalization.py --corpus "$CORPUS" --clips "$EVAL_CLIPS" "${llm[@]}" --out "$REPORTS" \
        --actor "open=$RUN/actor.pt,library=$LIBRARY" --actor "open+timbre=$RUN/actor.pt,library=$LIBRARY,timbre=1"
}

# ------------------------------------------------------------------------------------------- driver
# shellcheck source=recipes/stages.sh
source "$(dirname "$0")/../stages.sh"
main "$@"
