#!/usr/bin/env bash
# `dchat config check` and `dchat config show`: the shipped files validate, mistakes are
# reported as FILE:LINE:COL with a suggestion, and show reports flag > env > file > default.
set -euo pipefail
bin=${DCHAT_BIN:?DCHAT_BIN must point at the dchat binary}
root=${DCHAT_SOURCE_ROOT:?DCHAT_SOURCE_ROOT must point at the source tree}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# run with a clean environment so an operator's DCHAT_* variables cannot change the outcome
run() { env -u DCHAT_CONFIG -u DCHAT_PORT -u DCHAT_BOOTSTRAP_PEERS -u DCHAT_VALIDATOR_KEY "$@"; }

# 1. the shipped configs validate
for f in distributed testnet; do
  out=$(run "$bin" config check "$root/conf/$f.toml") || fail "$f.toml does not validate"
  [[ $out == "$root/conf/$f.toml: ok" ]] || fail "check printed '$out'"
done

# without FILE, check validates $DCHAT_CONFIG
out=$(DCHAT_CONFIG="$root/conf/testnet.toml" "$bin" config check) || fail "check of DCHAT_CONFIG"
[[ $out == "$root/conf/testnet.toml: ok" ]] || fail "check printed '$out'"

# 2. a misspelt key: exit 1, FILE:LINE:COL, the key, and the closest known key
cat >"$tmp/typo.toml" <<'TOML'
[network]
listen_addrs = ["/ip4/0.0.0.0/tcp/9000"]
bootstrap_node = ["/dns4/validator1.dchat.local/tcp/9000"]

[relay]
peer_check_intervall = 30
TOML
if run "$bin" config check "$tmp/typo.toml" >"$tmp/out" 2>"$tmp/err"; then
  fail "a misspelt key was accepted"
fi
grep -qx "$tmp/typo.toml:3:1: unknown key 'network.bootstrap_node' (did you mean 'network.bootstrap_nodes'?)" \
  "$tmp/err" || fail "misspelt key error: $(cat "$tmp/err")"
grep -qx "$tmp/typo.toml:6:1: unknown key 'relay.peer_check_intervall' (did you mean 'relay.peer_check_interval'?)" \
  "$tmp/err" || fail "second error missing: $(cat "$tmp/err")"
[[ $(wc -l <"$tmp/err") -eq 2 ]] || fail "expected one line per error"

# 3. wrong type, out of range, broken TOML: each names its line
printf '[relay]\npeer_check_interval = "30"\n' >"$tmp/type.toml"
run "$bin" config check "$tmp/type.toml" 2>"$tmp/err" && fail "a string for an integer passed"
grep -q "type.toml:2:23: relay.peer_check_interval: expected an integer, found string" \
  "$tmp/err" || fail "type error: $(cat "$tmp/err")"
printf '[dataplane]\nverify_workers = 0\n' >"$tmp/range.toml"
run "$bin" config check "$tmp/range.toml" 2>"$tmp/err" && fail "verify_workers = 0 passed"
grep -q "range.toml:2:18: dataplane.verify_workers: 0 is out of range 1..16" "$tmp/err" ||
  fail "range error: $(cat "$tmp/err")"
printf '[network]\nbootstrap_nodes = ["a:1",\n' >"$tmp/broken.toml"
run "$bin" config check "$tmp/broken.toml" 2>"$tmp/err" && fail "broken TOML passed"
grep -q "broken.toml:2:19: unterminated array" "$tmp/err" || fail "toml error: $(cat "$tmp/err")"
run "$bin" config check "$tmp/missing.toml" 2>"$tmp/err" && fail "a missing file passed"
grep -q "missing.toml: cannot read: No such file" "$tmp/err" || fail "missing: $(cat "$tmp/err")"

# 4. precedence as `config show` reports it: flag > env > file > default
DCHAT_CONFIG="$root/conf/distributed.toml" DCHAT_PORT=9300 \
  DCHAT_BOOTSTRAP_PEERS="10.0.0.2:9000,10.0.0.3:9000" DCHAT_VALIDATOR_KEY=validator1.key \
  "$bin" config show --role validator --rpc 127.0.0.1:7071 >"$tmp/show"
expect() { grep -Eq "$1" "$tmp/show" || fail "config show lacks /$1/:\n$(cat "$tmp/show")"; }
expect "^# config file: $root/conf/distributed.toml \(from DCHAT_CONFIG\)$"
expect '^role = "validator" +# flag --role$'
expect '^listen = "127.0.0.1:7071" +# flag --rpc$'
expect '^port = 9300 +# env DCHAT_PORT$'
expect '^bootstrap_nodes = \["10.0.0.2:9000", "10.0.0.3:9000"\] +# env DCHAT_BOOTSTRAP_PEERS$'
expect '^key_file = "validator1.key" +# env DCHAT_VALIDATOR_KEY$'
expect '^required_confirmations = 3 +# file .*/conf/distributed.toml:26; commits with 3 of 4 validators$'
expect '^data_dir = "./dchat-data" +# default$'
# DCHAT_PORT rewrites every listen port (the file's 9000 and 9001 both become 9300)
expect '^listen_addrs = \["/ip4/0.0.0.0/tcp/9300", "/ip4/0.0.0.0/tcp/9300"\]'
# a flag beats the environment, and an empty list is allowed ("start alone")
DCHAT_BOOTSTRAP_PEERS="10.0.0.2:9000" run "$bin" config show --bootstrap-nodes "" >"$tmp/show"
expect '^bootstrap_nodes = \[\] +# flag --bootstrap-nodes$'

# 5. what show prints is a config file that validates
run "$bin" config show --role relay --cores 0,1 --listen 127.0.0.1:8001 >"$tmp/again.toml"
run "$bin" config check "$tmp/again.toml" >/dev/null || fail "show output does not validate"

# 6. usage errors: exit 2, one line, with a suggestion
set +e
run "$bin" config show --bootstrap-node x:1 2>"$tmp/err"; rc=$?
set -e
[[ $rc -eq 2 ]] || fail "unknown flag exit $rc, want 2"
[[ $(cat "$tmp/err") == "unknown flag '--bootstrap-node' (did you mean '--bootstrap-nodes'?)" ]] ||
  fail "flag error: $(cat "$tmp/err")"
set +e
DCHAT_PORT=port "$bin" config show >/dev/null 2>"$tmp/err"; rc=$?
set -e
[[ $rc -eq 1 && $(cat "$tmp/err") == "DCHAT_PORT: 'port' is not a number in 0..65535" ]] ||
  fail "bad DCHAT_PORT: exit $rc, $(cat "$tmp/err")"
set +e
run "$bin" config check 2>/dev/null; rc=$?
set -e
[[ $rc -eq 2 ]] || fail "'config check' without FILE or DCHAT_CONFIG: exit $rc, want 2"
set +e
run "$bin" config 2>/dev/null; rc=$?
set -e
[[ $rc -eq 2 ]] || fail "bare 'dchat config' exit $rc, want 2"
# 7. every key is documented in docs/CONFIG.md
run "$bin" config show | awk '/^\[/{sec=substr($0,2,length($0)-2)} /^[a-z_]+ = /{print sec "." $1}' \
  >"$tmp/keys"
[[ $(wc -l <"$tmp/keys") -gt 20 ]] || fail "config show listed too few keys"
while read -r key; do
  grep -qF "\`$key\`" "$root/docs/CONFIG.md" || fail "docs/CONFIG.md does not document $key"
done <"$tmp/keys"
echo "ok"
