#!/usr/bin/env bash
# /lookup on an almost empty database, measured with wrk (Debian's `wrk`)
# as the issue measured the Go original: `wrk -t2 -c64` on loopback,
# against ours and Go's alternately, RUNS times each, each on a fresh
# server, with the server's CPU time per request from /proc.
#   bench/wrk-lookup.sh            (needs target/release/{nsqlookupd,loadgen})
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
RUNS=${RUNS:-5}
DURATION=${DURATION:-8}
OURS=${OURS_NSQLOOKUPD:-$ROOT/target/release/nsqlookupd}
GO=${GO_NSQLOOKUPD:-/work/ref/bin/nsqlookupd}
LOADGEN=$ROOT/target/release/loadgen
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 1; }

one() {
    local name=$1 bin=$2 ports tcp http pid t0 t1 out reqs rps
    ports=$("$LOADGEN" free-ports 2)
    tcp=127.0.0.1:${ports% *}
    http=127.0.0.1:${ports#* }
    "$bin" -tcp-address="$tcp" -http-address="$http" -log-level=warn 2>/dev/null &
    pid=$!
    "$LOADGEN" wait-ready --http "$http" --timeout 10
    curl -s -X POST "http://$http/channel/create?topic=t&channel=c" >/dev/null
    t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    out=$(wrk -t2 -c64 -d"${DURATION}s" "http://$http/lookup?topic=t")
    t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    kill "$pid"
    wait "$pid" || true
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
    # /proc ticks are 10 ms.
    echo "$name $rps $(awk -v a="$t0" -v b="$t1" -v n="$reqs" 'BEGIN {printf "%.2f", (b - a) * 10000 / n}')"
}

RAW=$(mktemp)
for _ in $(seq 1 "$RUNS"); do
    one ours "$OURS"
    if [ -x "$GO" ]; then one go "$GO"; fi
done | tee "$RAW"
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for impl in ours go; do
    grep -q "^$impl " "$RAW" || continue
    echo "$impl: median $(awk -v i="$impl" '$1 == i {print $2}' "$RAW" | median) req/s," \
        "median $(awk -v i="$impl" '$1 == i {print $3}' "$RAW" | median) us server CPU per request" \
        "($(grep -c "^$impl " "$RAW") runs)"
done
rm -f "$RAW"
