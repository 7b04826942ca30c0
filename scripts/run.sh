#!/usr/bin/env bash
# The README's main job. On a fresh Debian 12 machine, as root: installs the packages that are
# missing, builds, starts a local network of 4 relays on loopback, drives it with dchat-bench,
# prints messages per second beside the baselines measured in the same run, and stops every
# process it started.
#
#   bench -> r0 -- r1 -- r2 -- r3 -> subscriber        (127.0.0.1, ports BASE..BASE+3)
#
# The bench keeps at most DCHAT_RUN_WINDOW (default 1000) messages in flight, so the figure is
# the rate the network sustains without loss; DCHAT_RUN_WINDOW=0 sends at full speed instead
# (then loss is part of the figure). Environment: DCHAT_RUN_MESSAGES (default 200000),
# DCHAT_RUN_RATE (msgs/s cap), DCHAT_RUN_BASE_PORT (default 9100; RPC on BASE+10..),
# BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
export BUILD_DIR=${BUILD_DIR:-build}
scripts/build.sh

bin=$BUILD_DIR/engine/dchat
bench=$BUILD_DIR/bench/dchat-bench
messages=${DCHAT_RUN_MESSAGES:-200000}
base=${DCHAT_RUN_BASE_PORT:-9100}
pace=()
[[ -n ${DCHAT_RUN_RATE:-} ]] && pace+=(--rate "$DCHAT_RUN_RATE")
[[ ${DCHAT_RUN_WINDOW:-1000} != 0 ]] && pace+=(--window "${DCHAT_RUN_WINDOW:-1000}")
tmp=$(mktemp -d)
pids=()

stop_all() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap stop_all EXIT

die() {
    echo "run.sh: $*" >&2
    local f
    for f in "$tmp"/*.log; do
        [[ -e $f ]] && { echo "--- $f" >&2; tail -n 5 "$f" >&2; }
    done
    exit 1
}

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
