#!/usr/bin/env bash
# dchat genesis + a real 20-block chain + dchat chain verify: succeeds on the intact chain,
# fails with one clear line naming the height on every flipped byte we try. Then a chain grown
# by real consensus (4 state machines, each with its own WAL and block store), crashed at
# height 6 and resumed from disk: every validator's store verifies, with one head hash.
#   usage: test_chain.sh CHAIN_WRITER CONS_NET   (meson passes the helpers it built)
set -euo pipefail
bin=${DCHAT_BIN:?DCHAT_BIN must point at the dchat binary}
writer=${1:?usage: test_chain.sh CHAIN_WRITER CONS_NET}
cons_net=${2:?usage: test_chain.sh CHAIN_WRITER CONS_NET}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_fail STATUS WHAT CMD...: CMD exits STATUS with exactly one line on stderr.
expect_fail() {
  local want=$1 what=$2; shift 2
  local rc=0
  "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  [[ $rc -eq $want ]] || fail "$what: exit $rc, wanted $want ($(cat "$tmp/err"))"
  [[ $(wc -l <"$tmp/err") -eq 1 ]] || fail "$what: error is not one line: $(cat "$tmp/err")"
}

# flip FILE OFFSET: xor one byte in place.
flip() {
  local byte
  byte=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
  printf "$(printf '\\%03o' $(( byte ^ 0x10 )))" |
    dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# ---- dchat genesis ----
"$bin" genesis --validators 4 --out "$tmp/net" >"$tmp/out"
for i in 1 2 3 4; do
  [[ $(stat -c %a "$tmp/net/validator$i.key") == 600 ]] || fail "validator$i.key not mode 0600"
  grep -q "wrote $tmp/net/validator$i.key (node id [0-9a-f]\{64\})" "$tmp/out" ||
    fail "genesis did not report validator$i.key"
done
grep -q 'required_confirmations = 3' "$tmp/net/genesis.toml" || fail "4 validators need 3"
[[ $(grep -c '^\[\[validators\]\]' "$tmp/net/genesis.toml") -eq 4 ]] || fail "not 4 validators"
expect_fail 1 "genesis over existing files" "$bin" genesis --validators 4 --out "$tmp/net"
grep -q 'already exists' "$tmp/err" || fail "overwrite refusal does not say why"
expect_fail 2 "--validators 0" "$bin" genesis --validators 0 --out "$tmp/x"
expect_fail 2 "--validators abc" "$bin" genesis --validators abc --out "$tmp/x"
expect_fail 2 "--validators 65" "$bin" genesis --validators 65 --out "$tmp/x"
expect_fail 2 "missing --out" "$bin" genesis --validators 4
expect_fail 2 "unknown flag" "$bin" genesis --validators 4 --out "$tmp/x" --frob 1
[[ ! -e $tmp/x ]] || fail "a refused genesis command created files"

# ---- a real chain, verified ----
mkdir "$tmp/data"
cp "$tmp/net/genesis.toml" "$tmp/data/"
"$writer" --net "$tmp/net" --data-dir "$tmp/data" --blocks 20 >/dev/null
store=$tmp/data/blocks-000000000001.log
"$bin" chain verify --data-dir "$tmp/data" >"$tmp/out"
grep -Eq '^chain dchat-local: height 20, head hash [0-9a-f]{64} ' "$tmp/out" ||
  fail "verify output: $(cat "$tmp/out")"
head_hash=$(sed -E 's/.*head hash ([0-9a-f]{64}).*/\1/' "$tmp/out")
"$bin" chain verify --data-dir "$tmp/x-missing" --genesis "$tmp/net/genesis.toml" 2>/dev/null &&
  fail "verify of a missing data dir succeeded"
sum=$(sha256sum <"$store")

# The genesis can also come from --genesis; another network's genesis is refused.
mkdir "$tmp/data2" && cp "$store" "$tmp/data2/"
"$bin" chain verify --data-dir "$tmp/data2" --genesis "$tmp/net/genesis.toml" |
  grep -q 'height 20,' || fail "--genesis FILE"
"$bin" genesis --validators 4 --out "$tmp/net2" >/dev/null
expect_fail 1 "foreign genesis" "$bin" chain verify --data-dir "$tmp/data2" \
  --genesis "$tmp/net2/genesis.toml"
grep -q 'height 1: prev_hash is not the genesis hash' "$tmp/err" ||
  fail "foreign genesis: $(cat "$tmp/err")"

# ---- one flipped byte anywhere fails, naming the height ----
size=$(stat -c %s "$store")
cp "$store" "$tmp/pristine"
offsets="0 9 31 32 33 47 $(( size / 2 )) $(( size - 9 )) $(( size - 1 ))"
offsets+=" $(seq 50 97 $(( size - 1 )) | tr '\n' ' ')"
for off in $offsets; do
  cp "$tmp/pristine" "$store"
  flip "$store" "$off"
  expect_fail 1 "flipped byte at offset $off of $size" "$bin" chain verify --data-dir "$tmp/data"
  if (( off >= 32 )); then
    grep -Eq "blocks-000000000001.log: height ([1-9]|1[0-9]|20): " "$tmp/err" ||
      fail "offset $off: no height in: $(cat "$tmp/err")"
  else
    grep -q 'block store file' "$tmp/err" || fail "offset $off: $(cat "$tmp/err")"
  fi
done
cp "$tmp/pristine" "$store"
truncate -s $(( size - 5 )) "$store"
expect_fail 1 "torn last record" "$bin" chain verify --data-dir "$tmp/data"
grep -q 'height 20: stored record damaged (incomplete record' "$tmp/err" ||
  fail "tail: $(cat "$tmp/err")"
[[ $(stat -c %s "$store") -eq $(( size - 5 )) ]] || fail "verify cut the torn tail: never write"

# verify is read-only and the chain can grow: extend it to 25 and verify again.
cp "$tmp/pristine" "$store"
"$bin" chain verify --data-dir "$tmp/data" >/dev/null
[[ $(sha256sum <"$store") == "$sum" ]] || fail "verify modified the block store"
"$writer" --net "$tmp/net" --data-dir "$tmp/data" --blocks 25 >/dev/null
"$bin" chain verify --data-dir "$tmp/data" | grep -q 'height 25,' || fail "extended chain"
"$bin" chain verify --data-dir "$tmp/data" | grep -vq "$head_hash" || fail "head hash unchanged"

# ---- the store before segments (one blocks.log) still verifies, and grows once renamed ----
mkdir "$tmp/old" && cp "$tmp/net/genesis.toml" "$tmp/old/" && cp "$store" "$tmp/old/blocks.log"
"$bin" chain verify --data-dir "$tmp/old" | grep -q 'height 25,' || fail "old single-file store"
[[ -e $tmp/old/blocks.log ]] || fail "verify renamed the old store"
"$writer" --net "$tmp/net" --data-dir "$tmp/old" --blocks 30 >/dev/null
[[ ! -e $tmp/old/blocks.log && -e $tmp/old/blocks-000000000001.log ]] ||
  fail "the first writer did not migrate blocks.log: $(ls "$tmp/old")"
"$bin" chain verify --data-dir "$tmp/old" | grep -q 'height 30,' || fail "migrated store"

# ---- a segmented, pruned store: headers and certificates of pruned heights still verify ----
mkdir "$tmp/pruned" && cp "$tmp/net/genesis.toml" "$tmp/pruned/"
"$writer" --net "$tmp/net" --data-dir "$tmp/pruned" --blocks 40 --segment-bytes 4096 >/dev/null
"$writer" --net "$tmp/net" --data-dir "$tmp/pruned" --blocks 80 --segment-bytes 4096 \
  --retain-blocks 30 2>/dev/null >/dev/null
[[ ! -e $tmp/pruned/blocks-000000000001.log && -s $tmp/pruned/blocks-pruned.log ]] ||
  fail "nothing was pruned: $(ls "$tmp/pruned")"
"$bin" chain verify --data-dir "$tmp/pruned" >"$tmp/out"
pruned_re='; heights 1\.\.[0-9]+ pruned, their headers and certificates verified; '
pruned_re+='[0-9]+ segments, [0-9]+ bytes\)$'
grep -Eq "^chain dchat-local: height 80, .*$pruned_re" "$tmp/out" ||
  fail "pruned verify: $(cat "$tmp/out")"
cp "$tmp/pruned/blocks-pruned.log" "$tmp/side"
flip "$tmp/pruned/blocks-pruned.log" 200
expect_fail 1 "flipped byte in the pruned headers" "$bin" chain verify --data-dir "$tmp/pruned"
grep -q 'blocks-pruned.log: height [0-9]*: ' "$tmp/err" || fail "side file: $(cat "$tmp/err")"
cp "$tmp/side" "$tmp/pruned/blocks-pruned.log"
middle=$(ls "$tmp/pruned"/blocks-0*.log | sed -n 2p)
mv "$middle" "$tmp/middle"
expect_fail 1 "a missing middle segment" "$bin" chain verify --data-dir "$tmp/pruned"
grep -q 'are missing: blocks-0*[0-9]*.log ends at height' "$tmp/err" ||
  fail "missing segment: $(cat "$tmp/err")"
mv "$tmp/middle" "$middle"
"$bin" chain verify --data-dir "$tmp/pruned" >/dev/null || fail "restored pruned store"

# ---- a chain grown by consensus, crashed and resumed from the WALs and stores ----
"$cons_net" --net "$tmp/net" --data "$tmp/cons" --height 10 --crash-at 6 >"$tmp/out"
grep -q 'crash at height 6' "$tmp/out" || fail "cons_net did not crash: $(cat "$tmp/out")"

# chain verify also reads the vote WAL a crash left behind: intact, torn tail, damage.
cp -r "$tmp/cons/v2" "$tmp/crashed"
"$bin" chain verify --data-dir "$tmp/crashed" --genesis "$tmp/net/genesis.toml" >"$tmp/v"
wal_records=$(sed -nE 's/.*votes\.wal: ([0-9]+) vote records, intact$/\1/p' "$tmp/v")
[[ -n $wal_records ]] || fail "no vote WAL report: $(cat "$tmp/v")"
printf 'x' >>"$tmp/crashed/votes.wal"
"$bin" chain verify --data-dir "$tmp/crashed" --genesis "$tmp/net/genesis.toml" >"$tmp/v" ||
  fail "a torn vote WAL tail failed verify"
grep -q "$wal_records whole vote records, then a torn last record" "$tmp/v" ||
  fail "torn WAL tail: $(cat "$tmp/v")"
if (( wal_records >= 2 )); then
  flip "$tmp/crashed/votes.wal" 40
  expect_fail 1 "vote WAL damaged before its end" "$bin" chain verify \
    --data-dir "$tmp/crashed" --genesis "$tmp/net/genesis.toml"
  grep -Eq 'damaged before its end \(record seq [0-9]+: checksum mismatch at byte offset 32\)' \
    "$tmp/err" || fail "WAL damage: $(cat "$tmp/err")"
fi
"$cons_net" --net "$tmp/net" --data "$tmp/cons" --height 20 >"$tmp/out"
grep -Eq '^cons_net: resumed at heights 6 \(' "$tmp/out" ||
  fail "cons_net did not resume from its stores: $(head -1 "$tmp/out")"
head -1 "$tmp/out" | grep -Eq '\([1-9][0-9]* WAL records replayed\)' ||
  fail "no validator replayed its WAL after the crash: $(head -1 "$tmp/out")"
[[ $(grep -Eo 'height 20 hash [0-9a-f]{64}' "$tmp/out" | sort -u | wc -l) -eq 1 ]] ||
  fail "validators disagree or fell short: $(cat "$tmp/out")"
cons_hash=$(grep -Eo '[0-9a-f]{64}' "$tmp/out" | head -1)
for i in 1 2 3 4; do
  "$bin" chain verify --data-dir "$tmp/cons/v$i" --genesis "$tmp/net/genesis.toml" >"$tmp/v"
  grep -q "height 20, head hash $cons_hash " "$tmp/v" || fail "v$i: $(cat "$tmp/v")"
done
expect_fail 1 "a data dir of another chain" "$cons_net" --net "$tmp/net2" --data "$tmp/cons" \
  --height 21
grep -q 'does not start at this genesis' "$tmp/err" || fail "other chain: $(cat "$tmp/err")"
flip "$tmp/cons/v3/blocks-000000000001.log" 4000
expect_fail 1 "flipped byte in a consensus-written store" "$bin" chain verify \
  --data-dir "$tmp/cons/v3" --genesis "$tmp/net/genesis.toml"
echo "ok"
