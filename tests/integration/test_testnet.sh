#!/usr/bin/env bash
# The single-server testnet (seed Parts 7-8) with real processes on loopback:
#
#   dchat testnet: 4 validators + 4 relays, all healthy
#   -> every validator reports the same height and hash, height >= 3
#   dchat-bench sends 90 signed messages into relay 1 -> they reach the validators through
#      gossip, and blocks with message ids are committed (when the bench is given as $1)
#   the chain API: the first block with ids (GET /chain/blocks/H) is the same on every
#      validator, each of its ids is final at (H, index) on every validator (GET /messages/ID),
#      and on relays 1 and 4 (which follow the chain), an id nobody sent is unknown, malformed
#      ids and heights are 400, a future height 404, and a relay (which keeps positions, not
#      blocks) answers /chain/blocks with 503
#   the bench's 90 messages are all reported final to the subscriber at relay 4 (FINAL)
#   validator 4 killed (SIGKILL, by PID) -> validators 1-3 keep committing and agree (3 of 4),
#      and report 3 online validators; messages still propagate through the relays and are
#      still ordered into blocks
#   validator 4 started again with its own argv -> it catches up (block sync) and agrees
#   SIGTERM to dchat testnet -> exit 0, every child stopped
#   a key that is not in the genesis (--genesis FILE), a missing genesis, bad testnet flags
#      -> refused with one line each
#
# Waits poll the RPC with generous deadlines; at every sample where two validators are at the
# same height their hashes must be equal (a fork fails the test at once). Processes are
# killed by PID in the trap.
set -euo pipefail
source "$(dirname "$0")/testnet_lib.sh"
bin=${DCHAT_BIN:?DCHAT_BIN must point at the dchat binary}
bench=${1:-}
command -v jq >/dev/null || { echo "SKIP: jq not installed"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
tmp=$(mktemp -d /tmp/dchat-testnet.XXXXXX)
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
  echo "FAIL: $*" >&2
  tail -n 30 "$tmp/testnet.out" >&2 || true
  for f in "$tn"/logs/validator-*.log "$tmp"/restart.log; do
    [[ -f $f ]] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }
  done
  exit 1
}

# A port base whose 40 ports nobody holds: UDP +0..3 validators, +10..13 relays; TCP +20..23
# validators' RPC, +30..33 relays' RPC.
base=$(testnet_pick_base "0 1 2 3 10 11 12 13" "20 21 22 23 30 31 32 33")
rpc() { echo "127.0.0.1:$((base + 20 + $1 - 1))"; } # validator 1..4

# status I: "HEIGHT HASH ONLINE" of validator I, or "- - -" when it does not answer.
status() {
  curl -s --max-time 2 "http://$(rpc "$1")/chain/status" |
    jq -r '"\(.height) \(.hash) \(.online_validators)"' 2>/dev/null || echo "- - -"
}
# sample LIST: reads the validators in LIST; fails on a fork; sets low, high, agree, online.
sample() {
  local i h x o
  declare -A seen=()
  low=999999999 high=0 agree=1 online=()
  for i in "$@"; do
    read -r h x o < <(status "$i")
    [[ $h == - || $h == null ]] && { agree=0; low=0; continue; }
    online[$i]=$o
    if [[ -n ${seen[$h]:-} && ${seen[$h]} != "$x" ]]; then
      fail "fork: two validators at height $h with hashes ${seen[$h]} and $x"
    fi
    seen[$h]=$x
    ((h < low)) && low=$h
    ((h > high)) && high=$h
  done
  ((low == high)) || agree=0
}
# wait_agree MIN_HEIGHT SECONDS LIST...: until every validator in LIST is at one height
# >= MIN_HEIGHT with one hash.
wait_agree() {
  local min=$1 secs=$2
  shift 2
  local deadline=$((SECONDS + secs))
  while :; do
    sample "$@"
    ((agree && low >= min)) && return 0
    ((SECONDS < deadline)) || fail "validators $* did not agree at height >= $min in ${secs}s" \
      "(heights $low..$high)"
    sleep 0.2
  done
}

# 1. the testnet comes up
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
for i in 1 2 3 4; do
  curl -s --max-time 2 "http://127.0.0.1:$((base + 30 + i - 1))/health" | jq -e '.status == "ok"' \
    >/dev/null || fail "relay $i is not healthy"
done

# 2. one chain: all four at the same height >= 3 with the same hash
wait_agree 3 60 1 2 3 4
echo "4 validators agree at height $low"
deadline=$((SECONDS + 30))
until sample 1 2 3 4 && [[ ${online[1]:-0} == 4 ]]; do
  ((SECONDS < deadline)) || fail "validator 1 does not report 4 online validators"
  sleep 0.2
done

# 2b. user messages end up in blocks: relay 1 gossips them to the validators, whose dataplane
# verifies them and hands them to the validator's mempool
if [[ -n $bench ]]; then
  # --finality: relay 4 follows the chain (the testnet gives relays the genesis) and tells the
  # subscriber where each message became final; the wait ends as soon as all are final
  "$bench" --target "127.0.0.1:$((base + 10))" --subscribe "127.0.0.1:$((base + 13))" \
    --messages 90 --rate 300 --window 100 --warmup-ms 30000 --no-baseline --finality \
    --final-wait-ms 30000 --json >"$tmp/bench.out" 2>"$tmp/bench.err" ||
    fail "dchat-bench failed: $(tail -n 3 "$tmp/bench.err")"
  tail -n 1 "$tmp/bench.out" | jq -e '.delivered == 90 and .final == 90 and .not_final == 0 and
    .final_conflicts == 0 and .duplicates == 0' >/dev/null ||
    fail "not every message was reported final once: $(tail -n 1 "$tmp/bench.out")"
  echo "90 messages delivered at relay 4 and reported final (FINAL records):" \
    "$(tail -n 1 "$tmp/bench.out" | jq -c '.finality_us')"
  deadline=$((SECONDS + 60))
  until grep -Eq 'committed height [0-9]+ with [1-9][0-9]* message ids' \
      "$tn"/logs/validator-1.log; do
    ((SECONDS < deadline)) || fail "no block with message ids on validator 1"
    sleep 0.5
  done
  echo "validator 1: $(grep -Eo 'committed height [0-9]+ with [0-9]+ message ids' \
    "$tn"/logs/validator-1.log | tail -n 1)"
fi

# 2c. the chain API answers what the chain holds, the same on every validator
v_get() { curl -s --max-time 5 -o "$tmp/get.json" -w '%{http_code}' "http://$(rpc "$1")$2"; }
if [[ -n $bench ]]; then
  found=0
  sample 1
  for ((h = 1; h <= high && !found; h++)); do
    [[ $(v_get 1 "/chain/blocks/$h") == 200 ]] || fail "GET /chain/blocks/$h did not answer 200"
    jq -e '.ids | length > 0' "$tmp/get.json" >/dev/null && found=$h
  done
  ((found)) || fail "no committed block up to height $high holds an id, per /chain/blocks"
  jq -S '{height, hash, ids, prev_hash}' "$tmp/get.json" >"$tmp/block1.json"
  jq -e --argjson h "$found" '.certificate.height == $h and (.certificate.signatures |
    length >= 3) and .certificate.block_hash == .hash' "$tmp/get.json" >/dev/null ||
    fail "block $found: the certificate does not name the block with a quorum"
  mapfile -t ids < <(jq -r '.ids[]' "$tmp/get.json")
  for i in 2 3 4; do
    [[ $(v_get "$i" "/chain/blocks/$found") == 200 ]] || fail "validator $i: no block $found"
    jq -S '{height, hash, ids, prev_hash}' "$tmp/get.json" | cmp -s - "$tmp/block1.json" ||
      fail "validator $i serves another block $found"
  done
  for i in 1 2 3 4; do
    for ((x = 0; x < ${#ids[@]}; x++)); do
      [[ $(v_get "$i" "/messages/${ids[x]}") == 200 ]] || fail "validator $i: /messages failed"
      jq -e --argjson h "$found" --argjson x "$x" '.status == "final" and .height == $h and
        .index == $x' "$tmp/get.json" >/dev/null ||
        fail "validator $i: id ${ids[x]} is not final at ($found, $x): $(cat "$tmp/get.json")"
    done
  done
  v_get 1 "/messages/$(printf '%064x' 12345)" >/dev/null
  jq -e '.status == "unknown"' "$tmp/get.json" >/dev/null || fail "an unsent id is not unknown"
  [[ $(v_get 1 /messages/xyz) == 400 ]] || fail "a malformed id is not refused with 400"
  [[ $(v_get 1 /chain/blocks/0) == 400 ]] || fail "height 0 is not refused with 400"
  [[ $(v_get 1 /chain/blocks/99999999) == 404 ]] || fail "a future height is not 404"
  for r in 0 3; do # relays follow the chain: the same positions
    curl -s --max-time 5 "http://127.0.0.1:$((base + 30 + r))/messages/${ids[0]}" |
      jq -e --argjson h "$found" '.status == "final" and .height == $h and .index == 0' \
      >/dev/null || fail "relay $((r + 1)) does not report ${ids[0]} final at ($found, 0)"
  done
  code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' \
    "http://127.0.0.1:$((base + 30))/chain/blocks/$found")
  [[ $code == 503 ]] || fail "a relay answered /chain/blocks with $code, not 503"
  ordered1=$(curl -s --max-time 2 "http://$(rpc 1)/chain/status" | jq '.messages_ordered')
  ((ordered1 >= ${#ids[@]})) || fail "messages_ordered is $ordered1"
  echo "chain API: block $found holds ${#ids[@]} ids, final at the same positions on 4" \
    "validators; messages_ordered $ordered1"
fi

# 3. validator 4 dies: the other three go on and agree
v4=$(cat "$tn/run/validator-4.pid")
kill -9 "$v4"
sample 1 2 3
killed_at=$high
wait_agree $((killed_at + 3)) 60 1 2 3
echo "3 validators went on to height $low after validator 4 died at $killed_at"
deadline=$((SECONDS + 30))
until sample 1 2 3 && [[ ${online[1]:-0} == 3 ]]; do
  ((SECONDS < deadline)) || fail "validator 1 does not report 3 online validators"
  sleep 0.5
done
grep -q 'validator-4 (pid' "$tmp/testnet.out" || fail "dchat testnet did not report the exit"
# Ordered ids never exceed received ones: once validator 1 has ordered more ids than it had
# received before this second batch, some of the batch went into a block.
ordered() { # the last "(T ordered so far, Q received)" of validator 1 as "T Q"
  grep -Eo '\([0-9]+ ordered so far, [0-9]+ received\)' "$tn/logs/validator-1.log" |
    tail -n 1 | tr -dc '0-9 ' | awk '{ print $1 + 0, $2 + 0 }'
}
if [[ -n $bench ]]; then
  read -r _ received_before < <(ordered)
  "$bench" --target "127.0.0.1:$((base + 11))" --subscribe "127.0.0.1:$((base + 12))" \
    --messages 100 --rate 200 --window 100 --warmup-ms 30000 --no-baseline \
    >"$tmp/bench2.out" 2>&1 ||
    fail "no delivery with validator 4 down: $(tail -n 3 "$tmp/bench2.out")"
  deadline=$((SECONDS + 60))
  until read -r now_ordered _ < <(ordered) && ((now_ordered > received_before)); do
    ((SECONDS < deadline)) || fail "validator 1 ordered no new message with validator 4 down" \
      "(ordered $now_ordered, $received_before received before)"
    sleep 0.5
  done
  echo "messages still relayed and ordered with validator 4 down ($now_ordered ordered," \
    "$received_before received before the second batch)"
fi

# 4. validator 4 again, with the argv the testnet gave it: it syncs and agrees
mapfile -t args <"$tn/run/validator-4.args"
"$bin" "${args[@]}" >"$tmp/restart.log" 2>&1 &
v4=$!
pids+=("$v4")
sample 1 2 3
target=$high
wait_agree "$target" 90 1 2 3 4
echo "validator 4 caught up from the others: 4 agree at height $low (target $target)"
# messages_ordered counts the whole chain: equal wherever two validators are at one height
deadline=$((SECONDS + 30))
while :; do
  declare -A ord=()
  same=1
  for i in 1 2 3 4; do
    read -r h o < <(curl -s --max-time 2 "http://$(rpc "$i")/chain/status" |
      jq -r '"\(.height) \(.messages_ordered)"')
    [[ -n ${ord[$h]:-} && ${ord[$h]} != "$o" ]] && fail "at height $h: messages_ordered" \
      "${ord[$h]} and $o"
    [[ -z ${ord[$h]:-} && ${#ord[@]} -gt 0 ]] && same=0
    ord[$h]=$o
  done
  ((same)) && break
  ((SECONDS < deadline)) || fail "validators never sampled at one height"
  sleep 0.2
done
echo "messages_ordered agrees on the 4 validators (${ord[*]})"

# 5. SIGTERM stops the restarted validator and the testnet with every child it started
kill -TERM "$v4"
rc=0
wait "$v4" || rc=$?
[[ $rc == 0 ]] || fail "the restarted validator exited $rc on SIGTERM"
grep -q 'validator: stopped at height' "$tmp/restart.log" || fail "no validator summary line"
kill -TERM "$testnet"
rc=0
wait "$testnet" || rc=$?
[[ $rc == 0 ]] || fail "dchat testnet exited $rc on SIGTERM"
grep -q 'testnet: stopped' "$tmp/testnet.out" || fail "no 'stopped' line"
for f in "$tn"/run/validator-[123].pid "$tn"/run/relay-*.pid; do
  p=$(cat "$f")
  ! kill -0 "$p" 2>/dev/null || fail "$(basename "$f" .pid) (pid $p) still runs"
done

# 6. refusals: a key outside the genesis, a genesis that is not there, bad testnet flags
"$bin" keygen --out "$tmp/outsider.key" >/dev/null
refused() { # refused STATUS TEXT ARGS...: exits STATUS with TEXT on stderr
  local want=$1 text=$2 rc=0
  shift 2
  "$bin" "$@" >"$tmp/refused.out" 2>"$tmp/refused.err" || rc=$?
  [[ $rc == "$want" ]] || fail "'$*' exited $rc, not $want"
  grep -qF -- "$text" "$tmp/refused.err" ||
    fail "'$*' did not say '$text': $(cat "$tmp/refused.err")"
}
node=(--role validator --listen 127.0.0.1:0 --rpc 127.0.0.1:0 --bootstrap-nodes "")
refused 1 'is not a validator of chain' "${node[@]}" --data-dir "$tmp/outsider" \
  --key "$tmp/outsider.key" --genesis "$tn/net/genesis.toml"
refused 1 "$tmp/none.toml" "${node[@]}" --data-dir "$tmp/outsider2" \
  --key "$tn/net/validator1.key" --genesis "$tmp/none.toml"
refused 2 "unknown or incomplete argument '--bogus'" testnet --bogus 1
refused 2 "--duration 'soon' must be a whole number" testnet --duration soon
echo "PASS"
