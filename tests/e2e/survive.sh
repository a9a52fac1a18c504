#!/bin/bash
# kill -9 of the daemon under supervised programs (issue 14, items 1 and 2).
# A supervised vtund pair, pppd pair and shell run when the daemon is
# killed: the shell's programs still start and open files (no ENOSYS from
# the trapped opens), an open of /dev/net/tun fails with ENODEV as for a
# driver that is gone (also in a process that outlived its launcher), the
# FUSE file it held fails instead of hanging, the vtund client's session
# ends and the server keeps listening, each pppd sees its tty (the daemon's
# port) hang up and runs its ip-down script to the end. A new daemon on the same run dir
# starts at once (the dead FUSE mount replaced, not stacked, while the
# shell still holds a file of it), the launchers hand their processes to
# it: the shell opens /dev/net/tun again, and the old vtund server carries
# a new session to a new supervised client. Then kill -9 and restart with
# no file open, and after a clean stop no mount is left in the run dir.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd vtund "apt-get install vtun"
need_cmd ping "apt-get install iputils-ping"
need_cmd python3 "apt-get install python3"
need_cmd pppd "apt-get install ppp"
[ -e /dev/ptmx ] || skip "no /dev/ptmx"
start_daemon

# mounts: the FUSE mounts in the run dir, one line each.
mounts() { grep -F " $CUSENET_RUN_DIR/" /proc/self/mountinfo || true; }

# kill9_daemon: the daemon killed, and reaped (cleanup must not see it).
kill9_daemon() {
  kill -KILL "$DAEMON_PID"
  wait "$DAEMON_PID" 2>/dev/null || true
  DAEMON_PID=""
}

# restart_daemon: a new daemon on the same run dir answers within 5 s, with
# exactly one mount there.
restart_daemon() {
  local t0=$SECONDS
  start_daemon
  [ $((SECONDS - t0)) -le 5 ] || fail "the new daemon took $((SECONDS - t0)) s to answer"
  ! grep -q "Transport endpoint" "$E2E_DIR/daemon.log" || fail "daemon: $(cat "$E2E_DIR/daemon.log")"
  local m; m=$(mounts)
  [ "$(grep -c . <<<"$m")" = 1 ] && grep -q " $CUSENET_RUN_DIR/dev " <<<"$m" \
    || fail "not one mount at $CUSENET_RUN_DIR/dev: $m"
}

# A supervised shell that runs each line "ID CMD" of its FIFO and answers
# "ID rc=RC OUTPUT" in prober.log; fd 3 is its own /dev/net/tun (a FUSE file).
cat >"$E2E_DIR/open_tun.py" <<'PY'
import errno, os
try:
    os.close(os.open("/dev/net/tun", os.O_RDWR))
    print("open ok")
except OSError as e:
    print("open " + errno.errorcode[e.errno])
PY
cat >"$E2E_DIR/read_fd3.py" <<'PY'
import errno, os
try:
    os.read(3, 2048)
    print("read ok")
except OSError as e:
    print("read " + errno.errorcode[e.errno])
PY
mkfifo "$E2E_DIR/prober.fifo"
exec 7<>"$E2E_DIR/prober.fifo"  # read-write: opens at once; the shell's end next
bg prober "$CUSENETCTL" run -- bash -c '
  exec 3<>/dev/net/tun <"$0" || exit 1
  while read -r id cmd; do out=$(eval "$cmd" 2>&1); echo "$id rc=$? $out"; done' "$E2E_DIR/prober.fifo"
PROBER=$LAST_PID
PROBES=0
# probe CMD...: CMD run by the supervised shell; its answer in $PROBE.
probe() {
  local id=$((++PROBES))
  echo "$id $*" >&7
  wait_for 15 grep -q "^$id " "$E2E_DIR/prober.log" || fail "the supervised shell hangs on: $*"
  PROBE=$(grep "^$id " "$E2E_DIR/prober.log" | cut -d' ' -f2-)
  log "probe: $* -> $PROBE"
}
probe readlink /proc/self/fd/3
grep -q "rc=0 .*/.carriers/" <<<"$PROBE" || fail "the shell's /dev/net/tun is not a FUSE carrier: $PROBE"

vtund_pair inject tun 198.51.100.1 198.51.100.2
server_launcher=$VTUND_SERVER

# A supervised pppd pair over a null-modem pair of the daemon's ports.
netns pa; NS_PA=$NS; netns pb; NS_PB=$NS
null_modem
pppd_in ppp-a "$NS_PA" "$PTY_A" "${PPPD_OPTS[@]}" 10.9.7.1:10.9.7.2; ppp_a=$LAST_PID
pppd_in ppp-b "$NS_PB" "$PTY_B" "${PPPD_OPTS[@]}" 10.9.7.2:10.9.7.1; ppp_b=$LAST_PID
up "$NS_PA" ppp0 10.9.7.1
up "$NS_PB" ppp0 10.9.7.2

# A process that outlives its `cusenetctl run` (gone to the background),
# waiting for the go file: the launcher returned, a copy of it watches on.
out=$("$CUSENETCTL" run -- sh -c "(for i in \$(seq 300); do [ -e $E2E_DIR/go ] && break; sleep 0.1; done
  [ -e $E2E_DIR/go ] && python3 $E2E_DIR/open_tun.py) >$E2E_DIR/orphan.out 2>&1 & echo started")
[ "$out" = started ] || fail "a launcher whose program went to the background: $out"
log "kill -9 of the daemon with the shell, the vtund pair and the pppd pair supervised"
kill9_daemon
probe /bin/true
[ "$PROBE" = "rc=0 " ] || fail "/bin/true under supervision: $PROBE"
probe ls -d /etc
[ "$PROBE" = "rc=0 /etc" ] || fail "ls under supervision: $PROBE"
probe head -c0 /etc/passwd
[ "$PROBE" = "rc=0 " ] || fail "open of a file under supervision: $PROBE"
probe python3 "$E2E_DIR/open_tun.py"
[ "$PROBE" = "rc=0 open ENODEV" ] || fail "/dev/net/tun without a daemon: $PROBE"
probe python3 "$E2E_DIR/read_fd3.py"
grep -Eq "^rc=0 read (ENOTCONN|EIO|ENODEV)$" <<<"$PROBE" || fail "read of the dead daemon's FUSE file: $PROBE"
grep -q "cusenetd is gone" "$E2E_DIR/prober.log" || fail "the launcher did not say the daemon is gone"
touch "$E2E_DIR/go"
wait_for 15 grep -q . "$E2E_DIR/orphan.out" || fail "the background process hangs"
[ "$(cat "$E2E_DIR/orphan.out")" = "open ENODEV" ] || fail "the background process: $(cat "$E2E_DIR/orphan.out")"

# The client's tun (a socket carrier) ends: its session ends, and with
# `persist no` the client exits; the server's session process too.
wait_for 20 sh -c "! kill -0 $VTUND_CLIENT" || fail "the vtund client outlived its tun by 20 s"
wait "$VTUND_CLIENT" 2>/dev/null || true
kill -0 "$server_launcher" || fail "the vtund server exited: $(cat "$E2E_DIR"/server-*.log)"
wait_for 10 ip netns exec "$NS_A" sh -c "ss -ltn | grep -q :5000" || fail "the vtund server stopped listening"
# The ports went with the daemon: each pppd sees its tty hang up, ends the
# link, runs its ip-down script (trapped opens, continued) and exits.
for p in ppp-a:$ppp_a ppp-b:$ppp_b; do
  wait_for 20 sh -c "! kill -0 ${p#*:}" || fail "${p%%:*} outlived the daemon by 20 s: $(cat "$E2E_DIR/${p%%:*}.log")"
  wait "${p#*:}" 2>/dev/null || true
  grep -q "Script /etc/ppp/ip-down finished.*status = 0x0" "$E2E_DIR/${p%%:*}.log" \
    || fail "${p%%:*} did not run ip-down cleanly: $(cat "$E2E_DIR/${p%%:*}.log")"
done
for f in "$E2E_DIR"/server-*.log "$E2E_DIR"/client-*.log "$E2E_DIR"/ppp-*.log "$E2E_DIR/prober.log"; do
  ! grep -Eq "Error 38|Function not implemented" "$f" || fail "ENOSYS in $f: $(cat "$f")"
done

log "a new daemon on the same run dir, the shell holding a file of the dead mount"
restart_daemon
wait_for 10 grep -q "cusenetd is back" "$E2E_DIR/prober.log" || fail "the shell's launcher did not find the new daemon"
probe python3 "$E2E_DIR/open_tun.py"
[ "$PROBE" = "rc=0 open ok" ] || fail "/dev/net/tun with the new daemon: $PROBE"
probe /bin/true
[ "$PROBE" = "rc=0 " ] || fail "/bin/true under the new daemon: $PROBE"
# The old server, now served by the new daemon, carries a new session to a
# new supervised client.
bg client-again ip netns exec "$NS_B" "$CUSENETCTL" run -- \
  vtund -n -f "$E2E_DIR/client.conf" e2etun 192.0.2.1
VTUND_CLIENT=$LAST_PID
wait_for 15 tunnel_up "$NS_A" || fail "the old server's interface did not come up again"
wait_for 15 tunnel_up "$NS_B" || fail "the new client's interface did not come up"
wait_for 15 ip netns exec "$NS_B" ping -c1 -W1 198.51.100.1 || fail "no ping across the new session"
log "the old vtund server carries a new session through the new daemon"
vtund_pair_stop
# SIGTERM through its launcher (every process started since holds the FIFO).
kill -TERM "$PROBER"
wait "$PROBER" || [ $? = 143 ] || fail "the supervised shell's launcher did not end on SIGTERM"
exec 7>&-

log "kill -9 and a new daemon with no file open"
wait_for 10 sh -c "[ \"\$($CUSENETCTL status -j | sed -n 's/.*\"injected_files\":\([0-9]*\).*/\1/p')\" = 0 ]" \
  || fail "files left open: $("$CUSENETCTL" status)"
kill9_daemon
restart_daemon
out=$("$CUSENETCTL" run -- python3 "$E2E_DIR/open_tun.py" 2>&1) || true
[ "$out" = "open ok" ] || fail "a new supervised program with the new daemon: $out"

log "clean stop: no mount left"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || fail "cusenetd exited with $? on SIGTERM"
DAEMON_PID=""
[ -z "$(mounts)" ] || fail "mounts left after a clean stop: $(mounts)"
log "PASS"
