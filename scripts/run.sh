#!/usr/bin/env bash
# The README's main job. On a fresh Debian 12 machine, as root: installs the packages that are
# missing, builds, starts a local network on loopback, drives it with dchat-bench, prints
# messages per second beside the baselines measured in the same run, and stops every process it
# started. Two networks (DCHAT_RUN_MODE):
#
#   testnet (default): `dchat testnet`, the seed's single-server network: 4 validators running
#     consensus (RPC 7070..7073, curl localhost:7070/chain/status) and 4 relays (RPC
#     7080..7083) that gossip to each other and to the validators. bench -> relay 1, subscriber
#     at relay 4, which follows the chain and tells the subscriber where each message became
#     final (dchat-bench --finality: final, final_per_s, finality_us); afterwards the chain
#     status of every node (same height and hash) and how many message ids are ordered. DCHAT_RUN_RPC_PORT moves the RPC
#     ports (default 7070); UDP: validators BASE..BASE+3, relays BASE+10..BASE+13.
#   relays: the relay-only line, as before:
#     bench -> r0 -- r1 -- r2 -- r3 -> subscriber        (127.0.0.1, ports BASE..BASE+3)
#
# The bench keeps at most DCHAT_RUN_WINDOW (default 1000) messages in flight, so the figure is
# the rate the network sustains without loss; DCHAT_RUN_WINDOW=0 sends at full speed instead
# (then loss is part of the figure). Environment: DCHAT_RUN_MESSAGES (default 200000; 50000
# in testnet mode, where every message crosses a full mesh of 8 nodes),
# DCHAT_RUN_RATE (msgs/s cap), DCHAT_RUN_BASE_PORT (default 9100; RPC on BASE+10..),
# BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${DCHAT_RUN_MODE:-testnet}
[[ $mode == testnet || $mode == relays ]] || {
    echo "run.sh: DCHAT_RUN_MODE must be testnet or relays, not '$mode'" >&2
    exit 2
}
scripts/deps.sh
export BUILD_DIR=${BUILD_DIR:-build}
scripts/build.sh

bin=$BUILD_DIR/engine/dchat
bench=$BUILD_DIR/bench/dchat-bench
messages=${DCHAT_RUN_MESSAGES:-200000}
[[ $mode == testnet ]] && messages=${DCHAT_RUN_MESSAGES:-50000}
base=${DCHAT_RUN_BASE_PORT:-9100}
pace=()
[[ -n ${DCHAT_RUN_RATE:-} ]] && pace+=(--rate "$DCHAT_RUN_RATE")
[[ ${DCHAT_RUN_WINDOW:-1000} != 0 ]] && pace+=(--window "${DCHAT_RUN_WINDOW:-1000}")
tmp=$(mktemp -d)
pids=()

stop_all() {
    local p
    # dchat testnet stops its children on SIGTERM; a child is only left if the testnet itself
    # died: kill those still running from our directory (a pid file may be stale).
    for p in "$tmp"/testnet/run/*.pid; do
        [[ -e $p ]] && grep -qs "$tmp" "/proc/$(cat "$p")/cmdline" && pids+=("$(cat "$p")")
    done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap stop_all EXIT

die() {
    echo "run.sh: $*" >&2
    local f
    for f in "$tmp"/*.log "$tmp"/testnet.out "$tmp"/testnet/logs/*.log; do
        [[ -e $f ]] && { echo "--- $f" >&2; tail -n 5 "$f" >&2; }
    done
    exit 1
}

run_testnet() {
    local rpc=${DCHAT_RUN_RPC_PORT:-7070} nodes="" i p
    "$bin" testnet --dir "$tmp/testnet" --base-port "$base" --relay-port $((base + 10)) \
        --rpc-port "$rpc" --status-interval 3600 >"$tmp/testnet.out" 2>&1 &
    pids+=($!)
    local deadline=$((SECONDS + 90))
    until grep -qs 'nodes healthy' "$tmp/testnet.out"; do
        kill -0 "${pids[0]}" 2>/dev/null || die "dchat testnet did not start"
        ((SECONDS < deadline)) || die "the testnet is not healthy after 90 s"
        sleep 0.2
    done
    for i in 0 1 2 3; do nodes+="127.0.0.1:$((rpc + i)),"; done
    for i in 0 1 2 3; do nodes+="127.0.0.1:$((rpc + 10 + i)),"; done
    echo "run.sh: testnet up (4 validators, 4 relays); sending $messages messages to relay 1" \
        "(127.0.0.1:$((base + 10))), subscriber at relay 4" >&2
    # --finality: relay 4 follows the chain and tells the subscriber where each message
    # became final (FINAL records); the bench reports final, final_per_s and finality_us
    "$bench" --target "127.0.0.1:$((base + 10))" --subscribe "127.0.0.1:$((base + 13))" \
        --messages "$messages" "${pace[@]}" --warmup-ms 30000 --finality ||
        die "dchat-bench failed"
    sleep 2 # one more block
    echo "run.sh: chain status of every node:" >&2
    "$bin" status --nodes "${nodes%,}" || die "the nodes do not agree (or one is down)"
    for i in 0 1 2 3 10 11 12 13; do
        p=$(curl -s --max-time 2 "http://127.0.0.1:$((rpc + i))/chain/status" |
            jq -r '"\(.role) at height \(.height): \(.messages_ordered) message ids ordered"' \
            2>/dev/null || true)
        echo "run.sh: 127.0.0.1:$((rpc + i)): ${p:-no answer}" >&2
    done
    kill -TERM "${pids[0]}"
    wait "${pids[0]}" || die "dchat testnet did not stop cleanly"
    pids=()
    echo "run.sh: done; the testnet stopped every node" >&2
}

if [[ $mode == testnet ]]; then
    run_testnet
    exit 0
fi

addr() { echo "127.0.0.1:$((base + $1))"; }
for i in 0 1 2 3; do
    peers=()
    ((i > 0)) && peers+=("$(addr $((i - 1)))")
    ((i < 3)) && peers+=("$(addr $((i + 1)))")
    "$bin" keygen --out "$tmp/r$i.key" >/dev/null
    "$bin" --role relay --listen "$(addr "$i")" --peers "$(IFS=,; echo "${peers[*]}")" \
        --key "$tmp/r$i.key" --rpc "127.0.0.1:$((base + 10 + i))" --data-dir "$tmp/r$i" \
        --bootstrap-nodes "" >"$tmp/r$i.log" 2>&1 &
    pids+=($!)
done
for i in 0 1 2 3; do # each relay logs "listening" once its socket is bound
    deadline=$((SECONDS + 10))
    until grep -qs listening "$tmp/r$i.log"; do
        kill -0 "${pids[$i]}" 2>/dev/null || die "relay r$i did not start"
        ((SECONDS < deadline)) || die "relay r$i is not listening after 10 s"
        sleep 0.1
    done
done
echo "run.sh: 4 relays up on $(addr 0) .. $(addr 3); sending $messages messages to r0," \
    "subscriber at r3" >&2
"$bench" --target "$(addr 0)" --subscribe "$(addr 3)" --messages "$messages" \
    "${pace[@]}" --warmup-ms 30000 || die "dchat-bench failed"
for i in 0 1 2 3; do
    kill -0 "${pids[$i]}" 2>/dev/null || die "relay r$i died during the run"
done
echo "run.sh: done; stopping the relays" >&2
