#!/usr/bin/env bash
# dchat-bench itself, against dchat-fwd (the kernel baseline forwarder), so it is tested without
# a relay: bad flags are refused in one line; a clean run counts every message exactly once
# and reports its baselines; and the accounting can fail: a forwarder that delivers the invalid
# and garbage items, duplicates datagrams or drops them is caught in each figure.
source "$(dirname "$0")/test_relay_lib.sh"

# --- bad command lines: one clear line, exit 2
while IFS= read -r args; do
    rc=0
    # shellcheck disable=SC2086 # word splitting is the point
    "$bench" $args >"$tmp/out" 2>"$tmp/err" || rc=$?
    [[ $rc == 2 ]] || fail "dchat-bench $args: exit $rc, wanted 2"
    [[ $(wc -l <"$tmp/err") == 1 ]] || fail "dchat-bench $args: error is not one line"
done <<'ARGS'
--messages 10
--target 127.0.0.1:9 --size 5
--target 127.0.0.1:9 --size 2000
--target 127.0.0.1:9 --rate
--target 127.0.0.1:9 --rate fast
--target 127.0.0.1 --messages 1
--target 127.0.0.1:99999
--target 127.0.0.1:9 --frobnicate
--target 127.0.0.1:9 --messages -5
--target 127.0.0.1:9 --mtu 300 --size 1024
ARGS
"$bench" --target 127.0.0.1:9 --frobnicate 2>"$tmp/err" && fail "unknown flag accepted"
grep -q "unknown flag '--frobnicate'" "$tmp/err" || fail "unknown flag not named"
"$bench" --help | grep -q -- '--garbage' || fail "--help does not list --garbage"

base=$(pick_ports 4)
start_fwd() { # start_fwd PORT [FAULT FLAGS...]
    local port=$1
    shift
    "$fwd" --listen "127.0.0.1:$port" "$@" 2>"$tmp/fwd$port.log" &
    pids+=($!)
}

# --- nothing listening: the warm-up gives up with one line and exit 1
rc=0
"$bench" --target "127.0.0.1:$base" --messages 10 --warmup-ms 300 --no-baseline \
    >"$tmp/out" 2>"$tmp/err" || rc=$?
[[ $rc == 1 ]] || fail "bench with no relay: exit $rc, wanted 1"
grep -q 'reached the subscriber' "$tmp/err" || fail "no-relay error does not say why"

# --- a clean run through a plain forwarder: every valid message exactly once, and the
# forwarder (which verifies nothing) delivers every invalid and garbage item: all counted.
start_fwd "$base"
run_bench "$tmp/a.json" --target "127.0.0.1:$base" --subscribe "127.0.0.1:$base" \
    --messages 20000 --rate 20000 --users 50 --invalid 200 --garbage 1000
[[ $(jget "$tmp/a.json" .sent) == 20000 ]] || fail "sent is not 20000"
[[ $(jget "$tmp/a.json" .delivered) == 20000 ]] || fail "delivered $(jget "$tmp/a.json" .delivered)"
[[ $(jget "$tmp/a.json" .lost) == 0 ]] || fail "lost $(jget "$tmp/a.json" .lost)"
[[ $(jget "$tmp/a.json" .duplicates) == 0 ]] || fail "duplicates on a clean path"
[[ $(jget "$tmp/a.json" .invalid_sent) == 200 ]] || fail "invalid_sent is not 200"
[[ $(jget "$tmp/a.json" .garbage_sent) == 1000 ]] || fail "garbage_sent is not 1000"
[[ $(jget "$tmp/a.json" .invalid_delivered) == 1200 ]] ||
    fail "invalid_delivered $(jget "$tmp/a.json" .invalid_delivered), wanted 200 + 1000"
jq -e '.baseline.kernel_udp_msgs_per_s > 0 and .baseline.verify_per_s_per_core > 0
       and .ratios.vs_kernel_udp > 0 and .msgs_per_s > 0
       and .latency_us.p50 <= .latency_us.p99 and .latency_us.p99 <= .latency_us.max' \
    "$tmp/a.json" >/dev/null || fail "baseline, rate or latency missing: $(cat "$tmp/a.json")"

# --- duplicates: a forwarder that sends everything twice
start_fwd $((base + 1)) --copies 2
run_bench "$tmp/b.json" --target "127.0.0.1:$((base + 1))" --messages 5000 --rate 20000 \
    --no-baseline
[[ $(jget "$tmp/b.json" .delivered) == 5000 ]] ||
    fail "dup run: delivered $(jget "$tmp/b.json" .delivered)"
[[ $(jget "$tmp/b.json" .duplicates) == 5000 ]] ||
    fail "dup run: duplicates $(jget "$tmp/b.json" .duplicates), wanted 5000"

# --- loss: a forwarder that drops every 10th datagram (5 messages each): about 10% lost,
# and delivered + lost always adds up to what was sent.
start_fwd $((base + 2)) --drop-every 10
run_bench "$tmp/c.json" --target "127.0.0.1:$((base + 2))" --messages 20000 --rate 20000 \
    --no-baseline --drain-ms 500
jq -e '.lost >= 1800 and .lost <= 2200 and .lost + .delivered == .sent and .duplicates == 0' \
    "$tmp/c.json" >/dev/null || fail "loss run: $(cat "$tmp/c.json")"

# --- the text report carries the same figures
start_fwd $((base + 3))
"$bench" --target "127.0.0.1:$((base + 3))" --messages 2000 --rate 20000 >"$tmp/text" \
    2>"$tmp/text.err" || fail "text run failed"
grep -q 'delivered   2000 ' "$tmp/text" || fail "text report: $(cat "$tmp/text")"
grep -q 'kernel recvmmsg/sendmmsg forwarder' "$tmp/text" || fail "text report lacks baseline"
echo ok
