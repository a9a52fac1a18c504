#!/bin/bash
# Carrier and hang-up on the daemon's ports reached through their pty (the
# FUSE frontend; on CUSE, /dev/ttyVP<n> itself): two unmodified pppd with
# `modem` (CLOCAL cleared on their tty) over a null-modem pair, link up and
# a ping, then kill -9 of one: its port's last close drops DTR (HUPCL), the
# other port loses carrier, and the other pppd logs "Modem hangup" and exits
# with pppd's EXIT_HANGUP (16) within seconds. No LCP echoes are sent, so
# only the hangup can end it. With `local` on the survivor instead, the same
# kill leaves it running. A port whose far end is a TCP connection hangs its
# `modem` pppd up when the far end closes. The daemon holds nothing after.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd pppd "apt-get install ppp"
need_cmd ping "apt-get install iputils-ping"
need_cmd python3 "apt-get install python3"
[ -e /dev/ptmx ] || skip "no /dev/ptmx"
start_daemon

# /etc/ppp/options overridden as in PPPD_OPTS, but `modem` and no LCP echo.
MODEM_OPTS=(nodetach noauth modem nocrtscts nolock lcp-echo-interval 0 noipv6 debug)

# kill_pppd LAUNCHER_PID: kill -9 of the pppd itself (under `cusenetctl run`, its child).
kill_pppd() {
  local victim=$1
  if [ "$E2E_FRONTEND" != cuse ]; then
    victim=$(pgrep -P "$1" -x pppd) || fail "no pppd under launcher $1"
  fi
  kill -KILL "$victim"
  wait "$1" || true
}

# hung_up NAME PID: the pppd logged a modem hangup and exited with 16 within 5 s.
hung_up() {
  local name=$1 pid=$2 rc=0
  wait_for 5 sh -c "! kill -0 $pid" || fail "$name still runs 5 s after its carrier went"
  wait "$pid" || rc=$?
  grep -q "Modem hangup" "$E2E_DIR/$name.log" || fail "$name did not see the hangup"
  [ "$rc" = 16 ] || fail "$name exited with $rc, not pppd's EXIT_HANGUP (16)"
}

netns a; NS_A=$NS; netns b; NS_B=$NS

# holds_no_more BASELINE: the daemon's descriptors are back to BASELINE.
holds_no_more() {
  wait_for 10 sh -c "[ \$(ls /proc/$DAEMON_PID/fd | wc -l) -le $1 ]" \
    || fail "daemon holds $(daemon_fds) descriptors, $1 before"
}

log "null-modem pair, both pppd with modem: kill -9 of one hangs the other up"
null_modem
baseline=$(daemon_fds)
pppd_in m-a "$NS_A" "$PTY_A" "${MODEM_OPTS[@]}" 10.9.7.1:10.9.7.2; pa=$LAST_PID
pppd_in m-b "$NS_B" "$PTY_B" "${MODEM_OPTS[@]}" 10.9.7.2:10.9.7.1; pb=$LAST_PID
up "$NS_A" ppp0 10.9.7.1
up "$NS_B" ppp0 10.9.7.2
ip netns exec "$NS_A" ping -c3 -i0.2 -W2 10.9.7.2 >/dev/null || fail "no ping across"
"$CUSENETCTL" tty
start=$(date +%s%N)
kill_pppd "$pa"
hung_up m-b "$pb"
log "the peer pppd saw the hangup and exited $(( ($(date +%s%N) - start) / 1000000 )) ms after the kill"
expect_idle

log "the same ports again, the survivor with local: it stays"
pppd_in l-a "$NS_A" "$PTY_A" "${MODEM_OPTS[@]}" 10.9.8.1:10.9.8.2; pa=$LAST_PID
pppd_in l-b "$NS_B" "$PTY_B" "${MODEM_OPTS[@]}" local 10.9.8.2:10.9.8.1; pb=$LAST_PID
up "$NS_A" ppp0 10.9.8.1
up "$NS_B" ppp0 10.9.8.2
ip netns exec "$NS_A" ping -c3 -i0.2 -W2 10.9.8.2 >/dev/null || fail "no ping across the ports after the hangup"
kill_pppd "$pa"
sleep 3
kill -0 "$pb" || fail "the local pppd exited when its peer went: $(tail -5 "$E2E_DIR/l-b.log")"
grep -q "Modem hangup" "$E2E_DIR/l-b.log" && fail "the local pppd saw a hangup"
kill -TERM "$pb"
wait "$pb" || true
expect_idle
holds_no_more "$baseline"

log "a port whose far end is TCP: the far end closes, its modem pppd hangs up"
bg listener python3 -c '
import socket, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
time.sleep(3600)'
listener=$LAST_PID
wait_for 5 grep -q '^[0-9]' "$E2E_DIR/listener.log" || fail "the listener did not start"
out=$("$CUSENETCTL" tty add tcp "127.0.0.1:$(head -1 "$E2E_DIR/listener.log")") || fail "tty add tcp: $out"
port=$(echo "$out" | cut -d' ' -f2)
[ -c "$port" ] || fail "no port in: $out"
baseline=$(daemon_fds)
pppd_in t-a "$NS_A" "$port" "${MODEM_OPTS[@]}" 10.9.9.1:10.9.9.2; pa=$LAST_PID
wait_for 10 grep -q "sent \[LCP ConfReq" "$E2E_DIR/t-a.log" || fail "pppd did not start LCP on the TCP port"
"$CUSENETCTL" tty
kill -KILL "$listener"
wait "$listener" || true
hung_up t-a "$pa"
expect_idle
holds_no_more "$baseline"
log "PASS"
