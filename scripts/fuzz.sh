#!/usr/bin/env bash
# Builds every libFuzzer target with clang (+ASan/UBSan) in build-fuzz/ and runs each for a
# bounded time (FUZZ_SECONDS, default 60) over its seed corpus: the 'fuzz' suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
if [[ ! -f build-fuzz/build.ninja ]]; then
  CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
    >/dev/null
fi
ninja -C build-fuzz
meson test -C build-fuzz --suite fuzz --print-errorlogs --num-processes 2 --timeout-multiplier 3
