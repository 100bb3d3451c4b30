# shellcheck shell=bash
# Sourced by the bench scripts that write results (run.sh, snapshot.sh,
# nsqd-restart.sh, wrk-lookup.sh): one folder per run with a manifest,
# server logs outside the repository. See bench/README.md, "Result folders".
# The caller sets HERE (bench/) and ROOT (the repository) first.

# run_init KIND: sets STAMP, LABEL, STARTED_UTC, RUN_DIR (created, empty)
# and LOG_DIR (created, outside the repository). The folder is
# $OUT/<stamp>[-<KIND>][-<LABEL>]; OUT defaults to bench/results.
run_init() {
    local kind=$1 name
    STARTED_UTC=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    STAMP=${STAMP:-$(date -u +%Y%m%d-%H%M%S)}
    LABEL=${LABEL:-}
    if [[ ! $STAMP =~ ^[A-Za-z0-9._-]+$ || ! $LABEL =~ ^[A-Za-z0-9._-]*$ ]]; then
        echo "STAMP and LABEL may hold only letters, digits, '.', '_' and '-'" >&2
        exit 2
    fi
    OUT=${OUT:-$HERE/results}
    name=$STAMP${kind:+-$kind}${LABEL:+-$LABEL}
    RUN_DIR=$OUT/$name
    if [ -e "$RUN_DIR" ] && [ -n "$(ls -A "$RUN_DIR")" ]; then
        echo "$RUN_DIR already holds a run: set another LABEL or STAMP" >&2
        exit 2
    fi
    if [ -n "${LOG_DIR:-}" ]; then
        case "$(realpath -m "$LOG_DIR")/" in
            "$(realpath "$ROOT")"/*)
                echo "LOG_DIR=$LOG_DIR is inside the repository; logs are not results, choose another" >&2
                exit 2
                ;;
        esac
        mkdir -p "$LOG_DIR"
        LOG_DIR=$(realpath "$LOG_DIR")
    else
        LOG_DIR=$(mktemp -d "/tmp/lookupd-bench-$name.XXXXXX")
    fi
    mkdir -p "$RUN_DIR"
    echo "== results: $RUN_DIR" >&2
    echo "== server logs: $LOG_DIR" >&2
}

# manifest_start ARGS...: writes $RUN_DIR/manifest.json (manifest.py start:
# --impl NAME=PATH, --skip NAME=REASON, --tool NAME=PATH, --knob NAME=VALUE),
# and arranges for manifest_finish to complete it when the script exits.
manifest_start() {
    python3 "$HERE/manifest.py" start "$RUN_DIR/manifest.json" \
        --script "bench/$(basename "$0")" --stamp "$STAMP" --label "$LABEL" \
        --started "$STARTED_UTC" --log-dir "$LOG_DIR" --repo "$ROOT" "$@"
    MANIFEST_STARTED=1
}

# manifest_finish STATUS: the end time, exit status, FAILURES (if set) and
# the folder's files; prints where the results and logs are. Called from
# the scripts' EXIT traps.
manifest_finish() {
    local status=$1
    [ "${MANIFEST_STARTED:-0}" = 1 ] || return 0
    MANIFEST_STARTED=0
    python3 "$HERE/manifest.py" finish "$RUN_DIR/manifest.json" \
        --ended "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --exit-status "$status" \
        ${FAILURES:+--failures "$FAILURES"} ||
        echo "== could not complete $RUN_DIR/manifest.json" >&2
    echo "== results: $RUN_DIR; server logs: $LOG_DIR" >&2
}

# knob_args NAME...: "--knob NAME=VALUE" for each variable named.
knob_args() {
    local k
    KNOB_ARGS=()
    for k in "$@"; do
        KNOB_ARGS+=(--knob "$k=${!k-}")
    done
}
