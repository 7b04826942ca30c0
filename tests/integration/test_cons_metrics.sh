#!/usr/bin/env bash
# The consensus families of /metrics on a real chain: `dchat testnet` with 4 validators and
# 1 relay (which follows the chain) on loopback, then
#
#   validator 1: dchat_consensus_commits_total > 0 and growing, dchat_consensus_height within
#      2 of /chain/status's height (sampled one after the other), the commit latency
#      histogram counted, promtool check metrics clean
#   the relay: dchat_follow_blocks_accepted_total > 0 and growing, no dchat_consensus_*,
#      promtool clean
#
# Waits poll with deadlines; processes are killed by PID in the trap.
set -euo pipefail
source "$(dirname "$0")/testnet_lib.sh"
bin=${DCHAT_BIN:?DCHAT_BIN must point at the dchat binary}
command -v jq >/dev/null || { echo "SKIP: jq not installed"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
tmp=$(mktemp -d /tmp/dchat-cons-metrics.XXXXXX)
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
  tail -n 20 "$tmp/testnet.out" >&2 || true
  exit 1
}

# A port base whose ports nobody holds: UDP +0..3 validators, +10 the relay; TCP +20..23
# validators' RPC, +30 the relay's RPC.
base=$(testnet_pick_base "0 1 2 3 10" "20 21 22 23 30")
val=127.0.0.1:$((base + 20))
relay=127.0.0.1:$((base + 30))

"$bin" testnet --dir "$tn" --validators 4 --relays 1 --base-port "$base" \
  --relay-port $((base + 10)) --rpc-port $((base + 20)) --status-interval 5 \
  >"$tmp/testnet.out" 2>&1 &
testnet=$!
pids+=("$testnet")
deadline=$((SECONDS + 90))
until grep -q 'all 5 nodes healthy' "$tmp/testnet.out"; do
  kill -0 "$testnet" 2>/dev/null || fail "dchat testnet exited during start-up"
  ((SECONDS < deadline)) || fail "the testnet did not become healthy"
  sleep 0.2
done

# metric ADDR NAME: the value of the unlabelled sample NAME in ADDR's /metrics ("" if none).
metric() {
  curl -s --max-time 2 "http://$1/metrics" | awk -v n="$2" '$1 == n { v = $2 } END { print v }' ||
    true
}
# wait_above ADDR NAME MIN SECONDS: until NAME > MIN; prints the value.
wait_above() {
  local v deadline=$((SECONDS + $4))
  while :; do
    v=$(metric "$1" "$2")
    [[ -n $v ]] && ((v > $3)) && { echo "$v"; return 0; }
    ((SECONDS < deadline)) || fail "$2 at $1 is '${v}', not above $3 after $4 s"
    sleep 0.2
  done
}

# 1. a validator commits, and its counters say so
c1=$(wait_above "$val" dchat_consensus_commits_total 0 60)
c2=$(wait_above "$val" dchat_consensus_commits_total "$c1" 30)
echo "validator 1: commits $c1 -> $c2"
close=0
for _ in $(seq 10); do
  hm=$(metric "$val" dchat_consensus_height)
  hs=$(curl -s --max-time 2 "http://$val/chain/status" | jq -r .height)
  [[ -n $hm && $hs =~ ^[0-9]+$ ]] || fail "no height: metrics '$hm', status '$hs'"
  d=$((hm > hs ? hm - hs : hs - hm))
  ((d <= 2)) && { close=1; break; }
  sleep 0.3
done
((close)) || fail "dchat_consensus_height $hm is not /chain/status's height $hs"
curl -s --max-time 2 "http://$val/metrics" >"$tmp/val.metrics"
grep -qE '^dchat_consensus_commit_latency_seconds_count [1-9]' "$tmp/val.metrics" ||
  fail "no commit latency observed: $(grep commit_latency "$tmp/val.metrics")"
grep -qE '^dchat_consensus_messages_total\{kind="vote"\} [1-9]' "$tmp/val.metrics" ||
  fail "no votes counted"
grep -qE '^dchat_consensus_wal_sync_seconds_count [1-9]' "$tmp/val.metrics" ||
  fail "no WAL syncs observed"
grep -q '^dchat_follow_' "$tmp/val.metrics" && fail "a validator shows dchat_follow_*"

# 2. the relay follows, and its counters say so
b1=$(wait_above "$relay" dchat_follow_blocks_accepted_total 0 60)
b2=$(wait_above "$relay" dchat_follow_blocks_accepted_total "$b1" 30)
echo "relay: blocks accepted $b1 -> $b2"
fh=$(metric "$relay" dchat_follow_height)
[[ -n $fh ]] && ((fh >= b1)) || fail "dchat_follow_height '$fh' below blocks accepted $b1"
curl -s --max-time 2 "http://$relay/metrics" >"$tmp/relay.metrics"
grep -q '^dchat_consensus_' "$tmp/relay.metrics" && fail "a relay shows dchat_consensus_*"

if command -v promtool >/dev/null; then
  promtool check metrics <"$tmp/val.metrics" || fail "promtool rejects a validator's /metrics"
  promtool check metrics <"$tmp/relay.metrics" || fail "promtool rejects a relay's /metrics"
else
  echo "note: promtool not installed; exposition format not linted"
fi

kill -TERM "$testnet"
rc=0
wait "$testnet" || rc=$?
[[ $rc == 0 ]] || fail "dchat testnet exited $rc on SIGTERM"
echo "ok"
