#!/usr/bin/env bash
# "Message order locked in forever" (the seed's promise), through the real interfaces of
# `dchat testnet` (4 validators, 4 relays, real processes on loopback) and dchat-bench:
#
#   1. the testnet comes up healthy, the 4 validators agree
#   2. dchat-bench --finality sends 3000 messages into relay 1 (subscriber at relay 4); while
#      it runs, validator 4 is SIGKILLed -> every delivered message is still reported final
#      (FINAL records from relay 4), none at two positions: 3 of 4 keep finalizing
#   3. validator 3 is SIGKILLed too (2 of 4: no quorum) -> the chain stops: validators 1 and
#      2 stay at one height with one hash; a bench's messages are still delivered (relays
#      relay) but none becomes final, and they wait in the live validators' mempools
#      (mempool_pending); a second bench keeps waiting for FINAL records meanwhile
#   4. validators 3 and 4 restarted with their own argv (DIR/run/validator-N.args) -> the
#      chain moves again, the waiting bench gets every message reported final, every mempool
#      empties, all 4 validators report the same messages_ordered at one height, and it grew
#      by at least every message sent while two were down; the blocks after the stall hold
#      exactly that many ids, final at the same positions on every validator and relay; the
#      relays' heads catch up
#   5. throughout, a watcher samples /chain/status of all 8 nodes every half second and
#      remembers every (height, hash) seen: one height with two hashes, on any two nodes or
#      on one node over time, fails the test at once (a fork)
#
# Every wait polls the RPC with a generous deadline; children are killed by PID in the trap.
# $1: the dchat-bench binary (meson passes it).
set -euo pipefail
source "$(dirname "$0")/testnet_lib.sh"
bin=${DCHAT_BIN:?DCHAT_BIN must point at the dchat binary}
bench=${1:?usage: test_finality.sh DCHAT_BENCH}
command -v jq >/dev/null || { echo "SKIP: jq not installed"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
command -v ss >/dev/null || { echo "SKIP: ss not installed"; exit 77; }
tmp=$(mktemp -d /tmp/dchat-finality.XXXXXX)
tn=$tmp/tn
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  testnet_kill_children "$tn" # children left if dchat testnet died
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [[ -n ${KEEP_TMP:-} ]] || rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  local f
  echo "FAIL: $*" >&2
  tail -n 20 "$tmp/testnet.out" >&2 || true
  for f in "$tn"/logs/validator-*.log "$tmp"/restart-*.log "$tmp"/bench*.err; do
    [[ -f $f ]] && { echo "--- $f" >&2; tail -n 12 "$f" >&2; }
  done
  echo "(KEEP_TMP=1 keeps $tmp)" >&2
  exit 1
}

# A port base whose 40 ports nobody holds: UDP +0..3 validators, +10..13 relays; TCP +20..23
# validators' RPC, +30..33 relays' RPC.
base=$(testnet_pick_base "0 1 2 3 10 11 12 13" "20 21 22 23 30 31 32 33")
# Nodes 1..4 are validators 1..4, nodes 5..8 relays 1..4.
url() {
  if (($1 <= 4)); then echo "http://127.0.0.1:$((base + 20 + $1 - 1))"; else
    echo "http://127.0.0.1:$((base + 30 + $1 - 5))"; fi
}
name() { if (($1 <= 4)); then echo "validator $1"; else echo "relay $(($1 - 4))"; fi; }
relay_udp() { echo "127.0.0.1:$((base + 10 + $1 - 1))"; }

# st N: "HEIGHT HASH ORDERED PENDING" of node N, or "- - - -" when it does not answer.
st() {
  local out
  out=$(curl -s --max-time 2 "$(url "$1")/chain/status" | jq -r \
    '"\(.height) \(.hash) \(.messages_ordered // "-") \(.mempool_pending // "-")"' \
    2>/dev/null) || out=""
  [[ -n $out ]] || out="- - - -"
  echo "$out"
}

# The fork watcher (a child): every (height, hash) any node reports, kept for the whole run.
watch_forks() {
  declare -A seen=() who=()
  local n=0 i h x rest
  while :; do
    for i in 1 2 3 4 5 6 7 8; do
      read -r h x rest <<<"$(st "$i")"
      [[ $h =~ ^[0-9]+$ ]] && ((h > 0)) || continue
      if [[ -n ${seen[$h]:-} && ${seen[$h]} != "$x" ]]; then
        echo "fork: $(name "$i") reports height $h with hash $x; ${who[$h]} reported" \
          "${seen[$h]}" >"$tmp/fork"
        exit 1
      fi
      seen[$h]=$x who[$h]=$(name "$i")
    done
    echo "$((++n)) ${#seen[@]}" >"$tmp/watch.count"
    sleep 0.5
  done
}

# live: the validators that must be running (their pids in vpid[]).
declare -A vpid=()
live=()
check() {
  local i
  [[ -f $tmp/fork ]] && fail "$(cat "$tmp/fork")"
  kill -0 "$watcher" 2>/dev/null || fail "the fork watcher died"
  kill -0 "$testnet" 2>/dev/null || fail "dchat testnet exited"
  for i in "${live[@]}"; do
    kill -0 "${vpid[$i]}" 2>/dev/null || fail "validator $i (pid ${vpid[$i]}) died"
  done
  return 0
}

# sample LIST: reads the nodes in LIST; sets low, high, agree (one height, all answered),
# h[i], x[i], ord[i], pend[i]. Nodes at one height must agree on the hash and on
# messages_ordered (relays that follow the chain count it too).
declare -A h=() x=() ord=() pend=()
sample() {
  local i j
  check
  low=999999999 high=0 agree=1
  for i in "$@"; do
    read -r h[$i] x[$i] ord[$i] pend[$i] <<<"$(st "$i")"
    if [[ ! ${h[$i]} =~ ^[0-9]+$ ]]; then agree=0 low=0; continue; fi
    for j in "$@"; do
      ((j < i)) && [[ ${h[$j]} == "${h[$i]}" ]] || continue
      [[ ${x[$j]} == "${x[$i]}" ]] || fail "fork: $(name "$j") and $(name "$i") at height" \
        "${h[$i]} with hashes ${x[$j]} and ${x[$i]}"
      [[ ${ord[$j]} == "${ord[$i]}" ]] || fail "$(name "$j") and" \
        "$(name "$i") at height ${h[$i]} report messages_ordered ${ord[$j]} and ${ord[$i]}"
    done
    ((h[$i] < low)) && low=${h[$i]}
    ((h[$i] > high)) && high=${h[$i]}
  done
  ((low == high)) || agree=0
  return 0
}
# wait_agree MIN_HEIGHT SECONDS LIST...: until every node in LIST is at one height >=
# MIN_HEIGHT (with one hash).
wait_agree() {
  local min=$1 secs=$2
  shift 2
  local deadline=$((SECONDS + secs))
  while :; do
    sample "$@"
    ((agree && low >= min)) && return 0
    ((SECONDS < deadline)) || fail "$* did not agree at height >= $min in ${secs}s" \
      "(heights $low..$high)"
    sleep 0.3
  done
}
# bench_json FILE: the bench's JSON (its last stdout line), checked to be an object.
bench_json() {
  tail -n 1 "$1" | jq -ce . 2>/dev/null || fail "no JSON from the bench in $1"
}
restart() { # restart N: validator N again with the argv the testnet gave it
  local args
  mapfile -t args <"$tn/run/validator-$1.args"
  "$bin" "${args[@]}" >"$tmp/restart-$1.log" 2>&1 &
  vpid[$1]=$!
  pids+=("$!")
}

# 1. the testnet comes up; the watcher starts
t_start=$SECONDS
"$bin" testnet --dir "$tn" --base-port "$base" --relay-port $((base + 10)) \
  --rpc-port $((base + 20)) --status-interval 5 >"$tmp/testnet.out" 2>&1 &
testnet=$!
pids+=("$testnet")
deadline=$((SECONDS + 90))
until grep -q 'all 8 nodes healthy' "$tmp/testnet.out"; do
  kill -0 "$testnet" 2>/dev/null || fail "dchat testnet exited during start-up"
  ((SECONDS < deadline)) || fail "the testnet did not become healthy"
  sleep 0.2
done
for i in 1 2 3 4; do vpid[$i]=$(cat "$tn/run/validator-$i.pid"); done
live=(1 2 3 4)
watch_forks &
watcher=$!
pids+=("$watcher")
wait_agree 2 60 1 2 3 4
echo "testnet healthy, 4 validators agree at height $low"

# 2. 3000 messages at 250/s into relay 1; validator 4 dies while they flow
"$bench" --target "$(relay_udp 1)" --subscribe "$(relay_udp 4)" --messages 3000 --rate 250 \
  --window 500 --warmup-ms 30000 --no-baseline --finality --final-wait-ms 90000 --json \
  >"$tmp/bench1.out" 2>"$tmp/bench1.err" &
b1=$!
pids+=("$b1")
deadline=$((SECONDS + 60))
until grep -Eqs 'sending.*delivered [1-9][0-9]{2,}' "$tmp/bench1.err"; do
  kill -0 "$b1" 2>/dev/null || fail "dchat-bench ended before validator 4 was killed"
  ((SECONDS < deadline)) || fail "the bench delivered no 100 messages in 60s"
  check
  sleep 0.2
done
sample 1 2 3 4
kill -9 "${vpid[4]}"
live=(1 2 3)
killed_at=$high
echo "validator 4 killed at height $killed_at while the bench was" \
  "$(grep -Eo 'sent [0-9]+/3000 msgs, delivered [0-9]+' "$tmp/bench1.err" | tail -n 1)"
deadline=$((SECONDS + 150))
while kill -0 "$b1" 2>/dev/null; do
  ((SECONDS < deadline)) || fail "dchat-bench did not end in 150s"
  check
  sleep 0.5
done
rc=0
wait "$b1" || rc=$?
((rc == 0)) || fail "dchat-bench exited $rc: $(tail -n 3 "$tmp/bench1.err")"
r1=$(bench_json "$tmp/bench1.out")
jq -e '.sent == 3000 and .final == .delivered and .not_final == 0 and .final_conflicts == 0 and
  .final_invalid == 0 and .invalid_delivered == 0' <<<"$r1" >/dev/null ||
  fail "with validator 4 down, not every delivered message was reported final once: $r1"
echo "3000 messages delivered and final with validator 4 killed midway:" \
  "$(jq -c '{delivered, final, not_final, final_conflicts, finality_us}' <<<"$r1")"
wait_agree $((killed_at + 3)) 60 1 2 3
echo "validators 1-3 went on to height $low"

# 3. validator 3 dies too: 2 of 4, no quorum. The chain stops where it is, on one hash.
kill -9 "${vpid[3]}"
live=(1 2)
deadline=$((SECONDS + 60))
still=0 last=""
while ((still < 5)); do # the same height on both for 5 samples over >= 4 s
  sleep 1
  sample 1 2
  if ((agree)) && [[ "$low ${x[1]}" == "$last" ]]; then ((++still)); else still=0; fi
  ((agree)) && last="$low ${x[1]}" || last=""
  ((SECONDS < deadline)) || fail "validators 1 and 2 did not settle at one height in 60s" \
    "(heights $low..$high)"
done
stall=$low stall_hash=${x[1]} ordered_stall=${ord[1]}
echo "validators 3 and 4 down: 1 and 2 stopped at height $stall (messages_ordered" \
  "$ordered_stall, mempool_pending ${pend[1]}/${pend[2]})"
# stalled STEP: validators 1 and 2 are still at the stall, on its hash
stalled() {
  sample 1 2
  ((agree && low == stall)) && [[ ${x[1]} == "$stall_hash" ]] ||
    fail "$1: validators 1 and 2 moved with 2 of 4 validators down (heights $low..$high," \
      "stalled at $stall)"
}

# 3a. a bench with a short wait: every message relayed, none final
"$bench" --target "$(relay_udp 1)" --subscribe "$(relay_udp 4)" --messages 400 --rate 200 \
  --window 400 --warmup-ms 30000 --no-baseline --finality --final-wait-ms 3000 --json \
  >"$tmp/bench2.out" 2>"$tmp/bench2.err" ||
  fail "dchat-bench failed with 2 validators down: $(tail -n 3 "$tmp/bench2.err")"
r2=$(bench_json "$tmp/bench2.out")
jq -e '.sent == 400 and .delivered == 400 and .final == 0 and .not_final == 400 and
  .final_conflicts == 0 and .invalid_delivered == 0' <<<"$r2" >/dev/null ||
  fail "with 2 of 4 validators down: not 400 delivered and none final: $r2"
stalled "after the first bench"
for i in 1 2; do
  ((pend[$i] > 0)) || fail "validator $i holds no pending message after the bench"
done
echo "400 messages relayed, none final; validators 1 and 2 still at $stall," \
  "mempool_pending ${pend[1]}/${pend[2]}"

# 3b. a second bench keeps waiting for FINAL records (120 s) across the restart below
"$bench" --target "$(relay_udp 1)" --subscribe "$(relay_udp 4)" --messages 300 --rate 200 \
  --window 300 --warmup-ms 30000 --no-baseline --finality --final-wait-ms 120000 --json \
  >"$tmp/bench3.out" 2>"$tmp/bench3.err" &
b3=$!
pids+=("$b3")
deadline=$((SECONDS + 60))
until grep -qs 'waiting for FINAL' "$tmp/bench3.err"; do
  kill -0 "$b3" 2>/dev/null || fail "dchat-bench ended before waiting for FINAL records:" \
    "$(tail -n 3 "$tmp/bench3.err")"
  ((SECONDS < deadline)) || fail "the second bench did not deliver its messages in 60s"
  check
  sleep 0.2
done
grep 'waiting for FINAL' "$tmp/bench3.err" | tail -n 1 | grep -q ', final 0$' ||
  fail "a message became final with 2 of 4 validators down: $(tail -n 1 "$tmp/bench3.err")"
stalled "during the second bench"
pending_stall=$((pend[1] < pend[2] ? pend[1] : pend[2]))
echo "the second bench waits for FINAL with $(grep -Eo 'delivered [0-9]+' "$tmp/bench3.err" |
  tail -n 1) and final 0; mempool_pending ${pend[1]}/${pend[2]}"

# 4. validators 3 and 4 again: every pending message becomes final
restart 3
restart 4
live=(1 2 3 4)
t_back=$SECONDS
deadline=$((SECONDS + 90))
while :; do
  sample 1 2 3 4
  if ((agree && low > stall)); then
    done_p=1
    for i in 1 2 3 4; do [[ ${pend[$i]} == 0 ]] || done_p=0; done
    ((done_p)) && break
  fi
  ((SECONDS < deadline)) || fail "90 s after the restart: heights $low..$high (stalled at" \
    "$stall), mempool_pending ${pend[1]}/${pend[2]}/${pend[3]}/${pend[4]}"
  sleep 0.3
done
head=$low ordered_after=${ord[1]}
echo "$((SECONDS - t_back)) s after the restart: 4 validators at height $head, mempools empty," \
  "messages_ordered $ordered_after on all 4"
grown=$((ordered_after - ordered_stall))
((grown >= 700)) || fail "messages_ordered grew by $grown since the stall, not >= 700" \
  "(400 + 300 sent while two validators were down)"
((grown >= pending_stall)) || fail "messages_ordered grew by $grown, $pending_stall were pending"
deadline=$((SECONDS + 150))
while kill -0 "$b3" 2>/dev/null; do
  ((SECONDS < deadline)) || fail "the second bench did not end"
  check
  sleep 0.5
done
rc=0
wait "$b3" || rc=$?
((rc == 0)) || fail "the second dchat-bench exited $rc: $(tail -n 3 "$tmp/bench3.err")"
r3=$(bench_json "$tmp/bench3.out")
jq -e '.sent == 300 and .delivered == 300 and .final == 300 and .not_final == 0 and
  .final_conflicts == 0' <<<"$r3" >/dev/null ||
  fail "after the restart, the second bench's messages were not all reported final: $r3"
echo "the second bench: all 300 reported final after the restart:" \
  "$(jq -c '{final, not_final, final_conflicts, final_foreign, finality_us}' <<<"$r3")"

# The blocks after the stall hold the ids ordered since; each is final at its position on
# every validator and relay (checked for the first id of each block).
get() { curl -s --max-time 5 -o "$tmp/get.json" -w '%{http_code}' "$(url "$1")$2"; }
n_ids=0
for ((b = stall + 1; b <= head; b++)); do
  [[ $(get 1 "/chain/blocks/$b") == 200 ]] || fail "validator 1: no block $b"
  jq -S '{height, hash, ids, prev_hash}' "$tmp/get.json" >"$tmp/block.json"
  c=$(jq '.ids | length' "$tmp/block.json")
  n_ids=$((n_ids + c))
  for i in 2 3 4; do
    [[ $(get "$i" "/chain/blocks/$b") == 200 ]] || fail "validator $i: no block $b"
    jq -S '{height, hash, ids, prev_hash}' "$tmp/get.json" | cmp -s - "$tmp/block.json" ||
      fail "validator $i serves another block $b"
  done
  ((c > 0)) || continue
  id=$(jq -r '.ids[0]' "$tmp/block.json")
  for i in 1 2 3 4 5 6 7 8; do
    [[ $(get "$i" "/messages/$id") == 200 ]] || fail "$(name "$i"): /messages/$id failed"
    jq -e --argjson h "$b" '.status == "final" and .height == $h and .index == 0' \
      "$tmp/get.json" >/dev/null ||
      fail "$(name "$i"): $id is not final at ($b, 0): $(cat "$tmp/get.json")"
  done
done
((n_ids == grown)) || fail "blocks $((stall + 1))..$head hold $n_ids ids, messages_ordered" \
  "grew by $grown"
echo "blocks $((stall + 1))..$head hold the $n_ids ids ordered since the stall, the same on 4" \
  "validators, final at the same positions on all 8 nodes"
# the relays' heads catch up with the validators
wait_agree "$head" 60 1 2 3 4 5 6 7 8
echo "all 8 nodes agree at height $low"

read -r n seen <"$tmp/watch.count"
check
echo "the fork watcher took $n samples of 8 nodes, $seen heights, one hash each"
echo "PASS ($((SECONDS - t_start)) s)"
