#!/bin/bash
# Two unmodified vtund (Debian's package), server and client in their own
# network namespaces, each using the emulated /dev/net/tun: a tun and a tap
# tunnel, through seccomp injection and through bind-mounted FUSE files, or
# (E2E_FRONTEND=cuse, in the VM tier) straight through the CUSE devices.
# Ping crosses each tunnel and the daemon's counters show the packets.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd vtund "apt-get install vtun"
need_cmd ping "apt-get install iputils-ping"
start_daemon

# tunnel MODE TYPE LOCAL PEER: brings a tunnel up, pings across, tears down.
tunnel() {
  local mode=$1 type=$2 srv=$3 cli=$4 via=("$CUSENETCTL" run --)
  [ "$mode" = bind ] && via=("$CUSENETCTL" run --bind --)
  [ "$mode" = cuse ] && via=()
  log "vtund $type tunnel, $mode frontend"
  netns_pair "$mode$type"
  local sess="e2e$type"
  vtund_config "$E2E_DIR/server.conf" "$sess" "$type" "$srv" "$cli"
  vtund_config "$E2E_DIR/client.conf" "$sess" "$type" "$cli" "$srv"
  bg "server-$mode-$type" ip netns exec "$NS_A" "${via[@]}" vtund -n -s -f "$E2E_DIR/server.conf"
  local server=$LAST_PID
  wait_for 10 ip netns exec "$NS_A" sh -c "ss -ltn | grep -q :5000" || fail "vtund server did not listen"
  bg "client-$mode-$type" ip netns exec "$NS_B" "${via[@]}" \
    vtund -n -f "$E2E_DIR/client.conf" "$sess" 192.0.2.1
  local client=$LAST_PID
  wait_for 15 ip netns exec "$NS_B" ping -c1 -W1 "$srv" || fail "no ping across the $type tunnel ($mode)"
  ip netns exec "$NS_A" ping -c3 -i0.2 -W2 "$cli" >/dev/null || fail "no ping back across the $type tunnel"
  ip netns exec "$NS_B" ping -c3 -i0.2 -W2 -s 1200 "$srv" >/dev/null || fail "large pings lost ($type, $mode)"

  # The emulated interfaces carried the pings, counted as the kernel counts.
  local links; links=$("$CUSENETCTL" link -j)
  echo "$links"
  local n; n=$(echo "$links" | grep -o "\"kind\":\"$type\"" | wc -l)
  [ "$n" -eq 2 ] || fail "expected 2 emulated $type interfaces, daemon shows $n"
  for field in rx_packets tx_packets; do
    echo "$links" | grep -o "\"$field\":[0-9]*" | while IFS=: read -r _ v; do
      [ "$v" -ge 4 ] || fail "$field is $v on an emulated $type interface"
    done
  done

  kill -TERM "$client" "$server"
  wait "$client" "$server" 2>/dev/null || true
  wait_for 10 sh -c "[ \"\$($CUSENETCTL status -j | sed -n 's/.*\"tun_interfaces\":\([0-9]*\).*/\1/p')\" = 0 ]" \
    || fail "interfaces left after vtund exited: $("$CUSENETCTL" link)"
  for ns in "$NS_A" "$NS_B"; do ip netns del "$ns"; done
  E2E_NETNS=()
}

if [ "$E2E_FRONTEND" = cuse ]; then
  tunnel cuse tun 198.51.100.1 198.51.100.2
  tunnel cuse tap 203.0.113.1 203.0.113.2
else
  tunnel inject tun 198.51.100.1 198.51.100.2
  tunnel inject tap 203.0.113.1 203.0.113.2
  tunnel bind tun 198.51.100.1 198.51.100.2
  tunnel bind tap 203.0.113.1 203.0.113.2
fi
log "PASS"
