#!/usr/bin/env bash
# The RPC of a real node: the seed's endpoints, 404/405/413, garbage that must not hurt it,
# `promtool check metrics` on /metrics, and `dchat status` (ok, unreachable, disagreeing).
set -euo pipefail
bin=${DCHAT_BIN:?DCHAT_BIN must point at the dchat binary}
command -v jq >/dev/null || { echo "SKIP: jq not installed"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
tmp=$(mktemp -d /tmp/dchat-rpc.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do { wait "$p"; } 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; tail -n 20 "$tmp/log" >&2 || true; exit 1; }

# A port base below the ephemeral range whose ports nobody holds (checked with ss).
pick_base() {
  local try b off used
  for try in $(seq 50); do
    b=$((12000 + RANDOM % 19000)) used=0
    for off in 0; do ss -Hlun "sport = :$((b + off))" | grep -q . && used=1; done
    for off in 100 200 201; do ss -Hltn "sport = :$((b + off))" | grep -q . && used=1; done
    ((used)) || { echo "$b"; return; }
  done
  echo "no free port range found" >&2
  return 1
}
base=$(pick_base)
udp=127.0.0.1:$base
rpc=127.0.0.1:$((base + 100))
"$bin" keygen --out "$tmp/key" >/dev/null
"$bin" --role relay --listen "$udp" --rpc "$rpc" --bootstrap-nodes "" --data-dir "$tmp/data" \
  --peer-check-interval 1 --key "$tmp/key" >"$tmp/log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -s --max-time 1 "http://$rpc/health" >/dev/null && break
  sleep 0.1
done

code() { curl -s -o "$tmp/body" -w '%{http_code}' --max-time 5 "$@"; }

[[ $(code "http://$rpc/network/peers") == 200 ]] || fail "/network/peers"
jq -e '.connected_peers == 0 and .known_peers == 1 and (.peers | length) == 0' "$tmp/body" \
  >/dev/null || fail "/network/peers of a lone node: $(cat "$tmp/body")"
[[ $(code "http://$rpc/chain/status") == 200 ]] || fail "/chain/status"
jq -e '.height == 0 and .hash == "" and .role == "relay" and .validators == 0 and
       .online_validators == 0' "$tmp/body" >/dev/null || fail "/chain/status: $(cat "$tmp/body")"
[[ $(code "http://$rpc/node/info") == 200 ]] || fail "/node/info"
jq -e '(.id | length) == 64 and .role == "relay" and (.version | length) > 0 and
       .addresses == ["'"$udp"'"] and .uptime_s >= 0' "$tmp/body" >/dev/null ||
  fail "/node/info: $(cat "$tmp/body")"
[[ $(code "http://$rpc/health") == 200 ]] || fail "/health of a lone node"
jq -e '.status == "ok"' "$tmp/body" >/dev/null || fail "/health body: $(cat "$tmp/body")"

[[ $(code "http://$rpc/no/such/thing") == 404 ]] || fail "unknown path is not 404"
jq -e '.error | length > 0' "$tmp/body" >/dev/null || fail "404 body is not a JSON error"
[[ $(code -X POST -d x "http://$rpc/network/peers") == 405 ]] || fail "POST is not 405"
[[ $(code -X DELETE "http://$rpc/health") == 405 ]] || fail "DELETE is not 405"
head -c 100000 /dev/zero >"$tmp/big"
[[ $(code -X POST --data-binary @"$tmp/big" "http://$rpc/health") == 413 ]] ||
  fail "a 100 kB body is not 413"

# Garbage on both ports must not hurt the node.
head -c 3000 /dev/urandom >"$tmp/junk"
for _ in 1 2 3; do
  timeout 2 bash -c "cat '$tmp/junk' >/dev/tcp/${rpc%:*}/${rpc#*:}" 2>/dev/null || true
  timeout 2 bash -c "cat '$tmp/junk' >/dev/udp/${udp%:*}/${udp#*:}" 2>/dev/null || true
done
[[ $(code "http://$rpc/health") == 200 ]] || fail "node stopped serving after garbage"

[[ $(code "http://$rpc/metrics") == 200 ]] || fail "/metrics"
grep -q '^dchat_rpc_requests_total{code="404"} [1-9]' "$tmp/body" || fail "404s not counted"
grep -q '^dchat_dp_rx_datagrams_total [1-9]' "$tmp/body" || fail "dataplane counters missing"
grep -q '^dchat_discovery_ping_rtt_seconds_bucket{le="+Inf"}' "$tmp/body" ||
  fail "discovery histogram missing"
if command -v promtool >/dev/null; then
  promtool check metrics <"$tmp/body" || fail "promtool check metrics rejects /metrics"
else
  echo "note: promtool not installed; exposition format not linted"
fi

# dchat status: one reachable node is ok; an unreachable one makes it fail.
"$bin" status --nodes "$rpc" >"$tmp/out" || fail "status of a healthy node exits non-zero"
grep -q "relay" "$tmp/out" || fail "status line lacks the role: $(cat "$tmp/out")"
if "$bin" status --nodes "$rpc,127.0.0.1:1" >"$tmp/out"; then
  fail "unreachable node not reported"
fi
grep -q "unreachable" "$tmp/out" || fail "status does not say unreachable: $(cat "$tmp/out")"
"$bin" status --nodes "$rpc" --json | jq -e '.ok == true and .nodes[0].reachable == true' \
  >/dev/null || fail "status --json"
if "$bin" status --nodes "" 2>"$tmp/err"; then fail "empty --nodes accepted"; fi
[[ $(wc -l <"$tmp/err") -eq 1 ]] || fail "status usage error is not one line"

# Two nodes at the same height with different hashes disagree: fake them with static files.
if command -v python3 >/dev/null; then
  for n in a b; do
    mkdir -p "$tmp/$n/node" "$tmp/$n/network" "$tmp/$n/chain"
    echo '{"id":"x","role":"validator","messages_per_s":0}' >"$tmp/$n/node/info"
    echo '{"connected_peers":1,"known_peers":2,"peers":[]}' >"$tmp/$n/network/peers"
  done
  echo '{"height":7,"hash":"aaaa","validators":4,"online_validators":4}' >"$tmp/a/chain/status"
  echo '{"height":7,"hash":"bbbb","validators":4,"online_validators":4}' >"$tmp/b/chain/status"
  pa=$((base + 200)) pb=$((base + 201))
  python3 -m http.server "$pa" --bind 127.0.0.1 --directory "$tmp/a" >/dev/null 2>&1 &
  pids+=($!)
  python3 -m http.server "$pb" --bind 127.0.0.1 --directory "$tmp/b" >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    curl -s "http://127.0.0.1:$pa/chain/status" >/dev/null &&
      curl -s "http://127.0.0.1:$pb/chain/status" >/dev/null && break
    sleep 0.1
  done
  if "$bin" status --nodes "127.0.0.1:$pa,127.0.0.1:$pb" >"$tmp/out"; then
    fail "different hashes at one height not reported"
  fi
  grep -q DISAGREES "$tmp/out" || fail "status does not say DISAGREES: $(cat "$tmp/out")"
fi
echo "ok"
