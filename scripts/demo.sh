#!/bin/bash
# The main job in one command: builds cusenet, starts the daemon, and runs two
# unmodified vtund (server and client, each in its own network namespace)
# through the emulated /dev/net/tun; ping crosses the tunnel and the daemon
# shows what it carried. Everything it starts is removed when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: run as root (namespaces, kernel TUN, FUSE)" >&2; exit 1; }
scripts/setup.sh build >/dev/null
export CUSENETD=$PWD/build/tools/cusenetd CUSENETCTL=$PWD/build/tools/cusenetctl
. tests/e2e/lib.sh

start_daemon
"$CUSENETCTL" status
netns_pair demo
vtund_config "$E2E_DIR/server.conf" demo tun 198.51.100.1 198.51.100.2
vtund_config "$E2E_DIR/client.conf" demo tun 198.51.100.2 198.51.100.1

log "vtund server in $NS_A (192.0.2.1), client in $NS_B, both on the emulated /dev/net/tun"
bg server ip netns exec "$NS_A" "$CUSENETCTL" run -- vtund -n -s -f "$E2E_DIR/server.conf"
wait_for 10 ip netns exec "$NS_A" sh -c "ss -ltn | grep -q :5000" || fail "vtund server did not start"
bg client ip netns exec "$NS_B" "$CUSENETCTL" run -- vtund -n -f "$E2E_DIR/client.conf" demo 192.0.2.1
wait_for 15 ip netns exec "$NS_B" ping -c1 -W1 198.51.100.1 || fail "the tunnel did not come up"

log "ping from $NS_B across the tunnel"
ip netns exec "$NS_B" ping -c 5 -i 0.2 198.51.100.1
log "the kernel's view in $NS_B"
ip -n "$NS_B" -s link show | grep -A5 tun
log "the daemon's view: cusenetctl link"
"$CUSENETCTL" link
log "demo done; cleaning up"
