#!/usr/bin/env bash
# A restart with real nsqd (Go nsqd 1.3.0, not built here: NSQD=path).
# Two nsqd register topics with a lookupd; the lookupd is killed with
# SIGKILL and started again on the same ports. Prints how long after the
# restart /lookup lists both producers again, for our binary with a data
# path, without one, and for the Go nsqlookupd (GO_NSQLOOKUPD=path, if
# given); then, for ours with a data path, checks that once the nsqd have
# reconnected (their second PING) no producer is listed twice.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
NSQD=${NSQD:?NSQD=path to a Go nsqd binary}
OURS=${OURS_NSQLOOKUPD:-$ROOT/target/release/nsqlookupd}
GO=${GO_NSQLOOKUPD:-}
LOADGEN=$ROOT/target/release/loadgen
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}" ${LK:-}; do kill -KILL "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

read -r LT LH A_T A_H B_T B_H <<<"$("$LOADGEN" free-ports 6 | tr '\n' ' ')"
lookup_count() {
    curl -s "http://127.0.0.1:$LH/lookup?topic=orders" |
        python3 -c 'import json,sys
try: print(len(json.load(sys.stdin)["producers"]))
except Exception: print(0)'
}
start_lookupd() { # start_lookupd BIN [flags]
    "$@" -tcp-address=127.0.0.1:"$LT" -http-address=127.0.0.1:"$LH" -log-level=warn 2>>"$TMP/lookupd.log" &
    LK=$!
}
start_nsqd() { # start_nsqd NAME TCP HTTP
    mkdir -p "$TMP/$1"
    "$NSQD" -tcp-address=127.0.0.1:"$2" -http-address=127.0.0.1:"$3" -broadcast-address=127.0.0.1 \
        -lookupd-tcp-address=127.0.0.1:"$LT" -data-path="$TMP/$1" -log-level=warn 2>>"$TMP/$1.log" &
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
    rm -rf "$TMP"/data
    start_lookupd "$@"
    start_nsqd a "$A_T" "$A_H"
    start_nsqd b "$B_T" "$B_H"
    time_until 2 60 >/dev/null
    sleep 2 # a snapshot is written within a second of a change
    kill -KILL "$LK"; wait "$LK" 2>/dev/null || true
    start_lookupd "$@"
    echo "$label: /lookup lists both nsqd $(time_until 2 60) s after the restart"
    if [ "$label" = "ours, -data-path" ]; then
        sleep 35 # past both nsqd's reconnection (their second PING)
        echo "  after the nsqd reconnected: /lookup lists $(lookup_count), /nodes $(curl -s "http://127.0.0.1:$LH/nodes" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["producers"]))') producers"
        sleep 15 # past the grace window
        echo "  after the grace window: /lookup lists $(lookup_count)"
    fi
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    PIDS=()
    kill -TERM "$LK"; wait "$LK" 2>/dev/null || true
    LK=""
}

run "ours, -data-path" "$OURS" -data-path="$TMP/data"
run "ours, no data path" "$OURS"
[ -n "$GO" ] && run "Go nsqlookupd 1.3.0" "$GO"
