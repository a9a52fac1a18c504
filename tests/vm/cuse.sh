#!/bin/bash
# Runs a test in the VM tier with the daemon on the CUSE frontend (the host
# has no /dev/cuse):  tests/vm/cuse.sh CMD [ARGS...]
# Inside, the kernel's TUN moves to the node $CUSENET_KERNEL_TUN so that the
# daemon's CUSE device can take the name /dev/net/tun, and the tests learn
# their frontend from TUN_UNDER_TEST, PPP_UNDER_TEST, TTY_UNDER_TEST and E2E_FRONTEND (cuse).
# 77 (skip) when the VM cannot be prepared on this machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -gt 0 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }
if [ "${CUSENET_IN_VM:-}" != 1 ]; then
  cmd=$(realpath "$1")
  shift
  cd /
  exec "$here/run.sh" --timeout 500 -- env CUSENET_IN_VM=1 CUSENETD="${CUSENETD:?}" \
    CUSENETCTL="${CUSENETCTL:?}" ${PROBE:+PROBE="$PROBE"} "$here/cuse.sh" "$cmd" "$@"
fi
modprobe -a tun veth
# 0666, as udev makes the kernel's /dev/net/tun (tests/security checks it).
mknod -m 0666 /dev/kernel-tun c 10 200
rm -f /dev/net/tun
export TUN_UNDER_TEST=cuse PPP_UNDER_TEST=cuse TTY_UNDER_TEST=cuse E2E_FRONTEND=cuse CUSENET_KERNEL_TUN=/dev/kernel-tun
exec "$@"
