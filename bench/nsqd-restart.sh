#!/usr/bin/env bash
# A restart with real nsqd (Go nsqd 1.3.0, not built here: NSQD=path).
# Two nsqd register topics with a lookupd; the lookupd is killed with
# SIGKILL and started again on the same ports. Prints how long after the
# restart /lookup lists both producers again, for our binary with a data
# path, without one, and for the Go nsqlookupd (GO_NSQLOOKUPD=path, if
# given); then, for ours with a data path, checks that once the nsqd have
# reconnected (their second PING) no producer is listed twice. What it
# prints is also written to bench/results/<stamp>-nsqd-restart[-<LABEL>]/
# output.txt, next to a manifest.json; the lookupd's and nsqd's stderr go
# to LOG_DIR (default a new /tmp/lookupd-bench-* directory).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
NSQD=${NSQD:?NSQD=path to a Go nsqd binary}
OURS=${OURS_NSQLOOKUPD:-$ROOT/target/release/nsqlookupd}
GO=${GO_NSQLOOKUPD:-}
LOADGEN=$ROOT/target/release/loadgen
[ -x "$NSQD" ] || { echo "NSQD=$NSQD is not executable" >&2; exit 1; }
[ -x "$OURS" ] || { echo "no executable at $OURS (build it, or set OURS_NSQLOOKUPD)" >&2; exit 1; }
IMPL_ARGS=(--impl "ours=$OURS" --tool-version "nsqd=$NSQD")
if [ -z "$GO" ]; then
    echo "== go: GO_NSQLOOKUPD is unset, skipped (set GO_NSQLOOKUPD to the Go nsqlookupd binary)" >&2
    IMPL_ARGS+=(--skip "go=GO_NSQLOOKUPD is unset")
elif [ ! -x "$GO" ]; then
    echo "== go: no executable at $GO, skipped (set GO_NSQLOOKUPD to the Go nsqlookupd binary)" >&2
    IMPL_ARGS+=(--skip "go=no executable at $GO")
    GO=""
else
    IMPL_ARGS+=(--impl "go=$GO")
fi
run_init nsqd-restart
OUTPUT=$RUN_DIR/output.txt
TMP=$(mktemp -d)
PIDS=()
cleanup() {
    local status=$1
    for p in "${PIDS[@]}" ${LK:-}; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
    manifest_finish "$status"
}
trap 'cleanup $?' EXIT
knob_args OUT
manifest_start "${IMPL_ARGS[@]}" --tool "loadgen=$LOADGEN" "${KNOB_ARGS[@]}"
say() { printf '%s\n' "$*" | tee -a "$OUTPUT"; }

read -r LT LH A_T A_H B_T B_H <<<"$("$LOADGEN" free-ports 6 | tr '\n' ' ')"
lookup_count() {
    curl -s "http://127.0.0.1:$LH/lookup?topic=orders" |
        python3 -c 'import json,sys
try: print(len(json.load(sys.stdin)["producers"]))
except Exception: print(0)'
}
start_lookupd() { # start_lookupd BIN [flags]
    "$@" -tcp-address=127.0.0.1:"$LT" -http-address=127.0.0.1:"$LH" -log-level=warn 2>>"$LOG_DIR/lookupd.log" &
    LK=$!
}
start_nsqd() { # start_nsqd NAME TCP HTTP
    mkdir -p "$TMP/$1"
    "$NSQD" -tcp-address=127.0.0.1:"$2" -http-address=127.0.0.1:"$3" -broadcast-address=127.0.0.1 \
        -lookupd-tcp-address=127.0.0.1:"$LT" -data-path="$TMP/$1" -log-level=warn 2>>"$LOG_DIR/nsqd-$1.log" &
    PIDS+=($!)
    until curl -sf "http://127.0.0.1:$3/ping" >/dev/null; do sleep 0.05; done
    curl -sf -d hello "http://127.0.0.1:$3/pub?topic=orders" >/dev/null
}

# seconds until /lookup lists $1 producers (polling every 50 ms, up to $2 s)
time_until() {
    local want=$1 limit=$2 t0 now
    t0=$(date +%s.%N)
    while :; do
        now=$(date +%s.%N)
        if [ "$(lookup_count)" -ge "$want" ]; then
            awk -v a="$t0" -v b="$now" 'BEGIN { printf "%.2f", b - a }'
            return
        fi
        if awk -v a="$t0" -v b="$now" -v l="$limit" 'BEGIN { exit !(b - a > l) }'; then
            echo "over ${limit}"
            return
        fi
        sleep 0.05
    done
}

run() { # run LABEL BIN [flags]: both nsqd registered, SIGKILL, restart
    local label=$1
    shift
    for f in lookupd nsqd-a nsqd-b; do echo "[bench] $label" >>"$LOG_DIR/$f.log"; done
    rm -rf "$TMP"/data
    start_lookupd "$@"
    start_nsqd a "$A_T" "$A_H"
    start_nsqd b "$B_T" "$B_H"
    time_until 2 60 >/dev/null
    sleep 2 # a snapshot is written within a second of a change
    kill -KILL "$LK"; wait "$LK" 2>/dev/null || true
    start_lookupd "$@"
    say "$label: /lookup lists both nsqd $(time_until 2 60) s after the restart"
    if [ "$label" = "ours, -data-path" ]; then
        sleep 35 # past both nsqd's reconnection (their second PING)
        say "  after the nsqd reconnected: /lookup lists $(lookup_count), /nodes $(curl -s "http://127.0.0.1:$LH/nodes" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["producers"]))') producers"
        sleep 15 # past the grace window
        say "  after the grace window: /lookup lists $(lookup_count)"
    fi
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    PIDS=()
    kill -TERM "$LK"; wait "$LK" 2>/dev/null || true
    LK=""
}

run "ours, -data-path" "$OURS" -data-path="$TMP/data"
run "ours, no data path" "$OURS"
if [ -n "$GO" ]; then run "Go nsqlookupd 1.3.0" "$GO"; fi
