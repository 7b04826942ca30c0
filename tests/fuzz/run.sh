#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time over a scratch copy of its seed corpus, so the
# checked-in corpus is never modified. Usage: run.sh FUZZER CORPUS_DIR
# FUZZ_SECONDS (default 60) bounds the run. A crash leaves its input in the scratch dir, whose
# path is printed, and fails the test.
set -euo pipefail
fuzzer=$1
corpus=$2
seconds=${FUZZ_SECONDS:-60}
scratch=$(mktemp -d /tmp/dchat-fuzz.XXXXXX)
cp -r "$corpus"/. "$scratch"/ 2>/dev/null || true
echo "fuzz: $(basename "$fuzzer") for ${seconds}s over $(ls "$scratch" | wc -l) seeds ($scratch)"
if "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$scratch/" "$scratch" 2>"$scratch/log"; then
  tail -n 12 "$scratch/log"
  rm -rf "$scratch"
else
  tail -n 60 "$scratch/log"
  echo "fuzz: FAILED; the crashing input is in $scratch" >&2
  exit 1
fi
