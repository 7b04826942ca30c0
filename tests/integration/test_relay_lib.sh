#!/usr/bin/env bash
# Shared by the test_relay_*.sh integration tests (sourced, not run): starts relays on loopback,
# runs dchat-bench against them, reads their counters, and kills every process it started (by
# PID, in an EXIT trap). Nothing here sleeps for a fixed time to hope something happened: every
# wait polls for its condition under a generous deadline.
set -euo pipefail

bin=${DCHAT_BIN:?DCHAT_BIN must point at the dchat binary}
build=${DCHAT_BUILD_ROOT:?DCHAT_BUILD_ROOT must point at the build directory}
bench=$build/bench/dchat-bench
fwd=$build/bench/dchat-fwd
tmp=$(mktemp -d)
pids=()
relay_pids=()
relay_ports=()
relay_rpc=()

cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    [[ -n ${KEEP_TMP:-} ]] || rm -rf "$tmp"
}
trap cleanup EXIT

# Prints the tail of every relay log, then fails the test.
fail() {
    echo "FAIL: $*" >&2
    local f
    for f in "$tmp"/*.log; do
        [[ -e $f ]] || continue
        echo "--- $(basename "$f") (last 15 lines)" >&2
        tail -n 15 "$f" >&2
    done
    exit 1
}

# A base port with `count` free UDP ports above it (tests and engineers share the machine).
pick_ports() {
    local count=$1 base p busy
    for _ in $(seq 50); do
        base=$((20000 + RANDOM % 12000)) # below the ephemeral range (32768-)
        busy=0
        for ((p = base; p < base + 2 * count; p++)); do
            if ss -Hln "( sport = :$p )" 2>/dev/null | grep -q .; then
                busy=1
                break
            fi
        done
        ((busy)) || { echo "$base"; return 0; }
    done
    fail "no free port range found"
}

# Waits (up to 10 s) until relay INDEX logs that it is listening. Skips the test (exit 77)
# while `dchat --role relay` is not in this build yet: the relay then exits at once saying so.
# A relay that dies for another reason fails the test. (dchat-bench's warm-up then checks
# that the path really works.)
check_relay_start() {
    local i=$1 deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)) && ! grep -qs 'listening' "$tmp/r$i.log"; do
        if ! kill -0 "${relay_pids[$i]}" 2>/dev/null; then
            if grep -qs 'not yet available' "$tmp/r$i.log"; then
                echo "SKIP: the relay dataplane is not in this build yet" >&2
                exit 77
            fi
            fail "relay $i exited at start"
        fi
        sleep 0.1
    done
}

# start_relay INDEX PEERS [EXTRA FLAGS...]: relay INDEX listens on 127.0.0.1:${relay_ports[INDEX]}.
start_relay() {
    local i=$1 peers=$2
    shift 2
    local port=${relay_ports[$i]} rpc=$((${relay_ports[$i]} + ${#relay_ports[@]}))
    "$bin" keygen --out "$tmp/r$i.key" >/dev/null
    "$bin" --role relay --listen "127.0.0.1:$port" --peers "$peers" --key "$tmp/r$i.key" \
        --rpc "127.0.0.1:$rpc" --data-dir "$tmp/r$i.data" --bootstrap-nodes "" \
        --stats-interval 1 "$@" >"$tmp/r$i.log" 2>&1 &
    pids+=($!)
    relay_pids[$i]=$!
    relay_rpc[$i]=$rpc
}

relay_pids=()

# Fails unless every relay process is still alive.
relays_alive() {
    local i
    for i in "${!relay_pids[@]}"; do
        kill -0 "${relay_pids[$i]}" 2>/dev/null || fail "relay $i (pid ${relay_pids[$i]}) died"
    done
}

# run_bench OUT ARGS...: dchat-bench --json into OUT (stderr into OUT.err); fails on error.
run_bench() {
    local out=$1
    shift
    "$bench" --json --warmup-ms 60000 "$@" >"$out" 2>"$out.err" ||
        { cat "$out.err" >&2; fail "dchat-bench $* exited with $?"; }
}

# jget FILE KEY: one field of a bench JSON report (jq path).
jget() {
    jq -r "$2" "$1"
}

# expect_exact FILE N: the report shows N messages delivered exactly once, nothing invalid.
expect_exact() {
    local f=$1 n=$2
    relays_alive
    [[ $(jget "$f" .unsent) == 0 ]] ||
        fail "the bench stalled: $(jget "$f" .lost) lost filled its window," \
            "$(jget "$f" .unsent) never sent"
    [[ $(jget "$f" .sent) == "$n" ]] || fail "sent $(jget "$f" .sent), wanted $n"
    [[ $(jget "$f" .delivered) == "$n" ]] ||
        fail "delivered $(jget "$f" .delivered) of $n ($(jget "$f" .lost) lost)"
    [[ $(jget "$f" .lost) == 0 ]] || fail "lost $(jget "$f" .lost)"
    [[ $(jget "$f" .duplicates) == 0 ]] || fail "$(jget "$f" .duplicates) duplicates delivered"
    [[ $(jget "$f" .invalid_delivered) == 0 ]] ||
        fail "$(jget "$f" .invalid_delivered) invalid or garbage items delivered"
}

# relay_stat INDEX NAME: relay INDEX's counter or gauge NAME (a dataplane stat, e.g.
# invalid_sig), read from its /metrics (dchat_dp_NAME_total, or dchat_dp_NAME for a gauge) or, when the RPC does not answer, from the latest
# stats line in its log (NAME=VALUE, logged every second while traffic flows).
relay_stat() {
    local v
    v=$(curl -s --max-time 2 "http://127.0.0.1:${relay_rpc[$1]}/metrics" 2>/dev/null |
        awk -v n="dchat_dp_$2" '$1 == n "_total" || $1 == n {print $2}')
    if [[ -z $v ]]; then
        v=$(grep -so "\b$2=[0-9]*" "$tmp/r$1.log" | tail -n 1 | cut -d= -f2)
    fi
    echo "${v:-0}"
}

# wait_stat INDEX NAME MIN: polls (up to 30 s) until the logged counter reaches MIN.
wait_stat() {
    local deadline=$((SECONDS + 30))
    while (($(relay_stat "$1" "$2") < $3)); do
        ((SECONDS < deadline)) || fail "relay $1: $2=$(relay_stat "$1" "$2"), wanted >= $3"
        sleep 0.2
    done
}
