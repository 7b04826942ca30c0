#!/usr/bin/env bash
# Overload: dchat-bench sends at full speed into a line of two relays (bench -> r0 -- r1 ->
# subscriber), far past what signature checks sustain on this machine.
#   - the bench reports every loss (delivered + lost = sent), nothing invalid or duplicated;
#   - the relays count what they dropped (queue full, pool empty, send failures, datagrams
#     their socket had no room for): that explains at least the bench's loss;
#   - no relay crashes or stalls: once the load stops, a new batch is delivered in full.
source "$(dirname "$0")/test_relay_lib.sh"

base=$(pick_ports 2)
relay_ports=("$base" $((base + 1)))
start_relay 0 "127.0.0.1:${relay_ports[1]}"
check_relay_start 0
start_relay 1 "127.0.0.1:${relay_ports[0]}"
check_relay_start 1

# Kernel drops on the relays' sockets: /proc/net/udp's last column, per local port.
kernel_drops() {
    local total=0 port hex
    for port in "${relay_ports[@]}"; do
        hex=$(printf '%04X' "$port")
        total=$((total + $(awk -v p=":$hex" '$2 ~ p"$" {d += $NF} END {print d + 0}' \
            /proc/net/udp)))
    done
    echo "$total"
}

run_bench "$tmp/flood.json" --target "127.0.0.1:${relay_ports[0]}" \
    --subscribe "127.0.0.1:${relay_ports[1]}" --messages 200000 --drain-ms 2000 --no-baseline
relays_alive
jq -e '.delivered + .lost == .sent and .duplicates == 0 and .invalid_delivered == 0' \
    "$tmp/flood.json" >/dev/null || fail "flood accounting: $(cat "$tmp/flood.json")"
lost=$(jget "$tmp/flood.json" .lost)

# No stall: a fresh, paced batch arrives in full. (It also carries the kernel's latest drop
# count to each relay: SO_RXQ_OVFL comes with the next datagram a socket receives.)
run_bench "$tmp/after.json" --target "127.0.0.1:${relay_ports[0]}" \
    --subscribe "127.0.0.1:${relay_ports[1]}" --messages 5000 --rate 2000 --no-baseline
expect_exact "$tmp/after.json" 5000
relays_alive

# What the relays say they dropped must cover what the bench lost. Relays count messages they
# dropped, and the datagrams their kernel socket dropped (rx_kernel_drops, each datagram up to
# `per` messages); the bench's own socket drops count too. /proc/net/udp is the kernel's own
# account of the relays' sockets, printed beside.
per=$(jget "$tmp/flood.json" .msgs_per_datagram)
sink=$(jget "$tmp/flood.json" .sink_drops)
relay_counts() {
    local i s total=0
    for i in 0 1; do
        for s in drop_verify_ring drop_done_ring drop_pool drop_tx; do
            total=$((total + $(relay_stat "$i" "$s")))
        done
        total=$((total + $(relay_stat "$i" rx_kernel_drops) * per))
    done
    echo $((total + sink * per))
}
deadline=$((SECONDS + 30))
while (($(relay_counts) < lost && SECONDS < deadline)); do
    sleep 0.5 # counters are published once a second
done
counted=$(relay_counts)
((counted >= lost)) ||
    fail "bench lost $lost; relays and bench socket account for $counted" \
        "(kernel per /proc/net/udp: $(kernel_drops) datagrams)"
echo "ok: flood lost $lost of $(jget "$tmp/flood.json" .sent), relays account for $counted" \
    "(/proc/net/udp: $(kernel_drops) datagrams dropped); later batch complete"
