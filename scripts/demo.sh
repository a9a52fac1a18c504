#!/bin/bash
# The main job in one command: builds cusenet, starts the daemon, and runs two
# unmodified pppd, each in its own network namespace, over a null-modem pair
# of emulated serial ports: the daemon runs their N_PPP line discipline and
# /dev/ppp. LCP and IPCP complete, ping crosses both ways, and the daemon
# shows its units, channels and ports. Everything it starts is removed when
# it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: run as root (namespaces, kernel TUN, FUSE)" >&2; exit 1; }
scripts/setup.sh build >/dev/null
export CUSENETD=$PWD/build/tools/cusenetd CUSENETCTL=$PWD/build/tools/cusenetctl
. tests/e2e/lib.sh

start_daemon
"$CUSENETCTL" status
netns a; NS_A=$NS; netns b; NS_B=$NS
null_modem
log "two emulated ports joined by a null-modem cable, reached through kernel ptys:"
"$CUSENETCTL" tty

log "pppd in $NS_A on $PTY_A, pppd in $NS_B on $PTY_B (unmodified, Debian's)"
pppd_in demo-a "$NS_A" "$PTY_A" "${PPPD_OPTS[@]}" unit 0 10.9.0.1:10.9.0.2; pa=$LAST_PID
pppd_in demo-b "$NS_B" "$PTY_B" "${PPPD_OPTS[@]}" unit 1 10.9.0.2:10.9.0.1; pb=$LAST_PID
up "$NS_A" ppp0 10.9.0.1
up "$NS_B" ppp1 10.9.0.2
grep -E "local  IP|remote IP|compress" "$E2E_DIR/demo-a.log" || true

log "ping across the PPP link, both ways"
ip netns exec "$NS_A" ping -c 3 -i 0.2 10.9.0.2
ip netns exec "$NS_B" ping -c 3 -i 0.2 10.9.0.1
log "the kernel's view in $NS_A"
ip -n "$NS_A" -s link show ppp0
log "the daemon's view: cusenetctl ppp"
"$CUSENETCTL" ppp
log "SIGTERM to both pppd"
kill -TERM "$pa"; wait "$pa" || true
wait_for 10 sh -c "! kill -0 $pb" || kill -TERM "$pb"
wait "$pb" || true
log "demo done; cleaning up"
