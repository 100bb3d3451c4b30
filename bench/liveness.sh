#!/usr/bin/env bash
# Liveness of nsqd registrations: ours vs the Go nsqlookupd, side by side.
#
# What it measures: how long each lookupd keeps answering for, and keeps a
# TCP connection open to, an nsqd whose host vanishes or whose process hangs;
# that a healthy nsqd is never dropped; and whether a real consumer (nsq_tail)
# can reach an nsqd that advertises an unresolvable broadcast address.
#
# How: every experiment gets its own pair of network namespaces joined by a
# veth pair, lookupd side 10.77.0.1/24, nsqd side 10.77.0.2/24. Both lookupds
# (ours on TCP 4160 / HTTP 4161, Go on 5160 / 5161) run at the same time in
# the lookupd namespace and one real nsqd, in the other namespace, registers
# with both (two -lookupd-tcp-address flags), so both see the same nsqd at
# the same moment. Once a second the script asks each lookupd's
# /lookup?topic=T (curl, inside the lookupd namespace) and runs `ss -tno`
# there, noting the first second at which the producer is no longer listed,
# its connection is no longer ESTABLISHED, and no socket from 10.77.0.2 is
# left at all (1 s resolution). t=0 comes about a second after the nsqd
# connected and sent its REGISTER commands (topic and channel creation), so
# the nsqd's last message to the lookupds is at t≈0 and its next PING would
# have been due at t≈14 s.
#
#   1 vanish  : `ip -n <nsqd ns> link set veth0 down` at t=0, watched 240 s
#   2 hung    : `kill -STOP <nsqd>` at t=0, watched 360 s, then -CONT
#   3 healthy : nsqd left alone 600 s (in parallel with 1, 2 and 4); must stay
#               listed by both, and our log must have no "sent nothing for"
#   4 reach   : nsqd with -broadcast-address=nsqd-unreachable.invalid, ours
#               with -producer-address=auto; 3 messages published, then
#               nsq_tail -n 3 (30 s timeout) through each lookupd
#
# Usage (as root):
#   NSQD=... GO_NSQLOOKUPD=... OURS_NSQLOOKUPD=... NSQ_TAIL=... bench/liveness.sh
# Output: $OUT (default bench/results/20261203-liveness/): manifest.json,
# results.jsonl (one {experiment, implementation, metric, value, unit} per
# line), summary.md. Logs stay in a temp dir that is removed at exit
# (KEEP_LOGS=1 keeps it). Window lengths can be shortened for a smoke run
# with VANISH_WINDOW, HUNG_WINDOW, HEALTHY_WINDOW (seconds).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
NSQD=${NSQD:-/work/gonsq/bin/nsqd}
GO_NSQLOOKUPD=${GO_NSQLOOKUPD:-/work/gonsq/bin/nsqlookupd}
OURS_NSQLOOKUPD=${OURS_NSQLOOKUPD:-/work/bins/aa3c124/nsqlookupd}
NSQ_TAIL=${NSQ_TAIL:-/work/gonsq/bin/nsq_tail}
OUT=${OUT:-$HERE/results/20261203-liveness}
VANISH_WINDOW=${VANISH_WINDOW:-240}
HUNG_WINDOW=${HUNG_WINDOW:-360}
HEALTHY_WINDOW=${HEALTHY_WINDOW:-600}
TAIL_TIMEOUT=${TAIL_TIMEOUT:-30}
KEEP_LOGS=${KEEP_LOGS:-0}

LK_IP=10.77.0.1
NQ_IP=10.77.0.2
PREFIX=24
declare -A TCP_PORT=([ours]=4160 [go]=5160)
declare -A HTTP_PORT=([ours]=4161 [go]=5161)
declare -A BIN=([ours]=$OURS_NSQLOOKUPD [go]=$GO_NSQLOOKUPD)
IMPLS=(ours go)
NSQD_TCP=4150
NSQD_HTTP=4151
TOPIC=T
CHANNEL=c
TAG=lv$$                      # namespace names: lv<pid>-<experiment>-{lk,nq}
UNREACHABLE=nsqd-unreachable.invalid

WORK=$(mktemp -d /tmp/nsq-liveness.XXXXXX)
touch "$WORK/netns" "$WORK/commands"   # plus pids.<shell pid> files
BG_JOBS=()

# ---------------------------------------------------------------- plumbing

log() { printf '[%(%T)T] %s\n' -1 "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

cleanup() {
    local rc=$? pid ns
    trap - EXIT INT TERM
    for pid in "${BG_JOBS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${BG_JOBS[@]}"; do { wait "$pid"; } 2>/dev/null || true; done
    stop_spawned_by_all
    while read -r ns; do ip netns del "$ns" 2>/dev/null || true; done <"$WORK/netns"
    if [[ $KEEP_LOGS == 1 ]]; then log "logs kept in $WORK"; else rm -rf "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }

# sleep_until_us T: sleep until the microsecond clock reaches T
sleep_until_us() {
    local d=$(($1 - $(now_us)))
    ((d > 0)) && sleep "$(printf '%d.%06d' $((d / 1000000)) $((d % 1000000)))"
    return 0
}

# note_cmd EXP CMD...: remember a command of experiment EXP for the manifest
note_cmd() { local exp=$1; shift; printf '%s\t%s\n' "$exp" "$*" >>"$WORK/commands"; }

# in_ns lk|nq: how the manifest names a namespace
in_ns() { [[ $1 == lk ]] && echo "ip netns exec <lookupd ns>" || echo "ip netns exec <nsqd ns>"; }

# ns_lk EXP / ns_nq EXP: namespace names of an experiment's pair
ns_lk() { echo "$TAG-$1-lk"; }
ns_nq() { echo "$TAG-$1-nq"; }

# make_pair EXP: two namespaces, a veth pair between them, addresses, lo up
make_pair() {
    local lk nq
    lk=$(ns_lk "$1") nq=$(ns_nq "$1")
    ip netns add "$lk" && echo "$lk" >>"$WORK/netns"
    ip netns add "$nq" && echo "$nq" >>"$WORK/netns"
    ip link add veth0 netns "$lk" type veth peer name veth0 netns "$nq"
    ip -n "$lk" addr add "$LK_IP/$PREFIX" dev veth0
    ip -n "$nq" addr add "$NQ_IP/$PREFIX" dev veth0
    local ns
    for ns in "$lk" "$nq"; do
        ip -n "$ns" link set lo up
        ip -n "$ns" link set veth0 up
    done
}

# spawn EXP lk|nq LOGFILE CMD...: start CMD in that namespace of EXP, in the
# background (`ip netns exec` execs it, so the pid is CMD's); pid in SPAWNED,
# also listed in this shell's pids file
spawn() {
    local exp=$1 side=$2 logf=$3; shift 3
    note_cmd "$exp" "$(in_ns "$side")" "$@"
    ip netns exec "$TAG-$exp-$side" "$@" >>"$logf" 2>&1 &
    SPAWNED=$!
    echo "$SPAWNED" >>"$WORK/pids.$BASHPID"
}

# stop_spawned: stop (SIGCONT, SIGTERM, then SIGKILL) and reap what this shell
# spawned
stop_spawned() {
    local f="$WORK/pids.$BASHPID" pid i
    [[ -f $f ]] || return 0
    while read -r pid; do
        kill -CONT "$pid" 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true
    done <"$f"
    for ((i = 0; i < 50; i++)); do
        xargs -r kill -0 2>/dev/null <"$f" || break
        sleep 0.1
    done
    while read -r pid; do
        kill -KILL "$pid" 2>/dev/null || true
        { wait "$pid"; } 2>/dev/null || true
    done <"$f"
    rm -f "$f"
}

# stop_spawned_by_all: at exit, whatever any shell of this script left running
stop_spawned_by_all() {
    local f pid
    stop_spawned
    for f in "$WORK"/pids.*; do
        [[ -f $f ]] || continue
        while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done <"$f"
    done
}

# wait_http NS URL: wait up to 10 s for URL to answer 200
wait_http() {
    local i
    for ((i = 0; i < 100; i++)); do
        ip netns exec "$1" curl -sf -o /dev/null --max-time 1 "$2" && return 0
        sleep 0.1
    done
    die "$2 did not come up"
}

# start_lookupds EXP [OURS_EXTRA_FLAGS...]: ours and Go in EXP's lookupd ns
start_lookupds() {
    local exp=$1; shift
    local lk impl extra
    lk=$(ns_lk "$exp")
    for impl in "${IMPLS[@]}"; do
        extra=()
        [[ $impl == ours ]] && extra=("$@")
        spawn "$exp" lk "$WORK/$exp-$impl-lookupd.log" "${BIN[$impl]}" \
            -tcp-address="$LK_IP:${TCP_PORT[$impl]}" -http-address="$LK_IP:${HTTP_PORT[$impl]}" \
            -broadcast-address="$LK_IP" -log-level=info "${extra[@]}"
        wait_http "$lk" "http://$LK_IP:${HTTP_PORT[$impl]}/ping"
    done
}

# start_nsqd EXP BROADCAST: one nsqd registered with both lookupds; NSQD_PID
start_nsqd() {
    local exp=$1 nq
    nq=$(ns_nq "$exp")
    mkdir -p "$WORK/$exp-nsqd-data"
    spawn "$exp" nq "$WORK/$exp-nsqd.log" "$NSQD" \
        -data-path="$WORK/$exp-nsqd-data" \
        -tcp-address="$NQ_IP:$NSQD_TCP" -http-address="$NQ_IP:$NSQD_HTTP" \
        -broadcast-address="$2" \
        -lookupd-tcp-address="$LK_IP:${TCP_PORT[ours]}" \
        -lookupd-tcp-address="$LK_IP:${TCP_PORT[go]}" -log-level=info
    NSQD_PID=$SPAWNED
    wait_http "$nq" "http://$NQ_IP:$NSQD_HTTP/ping"
}

# nsqd_post EXP PATH [BODY]: POST to the experiment's nsqd
nsqd_post() {
    ip netns exec "$(ns_nq "$1")" curl -sf --max-time 5 -X POST --data-binary "${3:-}" \
        "http://$NQ_IP:$NSQD_HTTP$2" >/dev/null || die "$1: POST $2 failed"
}

# create_topic EXP CHANNEL...: topic T and the given channels on the nsqd
create_topic() {
    local exp=$1 ch; shift
    note_cmd "$exp" "$(in_ns nq) curl -X POST http://$NQ_IP:$NSQD_HTTP/topic/create?topic=$TOPIC"
    nsqd_post "$exp" "/topic/create?topic=$TOPIC"
    for ch in "$@"; do
        note_cmd "$exp" "$(in_ns nq) curl -X POST http://$NQ_IP:$NSQD_HTTP/channel/create?topic=$TOPIC&channel=$ch"
        nsqd_post "$exp" "/channel/create?topic=$TOPIC&channel=$ch"
    done
}

# lookup_json EXP IMPL: that lookupd's /lookup?topic=T body ('{}' if none)
lookup_json() {
    ip netns exec "$(ns_lk "$1")" curl -s --max-time 2 \
        "http://$LK_IP:${HTTP_PORT[$2]}/lookup?topic=$TOPIC" 2>/dev/null || echo '{}'
}

# listed EXP IMPL: number of producers /lookup?topic=T lists
listed() { lookup_json "$1" "$2" | jq '.producers // [] | length' 2>/dev/null || echo 0; }

# conn_states EXP IMPL: states of the sockets from the nsqd to that lookupd's
# TCP port, as `ss -tno` shows them in the lookupd namespace ("none" if none)
conn_states() {
    local s
    s=$(ip netns exec "$(ns_lk "$1")" ss -tnoH dst "$NQ_IP" "sport = :${TCP_PORT[$2]}" |
        awk '{print $1}' | sort | paste -sd, -)
    echo "${s:-none}"
}

# wait_listed EXP: until both lookupds list the producer with channel c
wait_listed() {
    local i impl ok
    for ((i = 0; i < 300; i++)); do
        ok=1
        for impl in "${IMPLS[@]}"; do
            lookup_json "$1" "$impl" |
                jq -e --arg c "$CHANNEL" '(.producers|length) >= 1 and (.channels|index($c)) != null' \
                    >/dev/null 2>&1 || ok=0
        done
        ((ok)) && return 0
        sleep 0.1
    done
    die "$1: the nsqd was not listed by both lookupds within 30 s"
}

# emit EXP IMPL METRIC JSON_VALUE UNIT [NOTE]: one result line
emit() {
    jq -nc --arg e "$1" --arg i "$2" --arg m "$3" --argjson v "$4" --arg u "$5" --arg n "${6:-}" \
        '{experiment:$e, implementation:$i, metric:$m, value:$v, unit:$u}
         + (if $n == "" then {} else {note:$n} end)' >>"$WORK/results-$1.jsonl"
}

# emit_first EXP IMPL METRIC SECONDS WINDOW: a first-seen time, or null
emit_first() {
    if [[ $4 == - ]]; then
        emit "$1" "$2" "$3" null s "not within $5 s"
    else
        emit "$1" "$2" "$3" "$4" s
    fi
}

# observe EXP WINDOW: poll once a second for WINDOW s from t0 (set by the
# caller just before its event); writes EXP-timeline.tsv and sets, per impl,
# FIRST_UNLISTED, FIRST_NOT_ESTAB, FIRST_GONE (second, or -), UNLISTED_POLLS,
# LAST_LISTED, LAST_STATES
declare -A FIRST_UNLISTED FIRST_NOT_ESTAB FIRST_GONE UNLISTED_POLLS LAST_LISTED LAST_STATES
observe() {
    local exp=$1 window=$2 i impl n st line
    local tl="$WORK/$exp-timeline.tsv"
    for impl in "${IMPLS[@]}"; do
        FIRST_UNLISTED[$impl]=- FIRST_NOT_ESTAB[$impl]=- FIRST_GONE[$impl]=- UNLISTED_POLLS[$impl]=0
    done
    printf 't\tours_listed\tours_conn\tgo_listed\tgo_conn\n' >"$tl"
    for ((i = 1; i <= window; i++)); do
        sleep_until_us $((T0_US + i * 1000000))
        line=$i
        for impl in "${IMPLS[@]}"; do
            n=$(listed "$exp" "$impl")
            st=$(conn_states "$exp" "$impl")
            LAST_LISTED[$impl]=$n LAST_STATES[$impl]=$st
            if ((n == 0)); then
                UNLISTED_POLLS[$impl]=$((UNLISTED_POLLS[$impl] + 1))
                [[ ${FIRST_UNLISTED[$impl]} == - ]] && FIRST_UNLISTED[$impl]=$i
            fi
            if [[ $st != *ESTAB* && ${FIRST_NOT_ESTAB[$impl]} == - ]]; then FIRST_NOT_ESTAB[$impl]=$i; fi
            if [[ $st == none && ${FIRST_GONE[$impl]} == - ]]; then FIRST_GONE[$impl]=$i; fi
            line+=$'\t'"$n"$'\t'"$st"
        done
        echo "$line" >>"$tl"
        if ((i % 30 == 0)); then log "$exp t=${i}s ${line//$'\t'/ }"; fi
    done
}

# emit_drop_metrics EXP WINDOW: the three first-seen times per impl
emit_drop_metrics() {
    local impl
    for impl in "${IMPLS[@]}"; do
        emit_first "$1" "$impl" producer_unlisted_after "${FIRST_UNLISTED[$impl]}" "$2"
        emit_first "$1" "$impl" conn_not_established_after "${FIRST_NOT_ESTAB[$impl]}" "$2"
        emit_first "$1" "$impl" conn_gone_after "${FIRST_GONE[$impl]}" "$2"
    done
}

# emit_end_state EXP WINDOW: still listed / socket states at the end
emit_end_state() {
    local impl
    for impl in "${IMPLS[@]}"; do
        emit "$1" "$impl" listed_at_end "$( ((LAST_LISTED[$impl] > 0)) && echo true || echo false)" bool \
            "after $2 s"
        emit "$1" "$impl" conn_states_at_end "$(jq -nc --arg s "${LAST_STATES[$impl]}" '$s')" ss_states \
            "after $2 s"
    done
}

# setup_registered EXP BROADCAST [OURS_FLAGS...]: pair, lookupds, nsqd, topic
setup_registered() {
    local exp=$1 bcast=$2; shift 2
    make_pair "$exp"
    start_lookupds "$exp" "$@"
    start_nsqd "$exp" "$bcast"
    create_topic "$exp" "$CHANNEL"
    wait_listed "$exp"
}

# ------------------------------------------------------------- experiments

exp_vanish() {
    local exp=1-vanish
    setup_registered "$exp" "$NQ_IP"
    log "$exp: link down, watching ${VANISH_WINDOW}s"
    note_cmd "$exp" "t=0: ip -n <nsqd ns> link set veth0 down"
    T0_US=$(now_us)
    ip -n "$(ns_nq "$exp")" link set veth0 down
    observe "$exp" "$VANISH_WINDOW"
    stop_spawned
    emit_drop_metrics "$exp" "$VANISH_WINDOW"
    emit_end_state "$exp" "$VANISH_WINDOW"
}

exp_hung() {
    local exp=2-hung
    setup_registered "$exp" "$NQ_IP"
    log "$exp: SIGSTOP nsqd, watching ${HUNG_WINDOW}s"
    note_cmd "$exp" "t=0: kill -STOP <nsqd pid>; kill -CONT <nsqd pid> after ${HUNG_WINDOW} s"
    T0_US=$(now_us)
    kill -STOP "$NSQD_PID"
    observe "$exp" "$HUNG_WINDOW"
    kill -CONT "$NSQD_PID"
    stop_spawned
    emit_drop_metrics "$exp" "$HUNG_WINDOW"
    emit_end_state "$exp" "$HUNG_WINDOW"
}

exp_healthy() {
    local exp=3-healthy impl
    setup_registered "$exp" "$NQ_IP"
    log "$exp: leaving a healthy nsqd alone for ${HEALTHY_WINDOW}s"
    T0_US=$(now_us)
    observe "$exp" "$HEALTHY_WINDOW"
    emit_end_state "$exp" "$HEALTHY_WINDOW"
    for impl in "${IMPLS[@]}"; do
        emit "$exp" "$impl" unlisted_polls "${UNLISTED_POLLS[$impl]}" polls "of $HEALTHY_WINDOW, one a second"
    done
    stop_spawned
    emit "$exp" ours sent_nothing_log_lines "$(grep -c 'sent nothing for' "$WORK/$exp-ours-lookupd.log" || true)" lines
}

# tail_through EXP IMPL CHANNEL: nsq_tail -n 3 via that lookupd; emits results
tail_through() {
    local exp=$1 impl=$2 ch=$3 rc=0 out printed
    out="$WORK/$exp-tail-$impl.out"
    note_cmd "$exp" "$(in_ns lk)" timeout "$TAIL_TIMEOUT" "$NSQ_TAIL" \
        -lookupd-http-address="$LK_IP:${HTTP_PORT[$impl]}" -topic="$TOPIC" -channel="$ch" -n 3
    ip netns exec "$(ns_lk "$exp")" timeout "$TAIL_TIMEOUT" "$NSQ_TAIL" \
        -lookupd-http-address="$LK_IP:${HTTP_PORT[$impl]}" -topic="$TOPIC" -channel="$ch" -n 3 \
        >"$out" 2>"$WORK/$exp-tail-$impl.err" || rc=$?
    printed=$(grep -c '^liveness-msg-[123]$' "$out" || true)
    emit "$exp" "$impl" tail_messages_printed "$printed" messages "of 3; timeout ${TAIL_TIMEOUT}s"
    emit "$exp" "$impl" tail_exit_code "$rc" code "124 = killed by timeout"
    emit "$exp" "$impl" tail_ok "$( ((printed == 3 && rc == 0)) && echo true || echo false)" bool
}

exp_reach() {
    local exp=4-reach impl i warn
    make_pair "$exp"
    start_lookupds "$exp" -producer-address=auto
    start_nsqd "$exp" "$UNREACHABLE"
    # one channel per consumer so each nsq_tail gets its own copy of the 3
    # messages (a fresh ephemeral channel would not see messages published
    # before it existed)
    create_topic "$exp" "$CHANNEL" tail-ours tail-go
    wait_listed "$exp"
    for i in 1 2 3; do
        note_cmd "$exp" "$(in_ns nq) curl -X POST -d liveness-msg-$i http://$NQ_IP:$NSQD_HTTP/pub?topic=$TOPIC"
        nsqd_post "$exp" "/pub?topic=$TOPIC" "liveness-msg-$i"
    done
    for impl in "${IMPLS[@]}"; do
        emit "$exp" "$impl" lookup_broadcast_address \
            "$(lookup_json "$exp" "$impl" | jq -c '[.producers[]?.broadcast_address]')" addresses
    done
    for impl in "${IMPLS[@]}"; do
        log "$exp: nsq_tail through $impl"
        tail_through "$exp" "$impl" "tail-$impl"
    done
    emit "$exp" ours reachability \
        "$(ip netns exec "$(ns_lk "$exp")" curl -s --max-time 2 "http://$LK_IP:${HTTP_PORT[ours]}/reachability" |
            jq -c . 2>/dev/null || echo null)" json
    warn=$(grep -m1 -E 'WARN' "$WORK/$exp-ours-lookupd.log" || true)
    emit "$exp" ours warning_log_line "$(jq -nc --arg s "$warn" '$s')" text
    stop_spawned
}

# ---------------------------------------------------------------- outputs

# help_default BIN FLAG: the "(default X)" of FLAG in BIN -help, or empty
help_default() {
    "$1" -help 2>&1 | awk -v f="-$2" '
        $1 == f { on = 1; next }
        on && /^  -/ { exit }
        on && match($0, /\(default [^)]*\)/) { d = substr($0, RSTART + 9, RLENGTH - 10) }
        END { gsub(/"/, "", d); print d }'
}

write_manifest() {
    local impl f defaults='{}' ns
    for impl in "${IMPLS[@]}"; do
        for f in inactive-producer-timeout tombstone-lifetime producer-heartbeat-timeout \
            producer-address identify-timeout; do
            defaults=$(jq -c --arg i "$impl" --arg f "$f" --arg v "$(help_default "${BIN[$impl]}" "$f")" \
                '.[$i][$f] = (if $v == "" then null else $v end)' <<<"$defaults")
        done
    done
    jq -n \
        --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        --argjson nproc "$(nproc)" --arg kernel "$(uname -r)" \
        --arg ours "$OURS_NSQLOOKUPD" --arg ours_v "$("$OURS_NSQLOOKUPD" -version 2>&1 | head -1)" \
        --arg ours_sha "$(sha256sum "$OURS_NSQLOOKUPD" | cut -d' ' -f1)" \
        --arg go "$GO_NSQLOOKUPD" --arg go_v "$("$GO_NSQLOOKUPD" -version 2>&1 | head -1)" \
        --arg go_sha "$(sha256sum "$GO_NSQLOOKUPD" | cut -d' ' -f1)" \
        --arg nsqd "$NSQD" --arg nsqd_v "$("$NSQD" -version 2>&1 | head -1)" \
        --arg tail "$NSQ_TAIL" --arg tail_v "$("$NSQ_TAIL" -version 2>&1 | head -1)" \
        --argjson defaults "$defaults" \
        --argjson sysctl "$(cat "$WORK/sysctl.json")" \
        --arg commands "$(sed "s|$WORK|<tmp>|g" "$WORK/commands")" \
        --argjson windows "$(jq -nc --argjson a "$VANISH_WINDOW" --argjson b "$HUNG_WINDOW" \
            --argjson c "$HEALTHY_WINDOW" --argjson d "$TAIL_TIMEOUT" \
            '{vanish_s:$a, hung_s:$b, healthy_s:$c, tail_timeout_s:$d, poll_interval_s:1}')" \
        '{date:$date,
          machine:{nproc:$nproc, kernel:$kernel},
          binaries:{
            ours_nsqlookupd:{path:$ours, version:$ours_v, sha256:$ours_sha},
            go_nsqlookupd:{path:$go, version:$go_v, sha256:$go_sha},
            nsqd:{path:$nsqd, version:$nsqd_v},
            nsq_tail:{path:$tail, version:$tail_v}},
          network:{lookupd_ns_addr:"10.77.0.1/24", nsqd_ns_addr:"10.77.0.2/24",
                   ours_ports:{tcp:4160, http:4161}, go_ports:{tcp:5160, http:5161},
                   nsqd_ports:{tcp:4150, http:4151},
                   lookupd_ns_sysctl:$sysctl},
          windows:$windows,
          lookupd_defaults:$defaults,
          commands:($commands | split("\n") | map(select(. != "") | split("\t"))
                    | group_by(.[0]) | map({key:.[0][0], value:map(.[1])}) | from_entries)}' \
        >"$OUT/manifest.json"
}

# record_sysctls EXP: TCP timers that matter here, as seen in EXP's lookupd ns
record_sysctls() {
    local k obj='{}'
    for k in tcp_keepalive_time tcp_keepalive_intvl tcp_keepalive_probes tcp_retries2 \
        tcp_orphan_retries tcp_fin_timeout; do
        obj=$(jq -c --arg k "$k" --arg v "$(ip netns exec "$(ns_lk "$1")" sysctl -n "net.ipv4.$k")" \
            '.[$k] = ($v|tonumber)' <<<"$obj")
    done
    echo "$obj" >"$WORK/sysctl.json"
}

write_summary() {
    {
        echo "# nsqd liveness: ours vs Go nsqlookupd ($(date -u +%Y-%m-%d))"
        echo
        echo "ours: \`$("$OURS_NSQLOOKUPD" -version 2>&1 | head -1)\`; Go: \`$("$GO_NSQLOOKUPD" -version 2>&1 | head -1)\`;"
        echo "nsqd \`$("$NSQD" -version 2>&1 | head -1)\`. Produced by \`bench/liveness.sh\`; raw lines in"
        echo "\`results.jsonl\`, setup in \`manifest.json\`. Times are seconds after the event"
        echo "(link down / SIGSTOP), polled once a second; \"—\" = not seen within the window."
        echo
        echo "| experiment | metric | ours | Go |"
        echo "|---|---|---|---|"
        jq -rs '
            def show: if .value == null then "— (\(.note // ""))"
                      elif .unit == "s" then "\(.value) s"
                      elif (.value|type) == "string" then .value
                      else (.value|tojson) end;
            map(select(.metric != "reachability" and .metric != "warning_log_line"))
            | . as $all
            | reduce .[] as $r ([]; if any(.[]; . == [$r.experiment, $r.metric]) then .
                                    else . + [[$r.experiment, $r.metric]] end)
            | .[] | . as $k | [$all[] | select([.experiment, .metric] == $k)] | . as $g
            | "| \($g[0].experiment) | \($g[0].metric) | \(($g[] | select(.implementation=="ours") | show) // "") | \(($g[] | select(.implementation=="go") | show) // "n/a") |"
        ' "$OUT/results.jsonl"
        echo
        echo "Experiment 4, ours \`GET /reachability\`:"
        echo
        echo '```json'
        jq -r 'select(.metric == "reachability") | .value' "$OUT/results.jsonl"
        echo '```'
        echo
        echo "Experiment 4, our WARNING line:"
        echo
        echo '```'
        jq -r 'select(.metric == "warning_log_line") | .value' "$OUT/results.jsonl"
        echo '```'
    } >"$OUT/summary.md"
}

# ------------------------------------------------------------------- main

check_prereqs() {
    [[ $(id -u) == 0 ]] || die "must run as root (network namespaces)"
    local b
    for b in "$NSQD" "$GO_NSQLOOKUPD" "$OURS_NSQLOOKUPD" "$NSQ_TAIL"; do
        [[ -x $b ]] || die "not executable: $b"
    done
    for b in ip ss curl jq timeout sha256sum; do
        command -v "$b" >/dev/null || die "missing tool: $b"
    done
}

main() {
    check_prereqs
    log "NSQD=$NSQD"
    log "GO_NSQLOOKUPD=$GO_NSQLOOKUPD"
    log "OURS_NSQLOOKUPD=$OURS_NSQLOOKUPD"
    log "NSQ_TAIL=$NSQ_TAIL"
    log "OUT=$OUT  windows: vanish ${VANISH_WINDOW}s, hung ${HUNG_WINDOW}s, healthy ${HEALTHY_WINDOW}s"
    mkdir -p "$OUT"

    # 3 runs alongside the others; its own shell has its own state
    (trap - EXIT INT TERM; exp_healthy) &
    BG_JOBS+=($!)
    exp_vanish
    record_sysctls 1-vanish
    exp_hung
    exp_reach
    log "waiting for the healthy experiment to finish"
    wait "${BG_JOBS[0]}" || die "healthy experiment failed"
    BG_JOBS=()

    cat "$WORK"/results-{1-vanish,2-hung,3-healthy,4-reach}.jsonl >"$OUT/results.jsonl"
    write_manifest
    write_summary
    cat "$OUT/summary.md"
}

main "$@"
