#!/usr/bin/env bash
# -bootstrap-from: a new instance of ours reads a running peer's registry
# (ours or Go's 1.3.0) over HTTP before serving. RUNS runs of each part, on
# fresh processes, everything on 127.0.0.1 with free ports:
#   fleet  a peer (ours, then Go's) holds a simulated fleet (loadgen register
#          --hold, disjoint, 1 channel: 100 x 1,000 = 10^5 and 1,000 x 1,000
#          = 10^6 registrations); a new instance bootstraps from it: the
#          bootstrap's duration and what it restored (log, /metrics), the
#          channels left unread, start -> first /ping answered, its VmRSS
#          then, and whether its first /lookup of a random fleet topic lists
#          that topic's producer. LONG_CASES (10^6 from ours, 10^5 from
#          Go) also with -bootstrap-timeout=LONG_TIMEOUT (30s). Go gets
#          GO_REGISTER_LIMIT (180) seconds to register a fleet; a size it
#          cannot register in that time is recorded as such and not
#          bootstrapped from. The simulated nsqd PING once, so the peers run
#          with -inactive-producer-timeout=1h (and ours with
#          -producer-heartbeat-timeout=0) to keep them.
#   done   the issue's "Done when" with real programs: a Go nsqlookupd with
#          two real nsqd (topics and channels made through nsqd's HTTP API),
#          a tombstone and a topic created on the lookupd; ours bootstraps
#          from it (-restart-grace=60s): both producers in the first /lookup,
#          the tombstoned one hidden, the created topic listed; then both
#          nsqd restart pointing at ours only, and once they reconnected
#          each is listed once.
#   fail   -bootstrap-from at a port where nothing listens, a server that
#          accepts and never answers, one that answers garbage: start ->
#          /ping (must be under 5 s), serving empty, the WARNING lines.
# Needs Go binaries from variables: GO_NSQLOOKUPD (the fleet part's Go peer
# and the "done" part) and NSQD ("done"); parts whose binary is missing are
# skipped and say so. Results: bench/results/<stamp>-bootstrap[-<LABEL>]/
# with results.jsonl (one line per measurement), summary.md (medians) and
# manifest.json; every process's stderr goes to LOG_DIR, outside the
# repository.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
RUNS=${RUNS:-3}
PARTS=${PARTS:-"fleet done fail"}
OURS_SIZES=${OURS_SIZES:-"100000 1000000"}
GO_SIZES=${GO_SIZES:-"100000 1000000"}
LONG_TIMEOUT=${LONG_TIMEOUT:-30s}   # the second bootstrap timeout at 10^6 from ours
GO_REGISTER_LIMIT=${GO_REGISTER_LIMIT:-180}
LONG_CASES=${LONG_CASES:-"ours:1000000 go:100000"} # IMPL:SIZE also run with -bootstrap-timeout=LONG_TIMEOUT
SETTLE=${SETTLE:-5}               # seconds after start for the second RSS sample
STOP_WAIT=${STOP_WAIT:-10}        # seconds a process has to exit on SIGTERM before SIGKILL
OURS=${OURS_NSQLOOKUPD:-$ROOT/target/release/nsqlookupd}
GO=${GO_NSQLOOKUPD:-}
NSQD=${NSQD:-}
LOADGEN=$ROOT/target/release/loadgen
[ -x "$OURS" ] || { echo "no executable at $OURS (build it, or set OURS_NSQLOOKUPD)" >&2; exit 1; }
[ -x "$LOADGEN" ] || { echo "no loadgen at $LOADGEN: cargo build --release -p lookupd-bench --bin loadgen" >&2; exit 1; }
IMPL_ARGS=(--impl "ours=$OURS")
if [ -n "$GO" ] && [ -x "$GO" ]; then
    IMPL_ARGS+=(--impl "go=$GO")
else
    echo "== go: GO_NSQLOOKUPD unset or not executable: the Go peer and the \"done\" part are skipped" >&2
    IMPL_ARGS+=(--skip "go=GO_NSQLOOKUPD unset or not executable")
    GO=""
fi
if [ -n "$NSQD" ] && [ -x "$NSQD" ]; then
    IMPL_ARGS+=(--tool-version "nsqd=$NSQD")
else
    echo "== nsqd: NSQD unset or not executable: the \"done\" part is skipped" >&2
    IMPL_ARGS+=(--skip "nsqd=NSQD unset or not executable")
    NSQD=""
fi
run_init bootstrap
RESULTS=$RUN_DIR/results.jsonl
TMP=$(mktemp -d)
PIDS=() # every process started and not yet stopped
FAILURES=0
cleanup() {
    local status=$1 p
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
    manifest_finish "$status"
}
trap 'cleanup $?' EXIT
knob_args RUNS PARTS OURS_SIZES GO_SIZES LONG_TIMEOUT LONG_CASES GO_REGISTER_LIMIT SETTLE STOP_WAIT OUT
manifest_start "${IMPL_ARGS[@]}" --tool "loadgen=$LOADGEN" "${KNOB_ARGS[@]}"

# --- helpers --------------------------------------------------------------

launch() { # launch LOGFILE CMD...: runs CMD in the background at nice 0; sets LAST
    nice -n 0 "${@:2}" 2>>"$1" &
    LAST=$!
    PIDS+=("$LAST")
}
alive() { # running: its state readable and not a zombie
    local st
    st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || true
    [ -n "$st" ] && [ "$st" != Z ]
}
stop() { # stop PID: SIGTERM, SIGKILL after STOP_WAIT seconds (then sets KILLED=1), waits, forgets it
    local p=$1 keep=() q i
    kill -TERM "$p" 2>/dev/null || true
    for ((i = 0; i < STOP_WAIT * 10; i++)); do alive "$p" || break; sleep 0.1; done
    if [ "$i" = $((STOP_WAIT * 10)) ] && alive "$p"; then
        echo "   pid $p ($(ps -o args= -p "$p" | cut -c1-60)) still running ${STOP_WAIT}s after SIGTERM: SIGKILL" >&2
        kill -KILL "$p" 2>/dev/null || true
        KILLED=1
    fi
    wait "$p" 2>/dev/null || true
    for q in "${PIDS[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done
    PIDS=("${keep[@]}")
}
ports() { "$LOADGEN" free-ports "$1" | tr '\n' ' '; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
metric() { # metric HTTP_PORT NAME: its value in /metrics (empty if absent)
    curl -s "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n { print $2 }'
}
json() { # json URL PYEXPR: PYEXPR evaluated with j = the answer's JSON ("error" if none)
    curl -s --max-time 30 "$1" | python3 -c 'import json,sys
try: j = json.load(sys.stdin)
except Exception: print("error"); sys.exit()
try: v = eval(sys.argv[1])
except Exception: v = "error"
print(json.dumps(v) if isinstance(v, (bool, list, dict)) else v)' "$2"
}
log_line() { # log_line FILE PATTERN: the lines matching, joined by " | "
    grep -E "$2" "$1" | sed 's/^\[nsqlookupd\] [0-9/]* [0-9:.]* //' | paste -sd'|' | sed 's/|/ | /g'
}
emit() { # emit CASE IMPL key=value...: one result line (keys p.* params, f.* figures, c.* checks, l.* log text)
    python3 - "$@" >>"$RESULTS" <<'PY'
import json, sys, time
case, impl, *kv = sys.argv[1:]
rec = {"scenario": "bootstrap", "case": case, "impl": impl, "tag": "bootstrap",
       "unix_time": int(time.time()), "params": {}, "figures": {}, "checks": {}, "log": {}}
sect = {"p": "params", "f": "figures", "c": "checks", "l": "log"}
def val(v):
    if v in ("true", "false"):
        return v == "true"
    try:
        return int(v)
    except ValueError:
        pass
    try:
        return float(v)
    except ValueError:
        return v
for a in kv:
    k, v = a.split("=", 1)
    s, k = k.split(".", 1)
    rec[sect[s]][k] = val(v) if s != "l" else v
for k in [k for k, v in rec.items() if v == {}]:
    del rec[k]
print(json.dumps(rec))
PY
}
check() { # check NAME BOOL: an emit argument (failed checks are counted from results.jsonl at the end)
    [ "$2" = true ] || echo "   !! check $1 failed" >&2
    echo "c.$1=$2"
}

# start_new LOGFILE BOOTSTRAP_FROM [flags]: a new instance of ours at info,
# bootstrapping; sets NEW_PID, NEW_H, NEW_T, READY_S (start -> /ping).
start_new() {
    local log=$1 from=$2 t0
    shift 2
    read -r NEW_T NEW_H <<<"$(ports 2)"
    t0=$(now)
    launch "$log" "$OURS" -tcp-address=127.0.0.1:"$NEW_T" -http-address=127.0.0.1:"$NEW_H" \
        -log-level=info -bootstrap-from="$from" "$@"
    NEW_PID=$LAST
    "$LOADGEN" wait-ready --http 127.0.0.1:"$NEW_H" --timeout 120
    READY_S=$(since "$t0")
}
# boot_figures LOGFILE: the bootstrap's metrics and log lines as emit args
boot_figures() {
    local k
    echo "f.boot_s=$(metric "$NEW_H" nsqlookupd_bootstrap_duration_seconds)"
    for k in producers topics channels registrations tombstones; do
        echo "f.restored_$k=$(metric "$NEW_H" "nsqlookupd_bootstrap_restored{kind=\"$k\"}")"
    done
    echo "f.channels_unread=$(metric "$NEW_H" nsqlookupd_bootstrap_channels_unread)"
    echo "f.peers_failed=$(metric "$NEW_H" nsqlookupd_bootstrap_peers_failed)"
    echo "l.read=$(log_line "$1" 'BOOTSTRAP: (read|could not|peer)')"
    echo "l.restored=$(log_line "$1" 'BOOTSTRAP: restored')"
    echo "f.warning_lines=$(grep -c "WARNING: BOOTSTRAP" "$1" || true)"
}

# --- fleet: bootstrap from a peer holding a simulated fleet ---------------

# peer_up IMPL PRODUCERS TOPICS LOGFILE: a peer with the fleet registered and
# held; sets PEER_PID, PEER_H, FLEET_PID, REGISTER_S, PEER_RSS; returns 1 if
# the fleet was not registered within the limit.
peer_up() {
    local impl=$1 p=$2 t=$3 log=$4 bin limit out t0
    read -r PEER_T PEER_H <<<"$(ports 2)"
    # The simulated nsqd PING once: neither peer may drop or hide them for that.
    if [ "$impl" = ours ]; then
        bin=$OURS limit=120
        launch "$log" "$bin" -tcp-address=127.0.0.1:"$PEER_T" -http-address=127.0.0.1:"$PEER_H" \
            -log-level=warn -producer-heartbeat-timeout=0 -inactive-producer-timeout=1h
    else
        bin=$GO limit=$GO_REGISTER_LIMIT
        launch "$log" "$bin" -tcp-address=127.0.0.1:"$PEER_T" -http-address=127.0.0.1:"$PEER_H" \
            -log-level=warn -inactive-producer-timeout=1h
    fi
    PEER_PID=$LAST
    "$LOADGEN" wait-ready --http 127.0.0.1:"$PEER_H" --timeout 60
    out=$TMP/fleet.out
    : >"$out"
    t0=$(now)
    # loadgen prints its result line once registered, then holds the fleet
    nice -n 0 "$LOADGEN" register --tcp 127.0.0.1:"$PEER_T" --http 127.0.0.1:"$PEER_H" --label "$impl" \
        --tag bootstrap --producers "$p" --topics "$t" --layout disjoint --hold 3600 >"$out" 2>>"$LOG_DIR/loadgen.log" &
    FLEET_PID=$!
    PIDS+=("$FLEET_PID")
    until [ -s "$out" ]; do
        if ! kill -0 "$FLEET_PID" 2>/dev/null || awk -v a="$t0" -v b="$(now)" -v l="$limit" 'BEGIN { exit !(b - a > l) }'; then
            REGISTER_S=$(since "$t0")
            return 1
        fi
        sleep 0.2
    done
    REGISTER_S=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["figures"]["register_s"])' "$out")
    PEER_RSS=$(rss_kib "$PEER_PID")
}
peer_down() { # sets FLEET_KILLED, PEER_KILLED (1: needed SIGKILL)
    KILLED=0
    stop "$FLEET_PID"
    FLEET_KILLED=$KILLED KILLED=0
    stop "$PEER_PID"
    PEER_KILLED=$KILLED
}

fleet_case() { # fleet_case IMPL PRODUCERS TOPICS TIMEOUT RUN
    local impl=$1 p=$2 t=$3 timeout=$4 run=$5 size case log topic owner n ok rss rss_later
    size=$((p * t))
    case="bootstrap from $impl, $size registrations, -bootstrap-timeout=$timeout"
    log=$LOG_DIR/new-$impl-$size-$timeout-$run.log
    echo "[bench] $case run $run" | tee -a "$LOG_DIR/peer-$impl.log" >&2
    if ! peer_up "$impl" "$p" "$t" "$LOG_DIR/peer-$impl.log"; then
        echo "   $impl did not register $size within ${REGISTER_S}s: not bootstrapped from" >&2
        emit "$case" "$impl" p.registrations="$size" p.producers="$p" p.topics="$t" p.timeout="$timeout" \
            p.run="$run" f.peer_register_s="$REGISTER_S" c.peer_registered=false
        peer_down
        GAVE_UP=1
        return
    fi
    start_new "$log" 127.0.0.1:"$PEER_H" -bootstrap-timeout="$timeout"
    rss=$(rss_kib "$NEW_PID")
    # The first request to the new instance: a random fleet topic.
    topic=$(( (RANDOM * 32768 + RANDOM) % size ))
    owner=$((topic / t))
    n=$(json "http://127.0.0.1:$NEW_H/lookup?topic=t$topic" 'len(j.get("producers", []))')
    ok=$(json "http://127.0.0.1:$NEW_H/lookup?topic=t$topic" \
        '[q["broadcast_address"] for q in j["producers"]] == ["nsqd-'"$owner"'.bench.invalid"]')
    mapfile -t figs < <(boot_figures "$log")
    sleep "$SETTLE"
    rss_later=$(rss_kib "$NEW_PID")
    KILLED=0
    stop "$NEW_PID"
    NEW_KILLED=$KILLED
    peer_down
    emit "$case" "$impl" p.registrations="$size" p.producers="$p" p.topics="$t" p.timeout="$timeout" \
        p.run="$run" f.peer_register_s="$REGISTER_S" f.peer_rss_kib="$PEER_RSS" \
        f.ready_s="$READY_S" f.rss_kib="$rss" f.rss_kib_later="$rss_later" p.settle_s="$SETTLE" "${figs[@]}" \
        p.lookup_topic="t$topic" f.first_lookup_producers="$n" \
        f.new_needed_sigkill="$NEW_KILLED" f.fleet_needed_sigkill="$FLEET_KILLED" f.peer_needed_sigkill="$PEER_KILLED" "$(check peer_registered true)" "$(check first_lookup_lists_owner "$ok")"
    tail -1 "$RESULTS" | python3 -c 'import json,sys; r=json.load(sys.stdin); f=r["figures"]
print("   ready %.2fs, bootstrap %.2fs, restored %s producers %s topics %s channels %s registrations, %s channels unread, rss %.0f MiB, first /lookup %s" % (
    f["ready_s"], f["boot_s"], f["restored_producers"], f["restored_topics"], f["restored_channels"],
    f["restored_registrations"], f["channels_unread"], f["rss_kib"] / 1024, r["checks"]["first_lookup_lists_owner"]))' >&2
}

part_fleet() {
    local impl size sizes run timeouts timeout
    for impl in ours go; do
        if [ "$impl" = go ] && [ -z "$GO" ]; then continue; fi
        sizes=$OURS_SIZES
        [ "$impl" = go ] && sizes=$GO_SIZES
        for size in $sizes; do
            timeouts=3s
            case " $LONG_CASES " in *" $impl:$size "*) timeouts="3s $LONG_TIMEOUT" ;; esac
            for timeout in $timeouts; do
                GAVE_UP=0
                for run in $(seq 1 "$RUNS"); do
                    fleet_case "$impl" $((size / 1000)) 1000 "$timeout" "$run"
                    [ "$GAVE_UP" = 0 ] || break
                done
                [ "$GAVE_UP" = 0 ] || break
            done
        done
    done
}

# --- done: the issue's "Done when" with a Go nsqlookupd and real nsqd -----

nsqd_start() { # nsqd_start NAME TCP HTTP LOOKUPD_TCP: sets LAST
    mkdir -p "$TMP/nsqd-$1"
    launch "$LOG_DIR/nsqd-$1.log" "$NSQD" -tcp-address=127.0.0.1:"$2" -http-address=127.0.0.1:"$3" \
        -broadcast-address=127.0.0.1 -lookupd-tcp-address=127.0.0.1:"$4" -data-path="$TMP/nsqd-$1" -log-level=info
    until curl -sf "http://127.0.0.1:$3/ping" >/dev/null; do sleep 0.05; done
}
wait_for() { # wait_for SECONDS CMD...: until CMD succeeds; returns 1 after SECONDS
    local t0
    t0=$(now)
    until "${@:2}"; do
        if awk -v a="$t0" -v b="$(now)" -v l="$1" 'BEGIN { exit !(b - a > l) }'; then return 1; fi
        sleep 0.1
    done
}
lookup_ports() { # lookup_ports HTTP TOPIC: the producers' tcp ports, sorted, comma-separated
    json "http://127.0.0.1:$1/lookup?topic=$2" 'sorted(q["tcp_port"] for q in j.get("producers", []))' | tr -d '[] '
}
has() { [ "$(lookup_ports "$1" "$2")" = "$3" ]; }
nodes_reconnected() { # every nsqd in /nodes has a remote address not in OLD_REMOTES
    [ "$(json "http://127.0.0.1:$NEW_H/nodes" \
        'sorted(q["tcp_port"] for q in j["producers"] if q["remote_address"] not in "'"$OLD_REMOTES"'".split(","))' |
        tr -d '[] ')" = "$BOTH" ]
}

part_done() {
    local run GT GH A_T A_H B_T B_H BOTH log a b h orders_go nodes max min
    for run in $(seq 1 "$RUNS"); do
        echo "[bench] done-when run $run" | tee -a "$LOG_DIR/go-lookupd.log" >&2
        rm -rf "$TMP"/nsqd-*
        read -r GT GH A_T A_H B_T B_H <<<"$(ports 6)"
        BOTH=$(printf '%s\n' "$A_T" "$B_T" | sort -n | paste -sd,)
        launch "$LOG_DIR/go-lookupd.log" "$GO" -tcp-address=127.0.0.1:"$GT" -http-address=127.0.0.1:"$GH" -log-level=info
        local go_pid=$LAST
        "$LOADGEN" wait-ready --http 127.0.0.1:"$GH" --timeout 30
        nsqd_start a "$A_T" "$A_H" "$GT"
        a=$LAST
        nsqd_start b "$B_T" "$B_H" "$GT"
        b=$LAST
        # events and orders on both (a channel each), one topic of each's own
        for h in "$A_H" "$B_H"; do
            curl -sf -X POST "http://127.0.0.1:$h/topic/create?topic=events" >/dev/null
            curl -sf -X POST "http://127.0.0.1:$h/channel/create?topic=events&channel=audit" >/dev/null
            curl -sf -X POST "http://127.0.0.1:$h/topic/create?topic=orders" >/dev/null
            curl -sf -X POST "http://127.0.0.1:$h/channel/create?topic=orders&channel=billing" >/dev/null
        done
        curl -sf -X POST "http://127.0.0.1:$A_H/topic/create?topic=only-a" >/dev/null
        curl -sf -X POST "http://127.0.0.1:$B_H/topic/create?topic=only-b" >/dev/null
        curl -sf -X POST "http://127.0.0.1:$B_H/channel/create?topic=only-b&channel=x" >/dev/null
        wait_for 30 has "$GH" events "$BOTH"
        wait_for 30 has "$GH" orders "$BOTH"
        curl -sf -X POST "http://127.0.0.1:$GH/topic/tombstone?topic=orders&node=127.0.0.1:$B_H" >/dev/null
        curl -sf -X POST "http://127.0.0.1:$GH/topic/create?topic=ahead" >/dev/null
        orders_go=$(lookup_ports "$GH" orders)

        log=$LOG_DIR/new-done-$run.log
        start_new "$log" 127.0.0.1:"$GH" -restart-grace=60s
        local first orders topics_ok channels_ok rss
        rss=$(rss_kib "$NEW_PID")
        first=$(lookup_ports "$NEW_H" events)
        orders=$(lookup_ports "$NEW_H" orders)
        topics_ok=$(json "http://127.0.0.1:$NEW_H/topics" '"ahead" in j["topics"] and {"events","orders","only-a","only-b"} <= set(j["topics"])')
        channels_ok=$(json "http://127.0.0.1:$NEW_H/channels?topic=events" '"audit" in j["channels"]')
        mapfile -t figs < <(boot_figures "$log")
        OLD_REMOTES=$(json "http://127.0.0.1:$NEW_H/nodes" '",".join(q["remote_address"] for q in j["producers"])')

        # Both nsqd restart, now registering with ours only; /lookup is
        # polled all along (most and fewest producers one answer listed).
        stop "$a"
        stop "$b"
        local poll=$TMP/poll
        : >"$poll"
        ( while :; do lookup_ports "$NEW_H" events | awk -F, '{ print NF }' >>"$poll"; sleep 0.05; done ) &
        local poller=$!
        PIDS+=("$poller")
        local t0
        t0=$(now)
        nsqd_start a "$A_T" "$A_H" "$NEW_T"
        a=$LAST
        nsqd_start b "$B_T" "$B_H" "$NEW_T"
        b=$LAST
        local reconnected=true
        wait_for 60 nodes_reconnected || reconnected=false
        local reconnect_s
        reconnect_s=$(since "$t0")
        sleep 0.5
        stop "$poller"
        max=$(sort -n "$poll" | tail -1)
        min=$(sort -n "$poll" | head -1)
        local after nodes nodes_distinct orders_after
        after=$(lookup_ports "$NEW_H" events)
        nodes=$(json "http://127.0.0.1:$NEW_H/nodes" 'len(j["producers"])')
        nodes_distinct=$(json "http://127.0.0.1:$NEW_H/nodes" \
            'len({(q["broadcast_address"], q["tcp_port"], q["http_port"]) for q in j["producers"]})')
        orders_after=$(lookup_ports "$NEW_H" orders)
        emit "bootstrap from a Go nsqlookupd with two real nsqd" ours p.run="$run" p.nsqd_tcp_ports="$BOTH" \
            p.tombstoned_tcp_port="$B_T" f.ready_s="$READY_S" f.rss_kib="$rss" "${figs[@]}" \
            l.go_lookup_orders="$orders_go" l.first_lookup_events="$first" l.lookup_orders="$orders" \
            "$(check first_lookup_lists_both "$([ "$first" = "$BOTH" ] && echo true || echo false)")" \
            "$(check tombstoned_hidden "$([ "$orders" = "$A_T" ] && echo true || echo false)")" \
            "$(check topics_has_ahead "$topics_ok")" "$(check channels_restored "$channels_ok")" \
            "$(check nsqd_reconnected "$reconnected")" f.reconnect_s="$reconnect_s" \
            f.lookup_producers_max_during_restart="$max" f.lookup_producers_min_during_restart="$min" \
            l.lookup_events_after="$after" l.lookup_orders_after="$orders_after" f.nodes_after="$nodes" \
            "$(check lookup_each_once "$([ "$after" = "$BOTH" ] && [ "$max" = 2 ] && echo true || echo false)")" \
            "$(check nodes_each_once "$([ "$nodes" = 2 ] && [ "$nodes_distinct" = 2 ] && echo true || echo false)")"
        tail -1 "$RESULTS" | python3 -c 'import json,sys; r=json.load(sys.stdin)
print("   ready %.2fs; %s" % (r["figures"]["ready_s"], ", ".join("%s=%s" % kv for kv in r["checks"].items())))' >&2
        stop "$a"
        stop "$b"
        stop "$NEW_PID"
        stop "$go_pid"
    done
}

# --- fail: peers that cannot be read --------------------------------------

part_fail() {
    local kind run port srv log topics nodes ok
    for kind in refused silent garbage; do
        for run in $(seq 1 "$RUNS"); do
            port=$(ports 1 | tr -d ' ')
            srv=""
            case $kind in
            silent) # accepts, reads nothing, answers nothing
                launch "$LOG_DIR/fail-server.log" python3 -c 'import socket,sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64); held = []
while True: held.append(s.accept())' "$port"
                srv=$LAST
                ;;
            garbage) # answers every request 200 with a body that is not JSON
                launch "$LOG_DIR/fail-server.log" python3 -c 'import socket,sys,threading
def serve(c):
    try:
        c.settimeout(2); c.recv(65536)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\nConnection: close\r\n\r\n<html>oops</html>")
    except Exception: pass
    c.close()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
while True: threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()' "$port"
                srv=$LAST
                ;;
            esac
            if [ -n "$srv" ]; then
                wait_for 10 python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$port" 2>/dev/null
            fi
            log=$LOG_DIR/new-fail-$kind-$run.log
            echo "[bench] bootstrap from a $kind peer, run $run" >&2
            start_new "$log" 127.0.0.1:"$port"
            topics=$(json "http://127.0.0.1:$NEW_H/topics" 'len(j["topics"])')
            nodes=$(json "http://127.0.0.1:$NEW_H/nodes" 'len(j["producers"])')
            mapfile -t figs < <(boot_figures "$log")
            ok=$(awk -v r="$READY_S" 'BEGIN { print (r < 5 ? "true" : "false") }')
            emit "bootstrap from a $kind peer" ours p.run="$run" p.peer_kind="$kind" f.ready_s="$READY_S" \
                f.topics="$topics" f.nodes="$nodes" "${figs[@]}" "$(check ready_under_5s "$ok")" \
                "$(check serves_empty "$([ "$topics" = 0 ] && [ "$nodes" = 0 ] && echo true || echo false)")" \
                "$(check warned "$(grep -q 'WARNING: BOOTSTRAP' "$log" && echo true || echo false)")"
            echo "   ready ${READY_S}s, $topics topics, $nodes nodes; $(log_line "$log" 'WARNING: BOOTSTRAP')" >&2
            stop "$NEW_PID"
            if [ -n "$srv" ]; then stop "$srv"; fi
        done
    done
}

for part in $PARTS; do
    case $part in
    fleet) part_fleet ;;
    done)
        if [ -n "$GO" ] && [ -n "$NSQD" ]; then part_done; else echo "== done: skipped (GO_NSQLOOKUPD and NSQD needed)" >&2; fi
        ;;
    fail) part_fail ;;
    *) echo "unknown part $part (fleet, done, fail)" >&2; exit 2 ;;
    esac
done

# summary.md: per case, the run count and the median of every figure; checks
# as passed/runs.
python3 - "$RESULTS" >"$RUN_DIR/summary.md" <<'PY'
import json, statistics, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
groups = {}
for r in recs:
    groups.setdefault((r["impl"], r["case"]), []).append(r)
cols = [("ready_s", "start → /ping s", "%.2f"), ("boot_s", "bootstrap s", "%.2f"),
        ("restored_producers", "producers", "%d"), ("restored_topics", "topics", "%d"),
        ("restored_channels", "channels", "%d"), ("restored_registrations", "registrations", "%d"),
        ("restored_tombstones", "tombstones", "%d"), ("channels_unread", "channels unread", "%d"),
        ("rss_kib", "RSS MiB", None), ("rss_kib_later", "RSS MiB later", None), ("peer_rss_kib", "peer RSS MiB", None), ("peer_register_s", "peer registered in s", "%.2f")]
print("# bootstrap (-bootstrap-from): medians\n")
print("| case | runs | " + " | ".join(c[1] for c in cols) + " | checks passed |")
print("|---|---:|" + "---:|" * len(cols) + "---|")
for (impl, case), rs in groups.items():
    cells = []
    for key, _, fmt in cols:
        vs = [r.get("figures", {}).get(key) for r in rs]
        vs = [v for v in vs if isinstance(v, (int, float))]
        if not vs:
            cells.append("")
            continue
        m = statistics.median(vs)
        cells.append("%.1f" % (m / 1024) if fmt is None else fmt % m)
    checks = {}
    for r in rs:
        for k, v in r.get("checks", {}).items():
            checks.setdefault(k, []).append(v is True)
    chk = ", ".join("%s %d/%d" % (k, sum(v), len(v)) for k, v in checks.items())
    print("| %s (%s) | %d | %s | %s |" % (case, impl, len(rs), " | ".join(cells), chk))
for (impl, case), rs in groups.items():
    for who in ("new", "fleet", "peer"):
        k = sum(r.get("figures", {}).get(who + "_needed_sigkill", 0) for r in rs)
        if k:
            print("\n%s (%s): the %s did not exit within STOP_WAIT s of SIGTERM in %d of %d runs (SIGKILL)."
                  % (case, impl, {"new": "new instance", "fleet": "loadgen fleet", "peer": "peer"}[who], k, len(rs)))
extra = [r for r in recs if "lookup_producers_max_during_restart" in r.get("figures", {})]
if extra:
    f = [r["figures"] for r in extra]
    print("\nDone-when, nsqd restarted against ours: reconnected (both new remote addresses in /nodes) "
          "after a median %.2f s; /lookup of a topic both hold listed at most %d and at least %d producers "
          "while they restarted; /nodes then listed %s." % (
              statistics.median(x["reconnect_s"] for x in f),
              max(x["lookup_producers_max_during_restart"] for x in f),
              min(x["lookup_producers_min_during_restart"] for x in f),
              "/".join(str(x["nodes_after"]) for x in f)))
print("\nRaw lines: results.jsonl (log lines of each bootstrap in its \"log\" object).")
PY
cat "$RUN_DIR/summary.md"
FAILURES=$(python3 -c 'import json,sys
print(sum(v is not True for l in open(sys.argv[1]) if l.strip() for v in json.loads(l).get("checks", {}).values()))' "$RESULTS")
echo "== $FAILURES check(s) failed" >&2
[ "$FAILURES" = 0 ]
