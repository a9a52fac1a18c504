#!/bin/bash
# Runs a test in the VM tier against the kernel's own drivers (the oracle):
#   tests/vm/kernel.sh CMD [ARGS...]
# Inside, tun, veth and the PPP modules (ppp_generic, ppp_async, ppp_deflate,
# bsd_comp) are loaded. 77 (skip) when the VM cannot be prepared here.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -gt 0 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }
if [ "${CUSENET_IN_VM:-}" != 1 ]; then
  cmd=$(realpath "$1")
  shift
  cd /
  exec "$here/run.sh" --timeout 500 -- env CUSENET_IN_VM=1 "$here/kernel.sh" "$cmd" "$@"
fi
modprobe -a tun veth ppp_generic ppp_async ppp_deflate bsd_comp
exec "$@"
