#!/usr/bin/env bash
# Verify once at the edge, over authenticated peer links (docs/PROTOCOL.md "Peer links"):
#
#   bench -> r0 -- r1 -- r2 -> subscriber       (a line; r1 and r2 learn every identity by
#                                                 discovery from r0, so links can form)
#
# 1. Honest relays: once the links are up, 20,000 messages reach the subscriber exactly once;
#    r0 (where they enter) verifies every one, r2 only a sample (1 in 64: far fewer than 1 in
#    8) and forwards the rest on the link's word; nobody is banned.
# 2. A second line whose middle relay forges 1 in 100 of the messages it forwards
#    (--bench-forge-every, a test-only mode): r2 bans r1 after at most 2,000 forged messages
#    reached the subscriber (the bench verifies, and counts each forged arrival), and after the
#    ban r1's link packets are dropped and counted: nothing more arrives through it.
source "$(dirname "$0")/test_relay_lib.sh"

# start_linked INDEX PEERS BOOTSTRAP [EXTRA FLAGS...]
start_linked() {
    local i=$1 peers=$2 boot=$3
    shift 3
    local port=${relay_ports[$i]} rpc=$((${relay_ports[$i]} + ${#relay_ports[@]}))
    rm -rf "$tmp/r$i.key" "$tmp/r$i.data" # the second line gets fresh identities
    "$bin" keygen --out "$tmp/r$i.key" >/dev/null
    "$bin" --role relay --listen "127.0.0.1:$port" --peers "$peers" --key "$tmp/r$i.key" \
        --rpc "127.0.0.1:$rpc" --data-dir "$tmp/r$i.data" --bootstrap-nodes "$boot" \
        --peer-check-interval 1 --stats-interval 1 "$@" >"$tmp/r$i.log" 2>&1 &
    pids+=($!)
    relay_pids[$i]=$!
    relay_rpc[$i]=$rpc
}

addr() { echo "127.0.0.1:${relay_ports[$1]}"; }

# line [FLAGS FOR r1...]: starts r0 -- r1 -- r2 on fresh ports and waits for their links.
# --mesh-degree 0 keeps it a line: discovery finds every relay, and r0 and r2 would otherwise
# gossip to each other directly (phase 3 shows that mesh).
line() {
    local base
    base=$(pick_ports 3)
    relay_ports=("$base" $((base + 1)) $((base + 2)))
    start_linked 0 "$(addr 1)" "" --mesh-degree 0
    check_relay_start 0
    start_linked 1 "$(addr 0),$(addr 2)" "$(addr 0)" --mesh-degree 0 "$@"
    check_relay_start 1
    start_linked 2 "$(addr 1)" "$(addr 0)" --mesh-degree 0
    check_relay_start 2
    # r0 -> r1, r1 -> r0 and r2, r2 -> r1: every gossip peer's link is up
    wait_stat 1 link_sessions 2
    wait_stat 2 link_sessions 1
    wait_stat 0 link_sessions 1
}

# 1. honest relays
line
run_bench "$tmp/honest.json" --target "$(addr 0)" --subscribe "$(addr 2)" --messages 20000 \
    --window 500 --no-baseline
expect_exact "$tmp/honest.json" 20000
wait_stat 2 rx_msgs 20000
v0=$(relay_stat 0 verified) v2=$(relay_stat 2 verified) t2=$(relay_stat 2 trusted)
((v0 >= 20000)) || fail "r0 verified $v0 messages: where they enter, all are checked"
((v2 < 20000 / 8)) || fail "r2 verified $v2 of 20,000: the links should spare most checks"
((t2 + v2 >= 20000)) || fail "r2: $t2 trusted + $v2 verified, fewer than it delivered"
(($(relay_stat 2 peer_bans) == 0)) || fail "an honest relay was banned"
echo "ok: 20,000 delivered over links; r0 verified $v0, r2 verified $v2 and trusted $t2"
for p in "${relay_pids[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
relay_pids=()

# 2. r1 forges 1 in 100 of what it forwards
line --bench-forge-every 100
grep -q 'FORWARDS 1 IN 100 MESSAGES WITH A BROKEN SIGNATURE' "$tmp/r1.log" ||
    fail "the forging relay does not warn"
"$bench" --json --warmup-ms 60000 --target "$(addr 0)" --subscribe "$(addr 2)" \
    --messages 40000 --window 500 --no-baseline >"$tmp/forge.json" 2>"$tmp/forge.err" || true
wait_stat 2 peer_bans 1
forged=$(jget "$tmp/forge.json" .invalid_delivered)
[[ $forged =~ ^[0-9]+$ ]] || fail "no bench report: $(tail -n 3 "$tmp/forge.err")"
((forged >= 1)) || fail "no forged message reached the subscriber before the ban: inert test?"
((forged <= 2000)) || fail "$forged forged messages reached the subscriber before the ban"
grep -q 'forwarded a message with a bad signature: banned' "$tmp/r2.log" ||
    fail "r2 did not log the ban"
# after the ban: r1's link packets are dropped, nothing new is trusted or delivered through it
trusted=$(relay_stat 2 trusted)
"$bench" --json --warmup-ms 3000 --target "$(addr 0)" --subscribe "$(addr 2)" \
    --messages 2000 --window 500 --no-baseline >"$tmp/after.json" 2>"$tmp/after.err" || true
wait_stat 2 link_banned_drops 1
(($(relay_stat 2 trusted) == trusted)) || fail "r2 still takes messages from the banned r1"
after=$(jget "$tmp/after.json" '.invalid_delivered // 0' 2>/dev/null || echo 0)
((after == 0)) || fail "$after forged messages arrived after the ban"
echo "ok: r2 banned the forging r1 after $forged forged arrivals; nothing after the ban"
for p in "${relay_pids[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
relay_pids=()

# 3. a mesh from discovery alone
base=$(pick_ports 3)
relay_ports=("$base" $((base + 1)) $((base + 2)))
start_linked 0 "" ""
check_relay_start 0
start_linked 1 "" "$(addr 0)"
check_relay_start 1
start_linked 2 "" "$(addr 0)"
check_relay_start 2
for i in 0 1 2; do wait_stat "$i" mesh_joins 2; done # each found the two others
wait_stat 0 link_sessions 2
run_bench "$tmp/mesh.json" --target "$(addr 0)" --subscribe "$(addr 2)" --messages 10000 \
    --window 500 --no-baseline
expect_exact "$tmp/mesh.json" 10000
echo "ok: relays with no --peers gossip to what discovery found: 10,000 delivered once"
