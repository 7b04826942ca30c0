#!/usr/bin/env bash
# dchat-bench itself, against dchat-fwd (the kernel baseline forwarder), so it is tested without
# a relay: bad flags are refused in one line; a clean run counts every message exactly once
# and reports its baselines; and the accounting can fail: a forwarder that delivers the invalid
# and garbage items, duplicates datagrams or drops them is caught in each figure. --finality
# runs against a forwarder that also sends FINAL records (dchat-fwd --final), one that puts
# messages at two positions (caught as conflicts), and one that sends none.
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
--target 127.0.0.1:9 --final-wait-ms 100
--target 127.0.0.1:9 --finality --final-wait-ms soon
--target 127.0.0.1:9 --finality --final-wait-ms 700000
ARGS
"$bench" --target 127.0.0.1:9 --frobnicate 2>"$tmp/err" && fail "unknown flag accepted"
grep -q "unknown flag '--frobnicate'" "$tmp/err" || fail "unknown flag not named"
"$bench" --help | grep -q -- '--garbage' || fail "--help does not list --garbage"
"$bench" --help | grep -q -- '--final-wait-ms' || fail "--help does not list --final-wait-ms"

base=$(pick_ports 6)
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
jq -e 'has("final") or has("not_final") | not' "$tmp/a.json" >/dev/null ||
    fail "finality figures without --finality"

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
grep -q '^  final ' "$tmp/text" && fail "text report has finality without --finality"

# --- finality against a forwarder that sends no FINAL: nothing final, the wait is bounded
start=$SECONDS
run_bench "$tmp/f0.json" --target "127.0.0.1:$((base + 3))" --messages 2000 --rate 20000 \
    --no-baseline --finality --final-wait-ms 300
jq -e '.final == 0 and .not_final == 2000 and .final_conflicts == 0
       and .finality_us.max == 0 and .delivered == 2000' "$tmp/f0.json" >/dev/null ||
    fail "no-FINAL run: $(cat "$tmp/f0.json")"
((SECONDS - start < 30)) || fail "the FINAL wait is not bounded by --final-wait-ms"

# --- finality: a forwarder that finalises every datagram it forwards. Every valid message is
# final once, the invalid ones are reported as final_invalid, the warm-up probe is foreign.
start_fwd $((base + 4)) --final
run_bench "$tmp/f1.json" --target "127.0.0.1:$((base + 4))" --messages 20000 --rate 20000 \
    --users 50 --invalid 100 --no-baseline --finality
jq -e '.final == 20000 and .not_final == 0 and .final_conflicts == 0 and .final_duplicates == 0
       and .final_invalid == 100 and .final_foreign >= 1 and .final_malformed == 0
       and .final_per_s > 0 and .finality_us.p50 <= .finality_us.p99
       and .finality_us.p99 <= .finality_us.max and .finality_us.max > 0' \
    "$tmp/f1.json" >/dev/null || fail "finality run: $(cat "$tmp/f1.json")"
grep -q 'SAFETY VIOLATION' "$tmp/f1.json.err" && fail "a clean finality run warned"
"$bench" --target "127.0.0.1:$((base + 4))" --messages 2000 --rate 20000 --no-baseline \
    --finality >"$tmp/ftext" 2>"$tmp/ftext.err" || fail "finality text run failed"
grep -q '^  final       2000 in .* not final 0; .* conflicts 0' "$tmp/ftext" ||
    fail "finality text report: $(cat "$tmp/ftext")"

# --- a forwarder that resends every 10th FINAL at another height and every datagram twice:
# 1000 datagrams of 5 messages, so 100 x 5 x 2 conflicting entries, and every FINAL repeated.
start_fwd $((base + 5)) --final-conflict-every 10 --copies 2
run_bench "$tmp/f2.json" --target "127.0.0.1:$((base + 5))" --messages 5000 --rate 20000 \
    --no-baseline --finality
jq -e '.final == 5000 and .final_conflicts == 1000 and .final_duplicates == 5000' \
    "$tmp/f2.json" >/dev/null || fail "conflict run: $(cat "$tmp/f2.json")"
grep -q 'SAFETY VIOLATION: 1000 FINAL entries' "$tmp/f2.json.err" ||
    fail "conflicts without the warning: $(cat "$tmp/f2.json.err")"
echo ok
