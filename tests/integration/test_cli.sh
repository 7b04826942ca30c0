#!/usr/bin/env bash
# The dchat binary's basic promises: --help, --version, keygen, and one clear line on stderr
# with a non-zero exit for bad input.
set -euo pipefail
bin=${DCHAT_BIN:?DCHAT_BIN must point at the dchat binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$bin" --help | grep -q 'keygen' || fail "--help does not list keygen"
"$bin" --version | grep -Eq '^dchat [0-9]+\.[0-9]+\.[0-9]+$' || fail "--version format"

id=$("$bin" keygen --out "$tmp/node.key")
[[ $id =~ ^[0-9a-f]{64}$ ]] || fail "keygen printed '$id', not a 64-hex node id"
[[ $(stat -c %a "$tmp/node.key") == 600 ]] || fail "key file is not mode 0600"

if "$bin" keygen --out "$tmp/node.key" 2>"$tmp/err"; then fail "keygen overwrote a key"; fi
[[ $(wc -l <"$tmp/err") -eq 1 ]] || fail "keygen error is not one line"
grep -q 'exists' "$tmp/err" || fail "keygen error does not say why"

if "$bin" frobnicate 2>"$tmp/err"; then fail "unknown command accepted"; fi
grep -q "unknown command 'frobnicate'" "$tmp/err" || fail "unknown command not named"
echo "ok"
