#!/usr/bin/env bash
# The reference library's audio emotion statistics (assets/models/library/audio_norm.json): mean and spread
# of the 94 audio emotion features over the train split, the fixed z-normalisation of every library row's
# audio vector (retrieval/extract.py). Fitted on the first corpus at 3,600 clips (design standard, 2,508
# train clips, the first voice bank); the file names its source "corpus-train, split train", the folder
# that corpus had then.
#
#   recipes/library/run.sh [STAGE...]    no stage: every stage, in order
#   recipes/library/run.sh --list        the stages, one line each
#
# Run it from the repository root. Every stage can be run again: corpus and library resume; train is
# skipped when $NORM exists (FORCE=1 fits again); evaluate is skipped when its report exists (FORCE=1
# measures again); export is redone. Nothing under assets/ changes unless SHIP=1.
#
# New statistics change the library's extractor version: a library built with other statistics has its
# rows redone by the next `dubber library build`. The library and evaluate stages here use $NORM.
set -euo pipefail

# The voice bank of the first corpus, in its order (corpora/voices.py before commit 5ea3080): the bank has
# changed since, and the standard design draws its casts from the voices it is given, in that order.
FIRST_BANK=flite_slt,flite_awb,flite_rms,flite_kal,slt_deep,slt_child,slt_bright,awb_deep,awb_high,awb_tenor,awb_small,rms_high,rms_deep,rms_bright,esp_us

PY=${PY:-.venv/bin/python}
DUBBER=${DUBBER:-.venv/bin/dubber}
CORPUS=${CORPUS:-runs/corpus-big}           # the first corpus at 3,600 clips (shared with recipes/emotion)
CLIPS=${CLIPS:-3600}
SEED=${SEED:-0}
VOICES=${VOICES:-$FIRST_BANK}
WORKERS=${WORKERS:-2}                       # render processes, library Ray workers
NORM=${NORM:-runs/library-norm/audio_norm.json}
DB=${DB:-runs/library-big}                  # the library evaluate measures (the whole corpus, rules captions)
REPORTS=${REPORTS:-runs/reports/library}
SHIP=${SHIP:-0}                             # 1: export copies into assets/models/library/
FORCE=${FORCE:-0}                           # 1: train and evaluate run again over existing outputs

DEST=assets/models/library
MADE_BY="SHIP=1 recipes/library/run.sh corpus train export"
STAGES=(corpus train library export evaluate)

about() {
    case $1 in
        corpus) echo "render the first corpus (design standard, $CLIPS clips, seed $SEED, first voice bank) into $CORPUS (resumes)" ;;
        train) echo "fit the audio emotion statistics on the train split (dubber library audio-norm) into $NORM" ;;
        library) echo "build $DB from the whole corpus with those statistics, rules captions (resumes)" ;;
        export) echo "SHIP=1 copies $NORM to $DEST/audio_norm.json and records made_by in it" ;;
        evaluate) echo "retrieval quality of $DB: share of references with the target's emotion (benchmarks/library_quality.py)" ;;
    esac
}

# --------------------------------------------------------------------------------------------- stages
# (``export`` below shadows the shell builtin of that name: this script never uses the builtin.)

corpus() {
    "$DUBBER" corpus synth --out "$CORPUS" --clips "$CLIPS" --seed "$SEED" --design standard \
        --voices "$VOICES" --workers "$WORKERS"
}

train() {
    if [[ -f $NORM && $FORCE != 1 ]]; then
        echo "train: $NORM exists, skipped (FORCE=1 fits again)"
        return 0
    fi
    mkdir -p "$(dirname "$NORM")"
    "$DUBBER" library audio-norm --from "$CORPUS" --split train --out "$NORM"
}

library() {
    [[ -f $NORM ]] || die "library: $NORM missing (run the train stage first)"
    DUBBER_LIBRARY__AUDIO_NORM=$(realpath "$NORM") "$DUBBER" library build --from "$CORPUS" --db "$DB" --no-llm --workers "$WORKERS"
}

export() {
    [[ -f $NORM ]] || die "export: $NORM missing (run the train stage first)"
    if [[ $SHIP != 1 ]]; then
        echo "export: $NORM written; not shipped (SHIP=1 copies it to $DEST/audio_norm.json)"
        return 0
    fi
    cp "$NORM" "$DEST/audio_norm.json"
    stamp_made_by "$DEST/audio_norm.json"
    echo "export: shipped $DEST/audio_norm.json (made_by: $MADE_BY); libraries built with the old statistics" \
        "are redone by their next build"
}

evaluate() {
    local out=$REPORTS/library_quality.json
    if [[ -f $out && $FORCE != 1 ]]; then
        echo "evaluate: $out exists, skipped (FORCE=1 measures again)"
        return 0
    fi
    [[ -f $NORM ]] || die "evaluate: $NORM missing (run the train stage first)"
    mkdir -p "$REPORTS"
    # the library as built by the library stage; the training neighbours are computed again (seconds)
    DUBBER_LIBRARY__AUDIO_NORM=$(realpath "$NORM") "$PY" benchmarks/library_quality.py --corpus "$CORPUS" --db "$DB" \
        --no-build --train-every 1 --out "$out"
}

# ------------------------------------------------------------------------------------------- driver
# shellcheck source=recipes/stages.sh
source "$(dirname "$0")/../stages.sh"
main "$@"
