#!/bin/bash
# The guest half of smoke.sh, run inside the VM by tests/vm/run.sh:
# what the VM tier promises (CUSE, on-demand modules, namespaces, orphan
# reaping, the host's binaries) and the kernel's own PPP as an oracle.
# Prints "kernel=RELEASE" for the host to compare with its own.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

echo "kernel=$(uname -r)"
[ "$(id -u)" = 0 ] || fail "not root inside the VM"
[ "$(pwd)" = "${1:?usage: smoke-guest.sh HOST_PWD}" ] || fail "cwd is $(pwd), not $1"
ok "cwd is the host's"
[ ! -t 0 ] && [ ! -t 1 ] || fail "stdin or stdout is a tty"
[ -f "$here/run.sh" ] && [ -x /usr/sbin/pppd ] && [ -x /usr/sbin/vtund ] ||
  fail "the host's files are not visible"
ok "host files visible"

# An orphan that exits must not stay a zombie under PID 1, or tests that
# wait for a daemon to disappear (kill -0) would hang.
sh -c 'sleep 0.2 & echo $! >/tmp/orphan'
sleep 1.5
! kill -0 "$(cat /tmp/orphan)" 2>/dev/null || fail "orphan $(cat /tmp/orphan) was not reaped"
ok "orphans are reaped"

test -c /dev/fuse || fail "no /dev/fuse"
test -c /dev/cuse || fail "no /dev/cuse"
# A minimal CUSE server: answer CUSE_INIT with a device name and see the
# kernel create the node.
python3 - <<'EOF' || fail "CUSE_INIT handshake failed"
import os, struct, sys
fd = os.open("/dev/cuse", os.O_RDWR)
req = os.read(fd, 1 << 17)
length, opcode, unique = struct.unpack_from("<IIQ", req)
if opcode != 4096:  # CUSE_INIT
    sys.exit(f"first request has opcode {opcode}, not CUSE_INIT")
init_out = struct.pack("<8I40x", 7, 31, 0, 0, 4096, 4096, 0, 0)
devinfo = b"DEVNAME=vmsmoke\0"
body = init_out + devinfo
# The kernel adds the device while it processes this reply.
os.write(fd, struct.pack("<IiQ", 16 + len(body), 0, unique) + body)
if not os.path.exists("/dev/vmsmoke"):
    sys.exit("/dev/vmsmoke did not appear")
os.close(fd)
EOF
ok "/dev/cuse creates devices"

modprobe tun
test -c /dev/net/tun || fail "no /dev/net/tun after modprobe tun"
modprobe ppp_generic
test -c /dev/ppp || fail "no /dev/ppp after modprobe ppp_generic"
modprobe -a ppp_async ppp_deflate bsd_comp veth
ok "modules load on demand"

ns=smoke$$
ip netns add "$ns"
ip -n "$ns" link set lo up
ok "ip netns add"

# The kernel's own PPP: pppd on ppp0 here, its peer on ppp1 in the
# namespace, joined by a pty pair; 192.0.2.2 is reachable only across it.
# /etc/ppp/options may ask for auth, a lock and modem lines: overridden.
common=(noauth local nocrtscts nodefaultroute nodetach lcp-echo-interval 0)
pppd pty "ip netns exec $ns pppd notty ${common[*]} unit 1 192.0.2.2:192.0.2.1" \
  "${common[@]}" unit 0 192.0.2.1:192.0.2.2 >/tmp/pppd.log 2>&1 &
pppd_pid=$!
up=""
for _ in $(seq 300); do
  if ip -4 addr show dev ppp0 2>/dev/null | grep -q 'inet 192.0.2.1 peer 192.0.2.2' &&
     ip -n "$ns" -4 addr show dev ppp1 2>/dev/null | grep -q 'inet 192.0.2.2 peer 192.0.2.1'; then
    up=1
    break
  fi
  kill -0 "$pppd_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$up" ] || fail "ppp0/ppp1 did not come up: $(cat /tmp/pppd.log)"
ok "pppd brought up ppp0 and ppp1"
# The addresses are set before the interfaces go up and pass IP.
for _ in $(seq 30); do
  ping -c 1 -W 1 192.0.2.2 >/dev/null 2>&1 && break
  sleep 0.2
done
ping -c 3 -i 0.2 -W 5 192.0.2.2 >/tmp/ping.log || fail "ping across ppp0 failed: $(cat /tmp/ping.log)"
rx=$(cat /sys/class/net/ppp0/statistics/rx_packets)
[ "$rx" -ge 3 ] || fail "ppp0 received $rx packets"
ok "ping across the kernel's PPP ($rx packets in on ppp0)"

kill -TERM "$pppd_pid"
wait "$pppd_pid" || true
ip netns del "$ns"
echo "smoke-guest: all passed"
