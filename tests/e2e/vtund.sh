#!/bin/bash
# Two unmodified vtund (Debian's package), server and client in their own
# network namespaces, each using the emulated /dev/net/tun: a tun and a tap
# tunnel, through seccomp injection (a socket carries the frames, or with
# `run --exact` the FUSE file) and through bind-mounted FUSE files, or
# (E2E_FRONTEND=cuse, in the VM tier) straight through the CUSE devices.
# Ping crosses each tunnel, the daemon's counters and operstate show it, and
# a capture of the client's interface is read back by Debian's tcpdump.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd vtund "apt-get install vtun"
need_cmd ping "apt-get install iputils-ping"
need_cmd tcpdump "apt-get install tcpdump"
start_daemon

# check_capture FILE TYPE SERVER CLIENT: Debian's tcpdump reads the pcap
# written on the client's interface with the interface's link type, and finds
# exactly the pings of the capture window: 3 from the server, 3 large ones
# from the client, each with its reply.
check_capture() {
  local file=$1 type=$2 srv=$3 cli=$4 lt="RAW" dump
  [ "$type" = tap ] && lt="EN10MB"
  dump=$(tcpdump -n -r "$file" 2>&1) || fail "tcpdump -r $file: $dump"
  grep -q "^reading from file $file, link-type $lt " <<<"$dump" || fail "link type is not $lt: $dump"
  count() { grep -c "IP $1 > $2: ICMP echo $3, .*, length $4\$" <<<"$dump" || true; }
  [ "$(count "$srv" "$cli" request 64)" = 3 ] || fail "captured requests from $srv: $dump"
  [ "$(count "$cli" "$srv" reply 64)" = 3 ] || fail "captured replies to $srv: $dump"
  [ "$(count "$cli" "$srv" request 1208)" = 3 ] || fail "captured large requests from $cli: $dump"
  [ "$(count "$srv" "$cli" reply 1208)" = 3 ] || fail "captured large replies to $cli: $dump"
  log "$(echo "$dump" | grep -c ICMP) ICMP frames read back by tcpdump ($lt)"
}

# tunnel MODE TYPE LOCAL PEER: brings a tunnel up, pings across, tears down.
tunnel() {
  local mode=$1 type=$2 srv=$3 cli=$4
  log "vtund $type tunnel, $mode frontend"
  vtund_pair "$mode" "$type" "$srv" "$cli"

  # Capture on the client's emulated interface while pinging both ways.
  local ifname; ifname=$(ip netns exec "$NS_B" "$CUSENETCTL" link -j | sed -n 's/^\[{"ifindex":[0-9]*,"ifname":"\([^"]*\)".*/\1/p')
  [ -n "$ifname" ] || fail "cusenetctl link shows no interface in $NS_B"
  local pcap="$E2E_DIR/$mode$type.pcap"
  bg "capture-$mode-$type" ip netns exec "$NS_B" "$CUSENETCTL" capture -i "$ifname" -w "$pcap"
  local capture=$LAST_PID
  wait_for 5 grep -q "listening on" "$E2E_DIR/capture-$mode-$type.log" || fail "capture did not start"

  ip netns exec "$NS_A" ping -c3 -i0.2 -W2 "$cli" >/dev/null || fail "no ping back across the $type tunnel"
  ip netns exec "$NS_B" ping -c3 -i0.2 -W2 -s 1200 "$srv" >/dev/null || fail "large pings lost ($type, $mode)"

  kill -INT "$capture"
  wait "$capture" || fail "capture exited with $?: $(cat "$E2E_DIR/capture-$mode-$type.log")"
  check_capture "$pcap" "$type" "$srv" "$cli"

  # The emulated interfaces carried the pings, counted as the kernel counts,
  # and show the state the kernel shows for a tun/tap in use.
  local link_type=none; [ "$type" = tap ] && link_type=ether
  for ns in "$NS_A" "$NS_B"; do
    local links; links=$(ip netns exec "$ns" "$CUSENETCTL" link -j)
    echo "$links"
    local n; n=$(echo "$links" | grep -o "\"link_type\":\"$link_type\"" | wc -l)
    [ "$n" -eq 1 ] || fail "expected 1 emulated $type interface in $ns, the daemon shows $n"
    grep -q '"flags":\["UP","LOWER_UP","RUNNING"\],"mtu":[0-9]*,"operstate":"UNKNOWN"' <<<"$links" \
      || fail "the $type interface in $ns is not up and running"
    echo "$links" | grep -o '"packets":[0-9]*' | while IFS=: read -r _ v; do
      [ "$v" -ge 4 ] || fail "a packet counter is $v on an emulated $type interface"
    done
  done

  vtund_pair_stop
  wait_for 10 sh -c "[ \"\$($CUSENETCTL status -j | sed -n 's/.*\"tun_interfaces\":\([0-9]*\).*/\1/p')\" = 0 ]" \
    || fail "interfaces left after vtund exited: $("$CUSENETCTL" status)"
  netns_pair_del
}

if [ "$E2E_FRONTEND" = cuse ]; then
  tunnel cuse tun 198.51.100.1 198.51.100.2
  tunnel cuse tap 203.0.113.1 203.0.113.2
else
  tunnel inject tun 198.51.100.1 198.51.100.2
  tunnel inject tap 203.0.113.1 203.0.113.2
  tunnel exact tun 198.51.100.1 198.51.100.2
  tunnel bind tun 198.51.100.1 198.51.100.2
  tunnel bind tap 203.0.113.1 203.0.113.2
fi
log "PASS"
