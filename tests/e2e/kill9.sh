#!/bin/bash
# kill -9 of vtund mid-traffic: its interface goes away (a persistent one
# stays), the daemon keeps serving, and nothing leaks: descriptors return to
# their baseline, every live-object counter returns to zero, and a daemon
# built with ASan exits without a leak report.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd vtund "apt-get install vtun"
need_cmd ping "apt-get install iputils-ping"
start_daemon

expect_status() {  # expect_status FIELD VALUE
  wait_for 10 sh -c "[ \"\$($CUSENETCTL status -j | sed -n 's/.*\"$1\":\([0-9]*\).*/\1/p')\" = $2 ]" \
    || fail "$1 is not $2: $("$CUSENETCTL" status)"
}

baseline=$(daemon_fds)
log "daemon holds $baseline descriptors at rest"

for round in 1 2 3; do
  log "round $round: vtund pair with traffic, then kill -9"
  vtund_pair inject tun 198.51.100.1 198.51.100.2
  bg flood ip netns exec "$NS_B" ping -i 0.002 -s 1000 198.51.100.1
  sleep 1
  # The vtund processes themselves, not the launchers: pids inside NS_B/NS_A.
  # The client dies mid-traffic: its interface goes (the server's session
  # then ends too, as the TCP connection drops).
  ip netns pids "$NS_B" | xargs -r kill -KILL
  wait_for 10 sh -c "! ip -n $NS_B link show tun0" || fail "tun0 outlived the kill -9 of its vtund"
  ip netns pids "$NS_A" | xargs -r kill -KILL
  expect_status tun_interfaces 0
  expect_status tun_files 0
  expect_status injected_files 0
  expect_status supervised 0
  netns_pair_del
done

log "a persistent interface survives kill -9 of its creator"
ip netns add "$E2E_TAG-p"; E2E_NETNS+=("$E2E_TAG-p")
bg holder ip netns exec "$E2E_TAG-p" "$CUSENETCTL" run -- python3 -c '
import fcntl, os, struct, time
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH22x", b"cnpersist", 0x1001))
fcntl.ioctl(fd, 0x400454cb, 1)
print("ready", flush=True)
time.sleep(60)'
wait_for 10 grep -q ready "$E2E_DIR/holder.log" || fail "persistent holder did not start"
ip netns pids "$E2E_TAG-p" | xargs -r kill -KILL
expect_status tun_files 0
# No file attached: carrier off, as the kernel leaves a persistent tun.
# (Here-strings, not pipes: grep -q may close a pipe early, and pipefail
# would count its writer's SIGPIPE as a failure.)
links=$(ip netns exec "$E2E_TAG-p" "$CUSENETCTL" link)
grep -q '^[0-9]*: cnpersist: <> mtu 1500 state DOWN' <<<"$links" || fail "persistent interface vanished: $links"
grep -q 'carrier off' <<<"$links" || fail "persistent interface kept its carrier: $links"
tun_view=$("$CUSENETCTL" tun)
grep -q '^cnpersist:.*persist' <<<"$tun_view" || fail "not persistent: $tun_view"
ip -n "$E2E_TAG-p" link show cnpersist >/dev/null || fail "kernel side of the persistent interface vanished"
ip netns exec "$E2E_TAG-p" "$CUSENETCTL" run -- ip tuntap del dev cnpersist mode tun \
  || fail "ip tuntap del failed on the emulated device"
expect_status tun_interfaces 0

now=$(daemon_fds)
[ "$now" -eq "$baseline" ] || fail "daemon descriptors: $baseline at rest, $now after the rounds"
"$CUSENETCTL" status >/dev/null || fail "daemon stopped answering"
log "PASS: descriptors $now = baseline, no live objects left"
