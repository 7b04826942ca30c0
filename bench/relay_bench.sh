#!/usr/bin/env bash
# The two relay benchmarks of docs/BENCHMARKS.md, each beside its baseline from the same run:
#
#   bench/relay_bench.sh verify     one relay, --verify-workers 1: delivered msgs/s against
#                                   libsodium's single-core verify rate (target >= 0.85x)
#   bench/relay_bench.sh dataplane  one relay, --bench-skip-verify, 128-byte payloads:
#                                   delivered msgs/s against the kernel recvmmsg/sendmmsg
#                                   forwarder (target >= 1.0x)
#
# Prints dchat-bench's JSON report, a one-line verdict, and the relay's CPU time per message
# (from /proc) beside the baseline's, a figure that the machine's other load hardly moves. BUILD_DIR (default build), PORT
# (default 9300), MESSAGES, RATE and WINDOW override the defaults; extra arguments go to the
# relay.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:?usage: bench/relay_bench.sh verify|dataplane [relay flags...]}
shift
build=${BUILD_DIR:-build}
port=${PORT:-9300}
tmp=$(mktemp -d)
relay_pid=
cleanup() {
    [[ -n $relay_pid ]] && { kill "$relay_pid" 2>/dev/null || true; wait "$relay_pid" || true; }
    rm -rf "$tmp"
}
trap cleanup EXIT

case $kind in
verify)
    # A window of messages in flight keeps the one worker's queue non-empty without flooding
    # it: the sender costs little CPU, nothing is dropped, and the worker is the bottleneck.
    relay_flags=(--verify-workers 1)
    bench_flags=(--messages "${MESSAGES:-100000}" --size 128 --window "${WINDOW:-4000}")
    [[ -n ${RATE:-} ]] && bench_flags+=(--rate "$RATE")
    field=.ratios.vs_verify_core target=0.85
    cost='1e9 / .baseline.verify_per_cpu_s' cost_what='one libsodium verify' ;;
dataplane)
    relay_flags=(--bench-skip-verify)
    bench_flags=(--messages "${MESSAGES:-500000}" --size 128)
    [[ -n ${RATE:-} ]] && bench_flags+=(--rate "$RATE")
    field=.ratios.vs_kernel_udp target=1.0
    cost=.baseline.kernel_udp_cpu_ns_per_msg cost_what='kernel forwarder thread' ;;
*)
    echo "relay_bench.sh: unknown benchmark '$kind' (verify or dataplane)" >&2
    exit 2 ;;
esac

"$build/engine/dchat" keygen --out "$tmp/relay.key" >/dev/null
"$build/engine/dchat" --role relay --listen "127.0.0.1:$port" --peers "" --key "$tmp/relay.key" \
    --rpc "127.0.0.1:$((port + 1))" --data-dir "$tmp/data" --bootstrap-nodes "" \
    "${relay_flags[@]}" "$@" >"$tmp/relay.log" 2>&1 &
relay_pid=$!
# The relay's CPU time (user + system, in clock ticks) from /proc, around the whole run.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$relay_pid/stat"; }
cpu_before=$(cpu_ticks)
"$build/bench/dchat-bench" --target "127.0.0.1:$port" --subscribe "127.0.0.1:$port" \
    "${bench_flags[@]}" --json --drain-ms 1000 --warmup-ms 20000 >"$tmp/report.json" ||
    { tail -n 5 "$tmp/relay.log" >&2; exit 1; }
cpu_after=$(cpu_ticks)
rx_msgs=$(curl -s --max-time 2 "http://127.0.0.1:$((port + 1))/metrics" |
    awk '$1 == "dchat_dp_rx_msgs_total" {print $2}')
jq . "$tmp/report.json"
if [[ -n $rx_msgs && $rx_msgs -gt 0 ]]; then
    # CPU per message: unlike rates, a cost that other load on the machine hardly moves.
    awk -v t=$((cpu_after - cpu_before)) -v hz="$(getconf CLK_TCK)" -v n="$rx_msgs" \
        -v k="$(jq -r "$cost" "$tmp/report.json")" -v what="$cost_what" \
        'BEGIN { r = t * 1e9 / hz / n; printf "relay_bench.sh: CPU per message: relay %.0f ns" \
                 " (all its threads), %s %.0f ns: %.2fx\n", r, what, k, (k > 0 ? r / k : 0) }'
fi
ratio=$(jq -r "$field" "$tmp/report.json")
verdict=$(awk -v r="$ratio" -v t="$target" 'BEGIN { print (r >= t) ? "meets" : "MISSES" }')
echo "relay_bench.sh: $kind: ratio $ratio ($field), $verdict the target >= $target"
echo "relay_bench.sh: relay's last stats line:"
grep -i 'stats\|verified' "$tmp/relay.log" | tail -n 1 || true
