#!/usr/bin/env bash
# Runs the benchmark scenarios against our nsqlookupd and, when present, the
# Go original (GO_NSQLOOKUPD=path), each RUNS times with a fresh server per
# run, and writes one folder per run, bench/results/<stamp>[-<LABEL>]/:
#   <impl>.jsonl    raw result lines (one per scenario run)
#   summary.md      medians per scenario and impl
#   manifest.json   when, which commit and binaries, the machine, every knob
# and bench/lookup-scaling.png (/lookup against registrations). The servers'
# stderr goes to LOG_DIR (default a new /tmp/lookupd-bench-* directory),
# never into the repository. QUICK=1 shrinks every size and duration (a
# smoke run) and writes under bench/results/quick/ instead. Every knob is an
# environment variable; see bench/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

QUICK=${QUICK:-0}
q() { if [ "$QUICK" = 1 ]; then echo "$1"; else echo "$2"; fi; }

RUNS=${RUNS:-$(q 1 5)}
DURATION=${DURATION:-$(q 2 10)}
WARMUP=${WARMUP:-$(q 0.5 1)}
CONCURRENCY=${CONCURRENCY:-64}
NODES_CONCURRENCY=${NODES_CONCURRENCY:-4}
LOADGEN_THREADS=${LOADGEN_THREADS:-1}
SCENARIOS=${SCENARIOS:-"scaling lookup-empty query-nodes query-topics query-channels register ping idle disconnect-storm register-stream scrape large"}
IMPLS=${IMPLS:-"ours go"}

SCALING_PRODUCERS=${SCALING_PRODUCERS:-100}
SCALING_TOPICS=${SCALING_TOPICS:-$(q "1 10 100 1000" "1 10 100 1000 10000")}
SCALING_CHANNELS=${SCALING_CHANNELS:-1}
LAYOUT=${LAYOUT:-disjoint}
QUERY_PRODUCERS=${QUERY_PRODUCERS:-$(q 20 100)}
QUERY_TOPICS=${QUERY_TOPICS:-$(q 50 1000)}
REGISTER_PRODUCERS=${REGISTER_PRODUCERS:-$(q 20 100)}
REGISTER_TOPICS=${REGISTER_TOPICS:-$(q 200 1000)}
PING_CONNECTIONS=${PING_CONNECTIONS:-50}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-$(q 1000 10000)}
STORM_PRODUCERS=${STORM_PRODUCERS:-$(q 20 100)}
STORM_TOPICS=${STORM_TOPICS:-$(q 200 1000)}
STREAM_REGISTRATIONS=${STREAM_REGISTRATIONS:-$(q 10000 100000)}
STREAM_PRODUCERS=${STREAM_PRODUCERS:-$(q 20 100)}
STREAM_RATE=${STREAM_RATE:-0}
STREAM_LOADGEN_THREADS=${STREAM_LOADGEN_THREADS:-2}
LARGE_PRODUCERS=${LARGE_PRODUCERS:-$(q 100 1000)}
LARGE_TOPICS=${LARGE_TOPICS:-$(q 100 1000)}
LARGE_LAYOUTS=${LARGE_LAYOUTS:-"disjoint shared"}

SKIP_BUILD=${SKIP_BUILD:-0}

# The run's folder is $OUT/<stamp>[-<LABEL>] (made by run_init, below).
OUT=${OUT:-$(q "$HERE/results/quick" "$HERE/results")}

OURS_BIN=${OURS_NSQLOOKUPD:-$ROOT/target/release/nsqlookupd}
# The Go original only where GO_NSQLOOKUPD points: no default path.
GO_BIN=${GO_NSQLOOKUPD:-}
LOADGEN=$ROOT/target/release/loadgen

if [ "$SKIP_BUILD" != 1 ]; then
    echo "== building release binaries" >&2
    (cd "$ROOT" && cargo build --release --bin nsqlookupd && cargo build --release -p lookupd-bench --bin loadgen)
fi

impl_bin() {
    case "$1" in
        ours) echo "$OURS_BIN" ;;
        go) echo "$GO_BIN" ;;
        # An earlier build of ours, to show a change moved no figure.
        before) echo "${BEFORE_NSQLOOKUPD:-}" ;;
        *) echo "unknown implementation $1" >&2; return 1 ;;
    esac
}

impl_var() {
    case "$1" in
        ours) echo OURS_NSQLOOKUPD ;;
        go) echo GO_NSQLOOKUPD ;;
        before) echo BEFORE_NSQLOOKUPD ;;
    esac
}

AVAILABLE=""
IMPL_ARGS=()
for impl in $IMPLS; do
    bin=$(impl_bin "$impl")
    if [ -x "$bin" ]; then
        AVAILABLE="$AVAILABLE $impl"
        IMPL_ARGS+=(--impl "$impl=$bin")
    else
        var=$(impl_var "$impl")
        if [ -z "$bin" ]; then
            why="$var is unset"
        else
            why="no executable at $bin"
        fi
        case $impl in
            go) hint="set GO_NSQLOOKUPD to the Go nsqlookupd binary" ;;
            before) hint="set BEFORE_NSQLOOKUPD to an earlier build of ours" ;;
            *) hint="build it, or set $var" ;;
        esac
        echo "== $impl: $why, skipped ($hint)" >&2
        IMPL_ARGS+=(--skip "$impl=$why")
    fi
done
[ -n "$AVAILABLE" ] || { echo "no server to measure" >&2; exit 1; }

run_init ""
PLOT_OUT=${PLOT_OUT:-$(q "$RUN_DIR/lookup-scaling.png" "$HERE/lookup-scaling.png")}
knob_args QUICK RUNS DURATION WARMUP CONCURRENCY NODES_CONCURRENCY LOADGEN_THREADS SCENARIOS IMPLS LAYOUT \
    SCALING_PRODUCERS SCALING_TOPICS SCALING_CHANNELS QUERY_PRODUCERS QUERY_TOPICS \
    REGISTER_PRODUCERS REGISTER_TOPICS PING_CONNECTIONS IDLE_CONNECTIONS STORM_PRODUCERS STORM_TOPICS \
    STREAM_REGISTRATIONS STREAM_PRODUCERS STREAM_RATE STREAM_LOADGEN_THREADS \
    LARGE_PRODUCERS LARGE_TOPICS LARGE_LAYOUTS SKIP_BUILD OUT PLOT_OUT
FAILURES=0
trap 'manifest_finish $?' EXIT
manifest_start "${IMPL_ARGS[@]}" --tool "loadgen=$LOADGEN" "${KNOB_ARGS[@]}"
PID=""
TCP=""
HTTP=""

start_server() {
    local impl=$1 bin ports
    bin=$(impl_bin "$impl")
    ports=$("$LOADGEN" free-ports 2)
    TCP=127.0.0.1:${ports% *}
    HTTP=127.0.0.1:${ports#* }
    # -log-level=warn on both: at info, every REGISTER is logged.
    "$bin" -tcp-address="$TCP" -http-address="$HTTP" -log-level=warn \
        2>>"$LOG_DIR/$impl-server.log" &
    PID=$!
    if ! "$LOADGEN" wait-ready --http "$HTTP" --timeout 10; then
        echo "== $impl did not start; see $LOG_DIR/$impl-server.log" >&2
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
        return 1
    fi
}

stop_server() {
    local impl=$1 rc=0
    if ! kill -0 "$PID" 2>/dev/null; then
        wait "$PID" || rc=$?
        echo "== $impl: the server had exited (status $rc) before the end of the scenario" >&2
        echo "[bench] server exited early with status $rc" >>"$LOG_DIR/$impl-server.log"
        FAILURES=$((FAILURES + 1))
        return
    fi
    kill -TERM "$PID"
    wait "$PID" || rc=$?
    if [ "$rc" != 0 ]; then
        echo "== $impl: the server exited with status $rc on SIGTERM" >&2
    fi
}

# measure IMPL SCENARIO ARGS...: one scenario on a fresh server.
measure() {
    local impl=$1
    shift
    start_server "$impl" || { FAILURES=$((FAILURES + 1)); return; }
    echo "[bench] $* (pid $PID)" >>"$LOG_DIR/$impl-server.log"
    if ! "$LOADGEN" "$@" --tcp "$TCP" --http "$HTTP" --pid "$PID" --label "$impl" \
        --threads "${THREADS:-$LOADGEN_THREADS}" >>"$RUN_DIR/$impl.jsonl"; then
        echo "== $impl: loadgen $1 failed" >&2
        FAILURES=$((FAILURES + 1))
    fi
    stop_server "$impl"
}

LOAD=(--duration "$DURATION" --warmup "$WARMUP" --concurrency "$CONCURRENCY")

for run in $(seq 1 "$RUNS"); do
    echo "== run $run of $RUNS" >&2
    # Every other run measures the implementations in reverse order, so
    # drift over a run (and going first or second) hits each alike.
    ORDER=$AVAILABLE
    if [ $((run % 2)) = 0 ]; then
        # shellcheck disable=SC2086 # one implementation a line
        ORDER=$(printf '%s\n' $AVAILABLE | tac | tr '\n' ' ')
    fi
    for scenario in $SCENARIOS; do
        case $scenario in
            scaling)
                for t in $SCALING_TOPICS; do
                    for impl in $ORDER; do
                        measure "$impl" lookup --tag scaling --producers "$SCALING_PRODUCERS" \
                            --topics "$t" --channels "$SCALING_CHANNELS" --layout "$LAYOUT" "${LOAD[@]}"
                    done
                done
                ;;
            lookup-empty)
                for impl in $ORDER; do
                    measure "$impl" lookup --producers 1 --topics 1 "${LOAD[@]}"
                done
                ;;
            query-nodes | query-topics | query-channels)
                for impl in $ORDER; do
                    # /nodes answers are megabytes (and take Go seconds):
                    # fewer concurrent requests.
                    conc=$CONCURRENCY
                    [ "$scenario" = query-nodes ] && conc=$NODES_CONCURRENCY
                    measure "$impl" query --endpoint "${scenario#query-}" --producers "$QUERY_PRODUCERS" \
                        --topics "$QUERY_TOPICS" --layout "$LAYOUT" --duration "$DURATION" \
                        --warmup "$WARMUP" --concurrency "$conc"
                done
                ;;
            scrape)
                # /lookup at 100 x 1000 x 1 with and without /metrics
                # scraped every 100 ms (ours only: Go has no /metrics).
                # The order alternates per run so drift hits both alike
                # (always scraping first, right after register-stream,
                # measured 17% fewer req/s; alternating, 3%).
                case " $AVAILABLE " in
                    *" ours "*)
                        orders="100 0"
                        [ $((run % 2)) = 0 ] && orders="0 100"
                        for every in $orders; do
                            measure ours lookup --tag scrape --producers 100 --topics "$(q 100 1000)" \
                                --layout "$LAYOUT" --scrape-ms "$every" "${LOAD[@]}"
                        done
                        ;;
                esac
                ;;
            register)
                for impl in $ORDER; do
                    measure "$impl" register --producers "$REGISTER_PRODUCERS" \
                        --topics "$REGISTER_TOPICS" --layout "$LAYOUT"
                done
                ;;
            ping)
                for impl in $ORDER; do
                    measure "$impl" ping --connections "$PING_CONNECTIONS" \
                        --duration "$DURATION" --warmup "$WARMUP"
                done
                ;;
            idle)
                for impl in $ORDER; do
                    measure "$impl" idle --connections "$IDLE_CONNECTIONS"
                done
                ;;
            disconnect-storm)
                for impl in $ORDER; do
                    measure "$impl" disconnect-storm --producers "$STORM_PRODUCERS" \
                        --topics "$STORM_TOPICS" --layout "$LAYOUT" "${LOAD[@]}"
                done
                ;;
            register-stream)
                # Two generator threads: with one, the generator's own
                # 100 writers delay its /lookup readers, and that queueing
                # (not the server's) dominated the p99 measured.
                for impl in $ORDER; do
                    THREADS=$STREAM_LOADGEN_THREADS measure "$impl" register-stream --registrations "$STREAM_REGISTRATIONS" \
                        --producers "$STREAM_PRODUCERS" --layout "$LAYOUT" --rate "$STREAM_RATE" \
                        --warmup "$WARMUP" --concurrency "$CONCURRENCY"
                done
                ;;
            large)
                # 10^6 registrations (by default): register time, RSS, first
                # /topics, /nodes, /lookup against /ping. Go's /nodes takes
                # minutes there: one request, given up after two minutes.
                for layout in $LARGE_LAYOUTS; do
                    for impl in $ORDER; do
                        extra=()
                        [ "$impl" = go ] && extra=(--nodes-requests 1 --request-timeout 120)
                        measure "$impl" large --tag large --producers "$LARGE_PRODUCERS" \
                            --topics "$LARGE_TOPICS" --layout "$layout" "${extra[@]}" "${LOAD[@]}"
                    done
                done
                ;;
            *)
                echo "unknown scenario $scenario" >&2
                exit 2
                ;;
        esac
    done
done

FILES=()
for impl in $AVAILABLE; do
    [ -s "$RUN_DIR/$impl.jsonl" ] && FILES+=("$RUN_DIR/$impl.jsonl")
done
if [ ${#FILES[@]} -gt 0 ]; then
    "$LOADGEN" summarize "${FILES[@]}" >"$RUN_DIR/summary.md"
    cat "$RUN_DIR/summary.md"
    if grep -q '"tag":"scaling"' "${FILES[@]}"; then
        "$LOADGEN" plot --out "$PLOT_OUT" "${FILES[@]}" || FAILURES=$((FAILURES + 1))
    fi
fi
echo "== results: ${FILES[*]:-none}; $FAILURES failure(s)" >&2
[ "$FAILURES" = 0 ]
