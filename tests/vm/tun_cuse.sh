#!/bin/bash
# The tun oracle suite through the CUSE frontend, in the VM tier (the host
# has no /dev/cuse): run by meson as `vm_tun_oracle_cuse`, which passes the
# test binary; 77 when the VM cannot be prepared here.
#   tests/vm/tun_cuse.sh BUILD/tests/tun_oracle_test
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
test_bin=$(realpath "${1:?usage: tun_cuse.sh TUN_ORACLE_TEST [GTEST ARGS...]}")
shift
if [ "${CUSENET_IN_VM:-}" != 1 ]; then
  cd /
  exec "$here/run.sh" --timeout 300 -- env CUSENET_IN_VM=1 CUSENETD="${CUSENETD:?}" \
    CUSENETCTL="${CUSENETCTL:?}" "$here/tun_cuse.sh" "$test_bin" "$@"
fi
# Inside: the kernel's tun moves to a node of its own, so that the daemon's
# CUSE device can take the name /dev/net/tun.
modprobe -a tun veth
mknod /dev/kernel-tun c 10 200
rm -f /dev/net/tun
TUN_UNDER_TEST=cuse CUSENET_KERNEL_TUN=/dev/kernel-tun exec "$test_bin" "$@"
