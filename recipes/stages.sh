# The driver every recipes/<model>/run.sh sources: its STAGES (an array) are shell functions, about STAGE
# says what one does; `run.sh --list` names them, `run.sh [STAGE...]` runs them in order (no stage: all).
# shellcheck shell=bash
die() {
    echo "$0: $*" >&2
    exit 1
}

stamp_made_by() { # FILE: a JSON object; sets its "made_by" (first key) to $MADE_BY, the rest as it was
    "$PY" - "$1" "$MADE_BY" <<'EOF'
import json
import sys

path, made_by = sys.argv[1:3]
with open(path, encoding="utf-8") as f:
    doc = json.load(f)
doc = {"made_by": made_by, **{k: v for k, v in doc.items() if k != "made_by"}}
with open(path, "w", encoding="utf-8") as f:
    f.write(json.dumps(doc, indent=1) + "\n")
EOF
}

is_stage() {
    local s
    for s in "${STAGES[@]}"; do
        [[ $1 != "$s" ]] || return 0
    done
    return 1
}

list() {
    local s
    for s in "${STAGES[@]}"; do
        printf '  %-11s %s\n' "$s" "$(about "$s")"
    done
}

main() {
    case ${1:-} in
        --list)
            list
            return 0
            ;;
        -h | --help)
            echo "usage: $0 [--list] [STAGE...]   (no stage: all, in order; run from the repository root)"
            list
            return 0
            ;;
    esac
    (($#)) || set -- "${STAGES[@]}"
    local s
    for s in "$@"; do
        is_stage "$s" || {
            echo "$0: unknown stage '$s' (stages: ${STAGES[*]})" >&2
            exit 2
        }
    done
    [[ -d recipes && -f pyproject.toml ]] || die "run it from the repository root"
    [[ -x $DUBBER ]] || die "$DUBBER not found (make install, or set DUBBER and PY)"
    for s in "$@"; do
        echo "== $s: $(about "$s")"
        "$s"
    done
}

