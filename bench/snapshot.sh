#!/usr/bin/env bash
# Snapshot costs (-data-path), medians of RUNS runs on fresh servers:
#   - /lookup under load while a producer churns (a change every 100 ms),
#     on a server without a data path and on one writing snapshots
#     (impls "nodata" and "data"): what the writes cost the readers;
#   - with the fleet registered and connected: the time a snapshot takes
#     (image, encode, write, fsync, rename) and its size, from /metrics;
#   - then SIGKILL (a crash) and a restart on the same data path: the
#     restore time (/metrics), the producers restored, and the time until
#     /ping answers.
# SIZES are registrations (1,000 producers x SIZE/1,000 topics x 1
# channel, disjoint). Results: one folder per run,
# bench/results/<stamp>-snapshot[-<LABEL>]/ with snapshot.jsonl, summary.md
# and manifest.json; the server's stderr goes to LOG_DIR (default a new
# /tmp/lookupd-bench-* directory), outside the repository.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
RUNS=${RUNS:-3}
SIZES=${SIZES:-"100000 1000000"}
DURATION=${DURATION:-10}
BIN=${OURS_NSQLOOKUPD:-$ROOT/target/release/nsqlookupd}
LOADGEN=$ROOT/target/release/loadgen
[ -x "$BIN" ] || { echo "no executable at $BIN (build it, or set OURS_NSQLOOKUPD)" >&2; exit 1; }
run_init snapshot
RESULTS="$RUN_DIR/snapshot.jsonl"
LOG="$LOG_DIR/server.log"
DATA=$(mktemp -d)
on_exit() {
    local status=$1
    rm -rf "$DATA"
    if [ -n "${PID:-}" ]; then kill "$PID" 2>/dev/null || true; fi
    manifest_finish "$status"
}
trap 'on_exit $?' EXIT
knob_args RUNS SIZES DURATION OUT
manifest_start --impl "ours=$BIN" --tool "loadgen=$LOADGEN" "${KNOB_ARGS[@]}"

start() { # start [extra flags...]: sets PID, TCP, HTTP
    read -r TCP HTTP <<<"$("$LOADGEN" free-ports 2 | tr '\n' ' ')"
    "$BIN" -tcp-address=127.0.0.1:"$TCP" -http-address=127.0.0.1:"$HTTP" -log-level=warn "$@" 2>>"$LOG" &
    PID=$!
    "$LOADGEN" wait-ready --http 127.0.0.1:"$HTTP" --timeout 60
}
stop() { kill -TERM "$PID"; wait "$PID" || true; PID=""; }
metric() { # metric NAME: its value in /metrics
    curl -s "http://127.0.0.1:$HTTP/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}

for size in $SIZES; do
    topics=$((size / 1000))
    for run in $(seq 1 "$RUNS"); do
        for impl in nodata data; do
            rm -rf "${DATA:?}"/*
            flags=()
            [ "$impl" = data ] && flags=(-data-path="$DATA")
            echo "[bench] $impl size=$size run=$run" >>"$LOG"
            start "${flags[@]}"
            "$LOADGEN" lookup --tcp 127.0.0.1:"$TCP" --http 127.0.0.1:"$HTTP" --pid "$PID" \
                --label "$impl" --tag snapshot --producers 1000 --topics "$topics" --layout disjoint \
                --churn-ms 100 --duration "$DURATION" --warmup 1 >>"$RESULTS"
            if [ "$impl" = data ]; then
                writes=$(metric nsqlookupd_snapshot_writes_total)
                stop
                # A crash with the fleet registered: its producers, every
                # registration, in the last snapshot before the SIGKILL.
                rm -rf "${DATA:?}"/*
                start -data-path="$DATA"
                "$LOADGEN" register --tcp 127.0.0.1:"$TCP" --http 127.0.0.1:"$HTTP" --label data \
                    --producers 1000 --topics "$topics" --layout disjoint --hold 600 >/dev/null &
                FLEET=$!
                until [ "$(metric 'nsqlookupd_registrations{category="topic"}')" = "$size" ]; do sleep 0.2; done
                seen=$(metric nsqlookupd_snapshot_writes_total)
                until [ "$(metric nsqlookupd_snapshot_writes_total)" -gt "$seen" ]; do sleep 0.1; done
                write_s=$(metric nsqlookupd_snapshot_last_duration_seconds)
                bytes=$(metric nsqlookupd_snapshot_last_bytes)
                kill -KILL "$PID"; wait "$PID" 2>/dev/null || true; PID=""
                kill "$FLEET" 2>/dev/null || true; wait "$FLEET" 2>/dev/null || true
                t0=$(date +%s.%N)
                start -data-path="$DATA"
                ready_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.6f", b - a }')
                restore_s=$(metric nsqlookupd_snapshot_restore_duration_seconds)
                rss=$(awk '/VmRSS/ { print $2 }' /proc/"$PID"/status)
                restored=$(metric nsqlookupd_producers_restored_awaiting)
                stop
                printf '{"scenario":"snapshot","case":"snapshot %s registrations","impl":"ours","tag":"snapshot","params":{"registrations":%s},"figures":{"write_s":%s,"snapshot_bytes":%s,"writes_during_load":%s,"restore_s":%s,"restart_ready_s":%s,"restored_producers":%s,"restored_rss_kib":%s}}\n' \
                    "$size" "$size" "$write_s" "$bytes" "$writes" "$restore_s" "$ready_s" "$restored" "$rss" >>"$RESULTS"
                echo "[ours] snapshot $size: write ${write_s}s, ${bytes} bytes, ${writes} writes during the load; restore ${restore_s}s, ready after ${ready_s}s" >&2
            else
                stop
            fi
        done
    done
done
"$LOADGEN" summarize "$RESULTS" | tee "$RUN_DIR/summary.md"
