#!/bin/bash
# Two unmodified pppd (Debian's 2.4.9), each in its own network namespace,
# through the emulated /dev/ppp and N_PPP run by the daemon over their ttys
# (`cusenetctl run`): over a null-modem pair of emulated ports reached
# through kernel ptys, with Debian's default compression (VJ, Deflate, BSD);
# with `mru 296 asyncmap 0xa0000`; in `pty "cmd"` mode running the peer in
# `notty` mode; two links bundled with `multilink`. LCP and IPCP complete,
# ping crosses both ways, SIGTERM ends both cleanly. On the first link, a
# subscriber to the daemon's link events (`cusenetctl monitor -j`) in one
# pppd's namespace sees ppp0 appear, come up (IFF_UP, LOWER_UP, operstate
# UP) and go down and away when pppd stops, and a capture of ppp0
# (`cusenetctl capture`, DLT_PPP) is read back by Debian's tcpdump with the
# pings it carried, and Debian's pppstats, supervised, reads ppp0's counters
# and its compressors' (SIOCGPPPSTATS, SIOCGPPPCSTATS: the kernel's ppp0 is a
# TUN device, the daemon answers); no supervised pppd fails to read its
# link's statistics. Then kill -9 of one:
# the other sees the link drop by LCP echo, the daemon stays healthy and
# holds nothing of them. A port whose far end is a kernel pty carries pppd
# to a peer pppd on that pty. Last, a null-modem pair paced at the 4800 baud pppd
# sets: a ping takes as long as the line needs to carry it.
# With E2E_FRONTEND=cuse (the VM tier), pppd runs unsupervised on the
# daemon's CUSE devices: /dev/ttyVP<n> as its tty, the daemon's /dev/ppp.
# The `pty` and `multilink` cases need supervision (pppd's own pty is a
# kernel tty) or nothing CUSE-specific, and run on the host only.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd pppd "apt-get install ppp"
need_cmd ping "apt-get install iputils-ping"
need_cmd tcpdump "apt-get install tcpdump"
[ -e /dev/ptmx ] || skip "no /dev/ptmx"
start_daemon

# stop_clean NAME:PID [PEER:PID]: SIGTERM to the first, which terminates the
# link (TermReq) and exits as pppd does for a signal (5); the peer, told by
# that TermReq, ends by itself.
stop_clean() {
  local name=${1%%:*} pid=${1#*:} rc=0
  kill -TERM "$pid"
  wait "$pid" || rc=$?
  [ "$rc" = 5 ] || fail "$name exited with $rc on SIGTERM (pppd's is 5)"
  grep -q "Connection terminated" "$E2E_DIR/$name.log" || fail "$name did not terminate the link"
  [ $# -gt 1 ] || return 0
  name=${2%%:*} pid=${2#*:}
  wait_for 10 sh -c "! kill -0 $pid" || fail "$name did not end after its peer's TermReq"
  wait "$pid" || true
  grep -q "LCP terminated by peer" "$E2E_DIR/$name.log" || fail "$name did not see the peer terminate"
}

# check_link_events FILE IFNAME: the monitor's events for IFNAME, in order:
# it appears down without carrier (no channel yet), is up with carrier and
# operstate UP once IPCP has configured it, then is down (admin down or
# carrier lost) and finally deleted.
check_link_events() {
  local file=$1 ifname=$2 events
  events=$(grep "\"ifname\":\"$ifname\"" "$file") || fail "no events for $ifname: $(cat "$file")"
  echo "$events"
  # at N PATTERN: the number of the first event from the Nth on matching PATTERN.
  at() {
    local k; k=$(tail -n +"$1" <<<"$events" | grep -n -m1 -- "$2" | cut -d: -f1)
    [ -z "$k" ] || echo $(($1 + k - 1))
  }
  local first up down del
  first=$(head -n1 <<<"$events")
  grep -q '"event":"NEWLINK".*"flags":\[\].*"operstate":"DOWN".*"kind":"ppp","carrier":false' <<<"$first" \
    || fail "$ifname did not appear down without carrier: $first"
  up=$(at 1 '"event":"NEWLINK".*"flags":\["UP","LOWER_UP","RUNNING"\].*"operstate":"UP".*"link_type":"ppp","kind":"ppp","carrier":true')
  [ -n "$up" ] || fail "$ifname never came up with carrier"
  down=$(at $((up + 1)) '"event":"NEWLINK".*"operstate":"DOWN"')
  [ -n "$down" ] || fail "$ifname did not go down after it was up"
  del=$(at $((down + 1)) '"event":"DELLINK"')
  [ -n "$del" ] && [ "$del" = "$(wc -l <<<"$events")" ] || fail "$ifname was not deleted last"
  log "$ifname: appeared, up at event $up, down at $down, deleted at $del"
}

# check_ppp_capture FILE LOCAL PEER: Debian's tcpdump reads the DLT_PPP
# capture of ping_both's pings at both sizes, both ways, each with its reply.
check_ppp_capture() {
  local file=$1 a=$2 b=$3 dump size
  dump=$(tcpdump -n -r "$file" 2>&1) || fail "tcpdump -r $file: $dump"
  grep -q "^reading from file $file, link-type PPP " <<<"$dump" || fail "link type is not PPP: $dump"
  count() { grep -c "IP $1 > $2: ICMP echo $3, .*, length $4\$" <<<"$dump" || true; }
  for size in 64 1408; do
    [ "$(count "$a" "$b" request $size)" = 3 ] || fail "captured requests $a -> $b ($size): $dump"
    [ "$(count "$b" "$a" reply $size)" = 3 ] || fail "captured replies $b -> $a ($size): $dump"
    [ "$(count "$b" "$a" request $size)" = 3 ] || fail "captured requests $b -> $a ($size): $dump"
    [ "$(count "$a" "$b" reply $size)" = 3 ] || fail "captured replies $a -> $b ($size): $dump"
  done
  log "$(grep -c ICMP <<<"$dump") ICMP frames read back by tcpdump (PPP)"
}

ping_both() {  # ping_both NS_A ADDR_A NS_B ADDR_B [SIZE]
  ip netns exec "$1" ping -c3 -i0.2 -W2 -s "${5:-56}" "$4" >/dev/null || fail "no ping $2 -> $4"
  ip netns exec "$3" ping -c3 -i0.2 -W2 -s "${5:-56}" "$2" >/dev/null || fail "no ping $4 -> $2"
}

log "device mode over a null-modem pair, default compression"
netns a; NS_A=$NS; netns b; NS_B=$NS
null_modem
"$CUSENETCTL" tty
bg monitor-a ip netns exec "$NS_A" "$CUSENETCTL" monitor -j; monitor=$LAST_PID
wait_for 5 grep -q "monitoring link events" "$E2E_DIR/monitor-a.log" || fail "monitor did not start"
pppd_in dev-a "$NS_A" "$PTY_A" "${PPPD_OPTS[@]}" unit 0 10.9.0.1:10.9.0.2; pa=$LAST_PID
pppd_in dev-b "$NS_B" "$PTY_B" "${PPPD_OPTS[@]}" unit 1 10.9.0.2:10.9.0.1; pb=$LAST_PID
up "$NS_A" ppp0 10.9.0.1
up "$NS_B" ppp1 10.9.0.2
bg capture-a ip netns exec "$NS_A" "$CUSENETCTL" capture -i ppp0 -w "$E2E_DIR/ppp0.pcap"; capture=$LAST_PID
wait_for 5 grep -q "listening on ppp0 .*link-type PPP" "$E2E_DIR/capture-a.log" || fail "capture did not start"
ping_both "$NS_A" 10.9.0.1 "$NS_B" 10.9.0.2
ping_both "$NS_A" 10.9.0.1 "$NS_B" 10.9.0.2 1400
kill -INT "$capture"
wait "$capture" || fail "capture exited with $?: $(cat "$E2E_DIR/capture-a.log")"
check_ppp_capture "$E2E_DIR/ppp0.pcap" 10.9.0.1 10.9.0.2
if [ "$E2E_FRONTEND" != cuse ]; then
  # pppstats asks ppp0 (a kernel TUN device) for SIOCGPPPSTATS and
  # SIOCGPPPCSTATS on an ordinary socket: under supervision the daemon
  # answers with the unit's counters.
  stats=$(ip netns exec "$NS_A" "$CUSENETCTL" run -- pppstats ppp0 2>&1) || fail "pppstats: $stats"
  echo "$stats"
  # IN PACK VJCOMP VJUNC VJERR | OUT PACK VJCOMP VJUNC NON-VJ
  sed -n 2p <<<"$stats" | awk '{ exit !($1 + 0 > 0 && $2 >= 12 && $6 == "|" && $7 + 0 > 0 && $8 >= 12) }' \
    || fail "pppstats shows no traffic after the pings: $stats"
  cstats=$(ip netns exec "$NS_A" "$CUSENETCTL" run -- pppstats -z ppp0 2>&1) || fail "pppstats -z: $cstats"
  echo "$cstats"
  # Under two header lines, the methods' counters (compressed bytes in, |,
  # out): Deflate or BSD-Compress ran both ways.
  sed -n 3p <<<"$cstats" | awk '{ exit !($1 + 0 > 0 && $6 == "|" && $7 + 0 > 0) }' \
    || fail "pppstats -z shows no compression: $cstats"
fi
ip netns exec "$NS_A" "$CUSENETCTL" link
ip netns exec "$NS_A" "$CUSENETCTL" link -j \
  | grep -q '"ifname":"ppp0","flags":\["UP","LOWER_UP","RUNNING"\],"mtu":1500,"operstate":"UP"' \
  || fail "cusenetctl link does not show ppp0 up: $(ip netns exec "$NS_A" "$CUSENETCTL" link)"
grep -q "compress VJ" "$E2E_DIR/dev-a.log" || fail "VJ was not negotiated"
grep -Eq "(Deflate|BSD-Compress).*compression enabled" "$E2E_DIR/dev-a.log" \
  || fail "no CCP method was enabled"
# Behind a pty too, the discipline set on its slave runs on the port itself.
[ "$("$CUSENETCTL" tty -j | grep -o '"ldisc":3' | wc -l)" = 2 ] \
  || fail "N_PPP is not on both ports: $("$CUSENETCTL" tty)"
if [ "$E2E_FRONTEND" != cuse ]; then
  "$CUSENETCTL" tty -j | grep -q '"kernel_ttys":2' || fail "N_PPP is not on both ttys: $("$CUSENETCTL" tty)"
fi
"$CUSENETCTL" ppp
stop_clean dev-a:"$pa" dev-b:"$pb"
if [ "$E2E_FRONTEND" != cuse ]; then
  # pppd's own SIOCGPPPSTATS when the link ends.
  grep -Eq "Sent [1-9][0-9]* bytes, received [1-9][0-9]* bytes" "$E2E_DIR/dev-a.log" \
    || fail "pppd did not report the link's traffic: $(grep -i statistics "$E2E_DIR/dev-a.log")"
fi
ip -n "$NS_A" link show ppp0 >/dev/null 2>&1 && fail "ppp0 left in $NS_A"
ip -n "$NS_B" link show ppp1 >/dev/null 2>&1 && fail "ppp1 left in $NS_B"
wait_for 5 grep -q '"event":"DELLINK".*"ifname":"ppp0"' "$E2E_DIR/monitor-a.log" \
  || fail "the monitor did not see ppp0 go: $(cat "$E2E_DIR/monitor-a.log")"
kill -TERM "$monitor"  # not INT: a background job of a script ignores it
wait "$monitor" || true
check_link_events "$E2E_DIR/monitor-a.log" ppp0
expect_idle

log "mru 296 asyncmap 0xa0000"
pppd_in mru-a "$NS_A" "$PTY_A" "${PPPD_OPTS[@]}" mru 296 asyncmap 0xa0000 10.9.1.1:10.9.1.2; pa=$LAST_PID
pppd_in mru-b "$NS_B" "$PTY_B" "${PPPD_OPTS[@]}" 10.9.1.2:10.9.1.1; pb=$LAST_PID
up "$NS_A" ppp0 10.9.1.1
up "$NS_B" ppp0 10.9.1.2
grep -q "asyncmap 0xa0000" "$E2E_DIR/mru-a.log" || fail "asyncmap not requested"
ip -n "$NS_B" link show ppp0 | grep -q "mtu 296" || fail "peer's MTU is not 296: $(ip -n "$NS_B" link show ppp0)"
ping_both "$NS_A" 10.9.1.1 "$NS_B" 10.9.1.2
ping_both "$NS_A" 10.9.1.1 "$NS_B" 10.9.1.2 1000
stop_clean mru-a:"$pa" mru-b:"$pb"
expect_idle

if [ "$E2E_FRONTEND" != cuse ]; then
  log "pty \"cmd\" mode, the peer pppd in notty mode as the command"
  peer="ip netns exec $NS_B $CUSENETCTL run -- pppd notty ${PPPD_OPTS[*]} 10.9.2.2:10.9.2.1"
  pppd_in pty-a "$NS_A" pty "$peer" "${PPPD_OPTS[@]}" 10.9.2.1:10.9.2.2; pa=$LAST_PID
  up "$NS_A" ppp0 10.9.2.1
  up "$NS_B" ppp0 10.9.2.2
  ping_both "$NS_A" 10.9.2.1 "$NS_B" 10.9.2.2
  stop_clean pty-a:"$pa"
  wait_for 10 sh -c "! ip -n $NS_B link show ppp0" || fail "the notty peer's ppp0 stayed"
  expect_idle

  log "multilink over two null-modem pairs"
  null_modem; A1=$PTY_A B1=$PTY_B
  null_modem; A2=$PTY_A B2=$PTY_B
  # Both sides share the host's /var/run/pppd2.tdb, where pppd finds bundles
  # by interface name too: the sides' units differ (ppp0, ppp1).
  ml=(multilink mrru 1500 "${PPPD_OPTS[@]}")
  pppd_in ml-a1 "$NS_A" "$A1" "${ml[@]}" unit 0 endpoint local:aaaa 10.9.3.1:10.9.3.2; a1=$LAST_PID
  pppd_in ml-b1 "$NS_B" "$B1" "${ml[@]}" unit 1 endpoint local:bbbb 10.9.3.2:10.9.3.1; b1=$LAST_PID
  up "$NS_A" ppp0 10.9.3.1
  up "$NS_B" ppp1 10.9.3.2
  pppd_in ml-a2 "$NS_A" "$A2" "${ml[@]}" unit 0 endpoint local:aaaa 10.9.3.1:10.9.3.2; a2=$LAST_PID
  pppd_in ml-b2 "$NS_B" "$B2" "${ml[@]}" unit 1 endpoint local:bbbb 10.9.3.2:10.9.3.1; b2=$LAST_PID
  wait_for 20 grep -q "Link attached to ppp0" "$E2E_DIR/ml-a2.log" || fail "second link did not join the bundle"
  wait_for 20 grep -q "Link attached to ppp1" "$E2E_DIR/ml-b2.log" || fail "peer's second link did not join"
  "$CUSENETCTL" ppp
  "$CUSENETCTL" ppp -j | grep -q '"channels":\[[0-9]*,[0-9]*\]' || fail "no unit with two channels"
  ping_both "$NS_A" 10.9.3.1 "$NS_B" 10.9.3.2 1400
  for p in "$a2" "$b2"; do kill -TERM "$p"; wait "$p" || true; done
  # A bundle's master outlives its link terminated by the peer; on SIGTERM it
  # ends with the status that termination left (not 5).
  stop_clean ml-a1:"$a1"
  grep -q "LCP terminated by peer" "$E2E_DIR/ml-b1.log" || fail "ml-b1 did not see the peer terminate"
  kill -TERM "$b1"
  wait "$b1" || true
  grep -q "Connection terminated" "$E2E_DIR/ml-b1.log" || fail "ml-b1 did not end its bundle"
  expect_idle
fi

log "a port whose far end is a kernel pty: pppd on the port, a peer pppd on the pty"
out=$("$CUSENETCTL" tty add pty) || fail "tty add pty: $out"
port=$(echo "$out" | cut -d' ' -f2)
far=$(echo "$out" | sed -n 's/.* far \(.*\)/\1/p')
[ -c "$port" ] && [ -c "$far" ] || fail "no port and far pty in: $out"
"$CUSENETCTL" tty | grep -q "far pty $far" || fail "the far end is not shown: $("$CUSENETCTL" tty)"
pppd_in far-a "$NS_A" "$port" "${PPPD_OPTS[@]}" 10.9.6.1:10.9.6.2; pa=$LAST_PID
# The pty's slave is a kernel tty like any other: its pppd runs N_PPP there
# through supervision on either frontend.
bg far-b ip netns exec "$NS_B" "$CUSENETCTL" run -- pppd "$far" "${PPPD_OPTS[@]}" 10.9.6.2:10.9.6.1; pb=$LAST_PID
up "$NS_A" ppp0 10.9.6.1
up "$NS_B" ppp0 10.9.6.2
ping_both "$NS_A" 10.9.6.1 "$NS_B" 10.9.6.2
stop_clean far-a:"$pa" far-b:"$pb"
expect_idle

log "kill -9 of one pppd"
baseline=$(daemon_fds)
pppd_in k9-a "$NS_A" "$PTY_A" "${PPPD_OPTS[@]}" 10.9.4.1:10.9.4.2; pa=$LAST_PID
pppd_in k9-b "$NS_B" "$PTY_B" "${PPPD_OPTS[@]}" 10.9.4.2:10.9.4.1; pb=$LAST_PID
up "$NS_A" ppp0 10.9.4.1
up "$NS_B" ppp0 10.9.4.2
ping_both "$NS_A" 10.9.4.1 "$NS_B" 10.9.4.2
if [ "$E2E_FRONTEND" = cuse ]; then
  victim=$pa
else
  victim=$(pgrep -P "$pa" -x pppd) || fail "no pppd under launcher $pa"
fi
kill -KILL "$victim"
wait "$pa" || true
rc=0
wait "$pb" || rc=$?
grep -Eq "No response to 3 echo-requests|Modem hangup" "$E2E_DIR/k9-b.log" \
  || fail "the peer did not see the link drop"
log "peer pppd exited with $rc after the link dropped"
"$CUSENETCTL" status >/dev/null || fail "daemon stopped answering"
expect_idle
wait_for 10 sh -c "[ \$(ls /proc/$DAEMON_PID/fd | wc -l) -le $baseline ]" \
  || fail "daemon holds $(daemon_fds) descriptors, $baseline before"
log "a 4800-baud line (--baud-emulation): the rate pppd sets"
# Ports start at 9600: pppd's own `4800` must reach them, on a CUSE port
# directly, behind a pty through its slave. No CCP: compressed pings would
# cross faster than their size says.
null_modem --baud-emulation
pppd_in slow-a "$NS_A" "$PTY_A" 4800 "${PPPD_OPTS[@]}" noccp 10.9.5.1:10.9.5.2; pa=$LAST_PID
pppd_in slow-b "$NS_B" "$PTY_B" 4800 "${PPPD_OPTS[@]}" noccp 10.9.5.2:10.9.5.1; pb=$LAST_PID
up "$NS_A" ppp0 10.9.5.1
up "$NS_B" ppp0 10.9.5.2
rtt=$(ip netns exec "$NS_A" ping -c3 -i0.5 -W5 10.9.5.2 | sed -n 's|^rtt [^=]*= \([0-9.]*\)/.*|\1|p')
[ -n "$rtt" ] || fail "no ping across the 4800-baud line"
"$CUSENETCTL" tty
# 84 bytes of IP each way, 10 bits a byte at 4800 baud: 350 ms at the least.
awk -v r="$rtt" 'BEGIN { exit !(r >= 350) }' || fail "ping took $rtt ms: faster than 4800 baud"
log "ping round trip $rtt ms at 4800 baud"
[ "$("$CUSENETCTL" tty -j | grep -o '"baud":4800,"bits":10,"paced":true,"paced_chars":[1-9]' | wc -l)" = 2 ] \
  || fail "the ports are not paced at 4800: $("$CUSENETCTL" tty -j)"
stop_clean slow-a:"$pa" slow-b:"$pb"
expect_idle
if [ "$E2E_FRONTEND" != cuse ]; then
  # Supervised, no pppd met a link whose statistics were not served. (A
  # pppd stopping on a signal may see EINTR instead: the signal came while
  # its trapped ioctl waited for the daemon, which seccomp cannot hold off;
  # that is issue 14's "never EINTR where the kernel would not", not this.)
  ! grep -l "Couldn't get PPP statistics: Operation not supported" "$E2E_DIR"/*.log \
    || fail "pppd could not read ppp statistics: $(grep -h "Couldn't get PPP statistics" "$E2E_DIR"/*.log)"
fi
log "PASS"
