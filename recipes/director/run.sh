#!/usr/bin/env bash
# The director's trained cues (assets/models/director/: fusion.joblib, fusion.json): the face and scene
# classifiers, the LLM label calibration and the CueWeights fusion (with and without the LLM), fit on the
# open corpus's train split out of look and measured on valid and every held-out split (agents/training.py).
#
#   recipes/director/run.sh [STAGE...]    no stage: every stage, in order
#   recipes/director/run.sh --list        the stages, one line each
#
# Run it from the repository root. Every stage can be run again: corpus resumes; train is skipped when
# $OUT/fusion.joblib exists (FORCE=1 fits again: `dubber direct train` does not resume, but its visual
# features and LLM label scores are cached, so a second fit takes minutes); export and evaluate are
# redone (seconds). Nothing under assets/ changes unless SHIP=1.
set -euo pipefail

PY=${PY:-.venv/bin/python}
DUBBER=${DUBBER:-.venv/bin/dubber}
CORPUS=${CORPUS:-runs/corpus-open}          # the open corpus (design open), shared with recipes/actor
CLIPS=${CLIPS:-2000}
SEED=${SEED:-0}
WORKERS=${WORKERS:-2}                       # render processes
OUT=${OUT:-runs/director-open}              # fusion.joblib, fusion.json (with the measured accuracy)
LIMIT=${LIMIT:-1200}                        # train clips
LIMIT_VALID=${LIMIT_VALID:-200}             # valid clips (the 2,000-clip corpus has 156)
LIMIT_TEST=${LIMIT_TEST:-200}               # clips per held-out split (it has 120 each)
NO_LLM=${NO_LLM:-0}                         # 1: evaluate directs the demo clip without the LLM cue
SHIP=${SHIP:-0}                             # 1: export copies into assets/models/director/
FORCE=${FORCE:-0}                           # 1: train fits again over an existing $OUT

DEST=assets/models/director
MADE_BY="SHIP=1 recipes/director/run.sh corpus train export"
STAGES=(corpus train export evaluate)

about() {
    case $1 in
        corpus) echo "render the open corpus ($CLIPS clips, seed $SEED) into $CORPUS (resumes)" ;;
        train) echo "fit the cues and the fusion with the LLM cue (dubber direct train) into $OUT; measures every split" ;;
        export) echo "SHIP=1 copies fusion.joblib and fusion.json to $DEST/ and records made_by in fusion.json" ;;
        evaluate) echo "print the held-out accuracy per cue that train measured; direct the demo clip with $OUT" ;;
    esac
}

# --------------------------------------------------------------------------------------------- stages
# (``export`` below shadows the shell builtin of that name: this script never uses the builtin.)

corpus() {
    "$DUBBER" corpus synth --out "$CORPUS" --clips "$CLIPS" --seed "$SEED" --design open --workers "$WORKERS"
}

train() {
    if [[ -f $OUT/fusion.joblib && $FORCE != 1 ]]; then
        echo "train: $OUT/fusion.joblib exists, skipped (FORCE=1 fits again)"
        return 0
    fi
    # --out always: without it `dubber direct train` writes over the shipped cues (its --model default)
    "$DUBBER" direct train --corpus "$CORPUS" --out "$OUT" \
        --limit "$LIMIT" --limit-valid "$LIMIT_VALID" --limit-test "$LIMIT_TEST"
}

export() {
    [[ -f $OUT/fusion.joblib && -f $OUT/fusion.json ]] || die "export: no trained cues in $OUT (run the train stage first)"
    if [[ $SHIP != 1 ]]; then
        echo "export: $OUT holds the cues; not shipped (SHIP=1 copies them to $DEST/)"
        return 0
    fi
    cp "$OUT/fusion.joblib" "$OUT/fusion.json" "$DEST/"
    stamp_made_by "$DEST/fusion.json"
    echo "export: shipped $DEST/fusion.joblib and fusion.json (made_by: $MADE_BY)"
}

evaluate() {
    [[ -f $OUT/fusion.json ]] || die "evaluate: $OUT/fusion.json missing (run the train stage first)"
    "$PY" - "$OUT/fusion.json" <<'EOF'
import json
import sys

card = json.load(open(sys.argv[1], encoding="utf-8"))
print(f"{sys.argv[1]}: corpus {card.get('corpus')}, clips {card.get('clips')}")
cues = ("text", "face", "scene", "llm", "fused", "fused_without_llm", "chance")
print("| split | " + " | ".join(cues) + " |")
print("|---|" + "---|" * len(cues))
for split, acc in card.get("accuracy", {}).items():
    print(f"| {split} | " + " | ".join(f"{acc[c]:.3f}" if c in acc else "-" for c in cues) + " |")
EOF
    local llm=()
    [[ $NO_LLM != 1 ]] || llm=(--no-llm)
    "$DUBBER" direct --model "$OUT" "${llm[@]}" --video assets/demo/video.mp4 --text "$(cat assets/demo/line.txt)"
}

# ------------------------------------------------------------------------------------------- driver
# shellcheck source=recipes/stages.sh
source "$(dirname "$0")/../stages.sh"
main "$@"
