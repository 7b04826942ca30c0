#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (packages), builds, and runs every test suite.
#   scripts/test.sh              the suites on a normal build (build/)
#   scripts/test.sh --sanitize   the same suites built with ASan+UBSan (build-san/)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
if [[ ${1:-} == --sanitize ]]; then
  export BUILD_DIR=build-san
  scripts/build.sh -Db_sanitize=address,undefined -Db_lundef=false
else
  export BUILD_DIR=build
  scripts/build.sh
fi
meson test -C "$BUILD_DIR" --print-errorlogs --num-processes 2
