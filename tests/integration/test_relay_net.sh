#!/usr/bin/env bash
# Four relays on loopback, in a line or a full mesh (first argument), driven by dchat-bench:
#
#   line:  bench -> r0 -- r1 -- r2 -- r3 -> subscriber      (each relay peers with its neighbours)
#   mesh:  bench -> r0, every relay peers with every other, r3 -> subscriber
#
# 1. 100,000 valid messages at a rate the relays sustain (dchat-bench's --window: at most
#    500 messages in flight, so the load follows what the relays deliver however busy the
#    machine is, and no queue can overflow), mixed with 1,000 bad-signature
#    messages and 10,000 garbage datagrams, all sent to r0: every valid message reaches the
#    subscriber of r3 exactly once; nothing invalid arrives; r0 counts the drops.
# 2. The relays keep serving: a later batch is delivered in full.
# DCHAT_TEST_RELAY_WINDOW (default 500) and DCHAT_TEST_RELAY_RATE (msgs/s cap, default none)
# tune the pace; the counts never shrink.
source "$(dirname "$0")/test_relay_lib.sh"

topology=${1:?usage: test_relay_net.sh line|mesh}
pace=(--window "${DCHAT_TEST_RELAY_WINDOW:-500}")
[[ -n ${DCHAT_TEST_RELAY_RATE:-} ]] && pace+=(--rate "$DCHAT_TEST_RELAY_RATE")
base=$(pick_ports 4)
relay_ports=("$base" $((base + 1)) $((base + 2)) $((base + 3)))
addr() { echo "127.0.0.1:${relay_ports[$1]}"; }

for i in 0 1 2 3; do
    peers=()
    for j in 0 1 2 3; do
        ((i == j)) && continue
        if [[ $topology == mesh ]] || ((j == i - 1 || j == i + 1)); then
            peers+=("$(addr "$j")")
        fi
    done
    start_relay "$i" "$(IFS=,; echo "${peers[*]}")"
    check_relay_start "$i"
done

run_bench "$tmp/big.json" --target "$(addr 0)" --subscribe "$(addr 3)" --messages 100000 \
    "${pace[@]}" --invalid 1000 --garbage 10000 --no-baseline
expect_exact "$tmp/big.json" 100000
[[ $(jget "$tmp/big.json" .invalid_sent) == 1000 ]] || fail "bench did not send 1000 invalid"
[[ $(jget "$tmp/big.json" .garbage_sent) == 10000 ]] || fail "bench did not send 10000 garbage"
relays_alive

# r0 took every bad item: 1,000 bad signatures plus the garbage that is a message with a
# swapped key (a quarter of it) fail verification; the rest of the garbage fails to parse (as
# a frame, or as a peer-link packet when its first byte is a link type: link_drops).
wait_stat 0 invalid_sig 1000
dropped=$(($(relay_stat 0 invalid_sig) + $(relay_stat 0 bad_frame_truncated) +
    $(relay_stat 0 bad_frame_magic) + $(relay_stat 0 bad_frame_version) +
    $(relay_stat 0 bad_frame_other) + $(relay_stat 0 bad_msg) + $(relay_stat 0 bad_record_type) +
    $(relay_stat 0 link_drops)))
((dropped >= 11000)) || fail "relay 0 counted $dropped bad items, wanted >= 11000"
for i in 1 2 3; do
    wait_stat "$i" rx_msgs 100000 # its stats line is current, so a zero below means zero
    (($(relay_stat "$i" invalid_sig) == 0)) || fail "relay $i saw invalid messages: r0 leaked"
done

# In the mesh every message reaches r3 over several paths: the relays must have dropped those
# copies as duplicates (the subscriber saw none, checked above).
if [[ $topology == mesh ]]; then
    dups=$(($(relay_stat 1 duplicates) + $(relay_stat 2 duplicates) + $(relay_stat 3 duplicates)))
    ((dups >= 100000)) || fail "mesh relays dropped only $dups duplicates: is it a mesh?"
fi

run_bench "$tmp/after.json" --target "$(addr 0)" --subscribe "$(addr 3)" --messages 5000 \
    "${pace[@]}" --no-baseline
expect_exact "$tmp/after.json" 5000
relays_alive
echo "ok: $topology, $(jget "$tmp/big.json" .msgs_per_s) msgs/s," \
    "p99 $(jget "$tmp/big.json" .latency_us.p99) us"
