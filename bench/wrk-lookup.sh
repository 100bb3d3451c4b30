#!/usr/bin/env bash
# /lookup on an almost empty database, measured with wrk (Debian's `wrk`)
# as the issue measured the Go original: `wrk -t2 -c64` on loopback,
# against ours and Go's (GO_NSQLOOKUPD=path) alternately, RUNS times each,
# each on a fresh server, with the server's CPU time per request from /proc.
#   GO_NSQLOOKUPD=… bench/wrk-lookup.sh   (needs target/release/{nsqlookupd,loadgen})
# Writes bench/results/<stamp>-wrk-lookup[-<LABEL>]/: raw.txt (one line per
# server: impl, req/s, µs of server CPU per request), summary.txt (the
# medians, also printed) and manifest.json; the servers' stderr goes to
# LOG_DIR (default a new /tmp/lookupd-bench-* directory).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
RUNS=${RUNS:-5}
DURATION=${DURATION:-8}
OURS=${OURS_NSQLOOKUPD:-$ROOT/target/release/nsqlookupd}
# The Go original only where GO_NSQLOOKUPD points: no default path.
GO=${GO_NSQLOOKUPD:-}
LOADGEN=$ROOT/target/release/loadgen
WRK=$(command -v wrk) || { echo "wrk not found (apt-get install wrk)" >&2; exit 1; }
[ -x "$OURS" ] || { echo "no executable at $OURS (build it, or set OURS_NSQLOOKUPD)" >&2; exit 1; }
IMPL_ARGS=(--impl "ours=$OURS")
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
run_init wrk-lookup
trap 'manifest_finish $?' EXIT
knob_args RUNS DURATION OUT
manifest_start "${IMPL_ARGS[@]}" --tool "loadgen=$LOADGEN" --tool "wrk=$WRK" "${KNOB_ARGS[@]}"

one() {
    local name=$1 bin=$2 ports tcp http pid t0 t1 out reqs rps
    ports=$("$LOADGEN" free-ports 2)
    tcp=127.0.0.1:${ports% *}
    http=127.0.0.1:${ports#* }
    "$bin" -tcp-address="$tcp" -http-address="$http" -log-level=warn 2>>"$LOG_DIR/$name-server.log" &
    pid=$!
    "$LOADGEN" wait-ready --http "$http" --timeout 10
    curl -s -X POST "http://$http/channel/create?topic=t&channel=c" >/dev/null
    t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    out=$("$WRK" -t2 -c64 -d"${DURATION}s" "http://$http/lookup?topic=t")
    t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    kill "$pid"
    wait "$pid" || true
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
    # /proc ticks are 10 ms.
    echo "$name $rps $(awk -v a="$t0" -v b="$t1" -v n="$reqs" 'BEGIN {printf "%.2f", (b - a) * 10000 / n}')"
}

RAW=$RUN_DIR/raw.txt
for _ in $(seq 1 "$RUNS"); do
    one ours "$OURS"
    if [ -n "$GO" ]; then one go "$GO"; fi
done | tee "$RAW"
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for impl in ours go; do
    grep -q "^$impl " "$RAW" || continue
    echo "$impl: median $(awk -v i="$impl" '$1 == i {print $2}' "$RAW" | median) req/s," \
        "median $(awk -v i="$impl" '$1 == i {print $3}' "$RAW" | median) us server CPU per request" \
        "($(grep -c "^$impl " "$RAW") runs)"
done | tee "$RUN_DIR/summary.txt"
