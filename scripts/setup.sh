#!/bin/bash
# Installs what cusenet needs from Debian's packages (only what is missing)
# and builds it: scripts/setup.sh [BUILD_DIR [MESON_OPTIONS...]].
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(g++ meson ninja-build pkg-config libfuse3-dev fuse3 libboost-dev libboost-log-dev
          libgtest-dev libgmock-dev libpcap-dev zlib1g-dev vtun ppp iproute2 iputils-ping
          procps python3 tcpdump iperf3 clang libclang-rt-dev)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "setup: run as root to install: ${missing[*]}" >&2; exit 1; }
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

build=${1:-build}
shift || true
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$@"
elif [ $# -gt 0 ]; then
  meson configure "$build" "$@"
fi
ninja -C "$build"
