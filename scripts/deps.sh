#!/usr/bin/env bash
# Installs the Debian 12 packages dchat needs, only those missing. Run as root.
set -euo pipefail
packages=(
  build-essential meson ninja-build pkg-config clang llvm libclang-rt-14-dev
  liburing-dev libsodium-dev libxxhash-dev libjemalloc-dev libcriterion-dev
  libmicrohttpd-dev libcjson-dev
  prometheus iproute2 curl jq python3 procps
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "dchat: missing packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
  fi
  echo "dchat: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
