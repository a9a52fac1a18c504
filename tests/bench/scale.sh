#!/bin/bash
# Scale of the daemon: resident memory per PPP unit, per emulated tty port
# and per PPP channel (cusenetd's VmRSS before and after creating N of them),
# then the time to bring up PAIRS pairs of unmodified pppd over null-modem
# pairs of emulated ports (every pair's IPCP done and both interfaces up),
# and the memory per pair. Every namespace and process goes on exit (the e2e
# library's trap), pass or fail.
#   tests/bench/scale.sh [PAIRS] [--json FILE]    (root; $CUSENETD, $CUSENETCTL)
. "$(dirname "$0")/../e2e/lib.sh"
pairs=200 json=""
while [ $# -gt 0 ]; do
  case $1 in
    --json) json=$2; shift 2 ;;
    *) pairs=$1; shift ;;
  esac
done
need_root
need_cmd pppd "apt-get install ppp"
need_cmd python3 "apt-get install python3"
[ -e /dev/ptmx ] || skip "no /dev/ptmx"
units=100 ports=100  # ports: 50 null-modem pairs, one channel on each port

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$DAEMON_PID/status"; }
start_daemon --log-level warning

# holder NAME NS SCRIPT ARGS...: a supervised python3 that runs SCRIPT, then
# says "ready" and holds what it made until killed.
holder() {
  local name=$1 ns=$2 script=$3; shift 3
  bg "$name" ip netns exec "$ns" "$CUSENETCTL" run -- python3 -c "$script" "$@"
  wait_for 60 grep -q ready "$E2E_DIR/$name.log" || fail "$name: $(cat "$E2E_DIR/$name.log")"
}

# PPPIOCNEWUNIT: _IOWR('t', 62, int); TIOCSETD with N_PPP (3).
UNITS='
import fcntl, struct, sys, time
fds = []
for i in range(int(sys.argv[1])):
    fd = open("/dev/ppp", "r+b", buffering=0)
    fcntl.ioctl(fd, 0xc004743e, struct.pack("i", -1))
    fds.append(fd)
print("ready", flush=True)
time.sleep(3600)'
CHANNELS='
import fcntl, os, struct, sys, time
fds = [os.open(p, os.O_RDWR | os.O_NOCTTY) for p in sys.argv[1:]]
for fd in fds:
    fcntl.ioctl(fd, 0x5423, struct.pack("i", 3))
print("ready", flush=True)
time.sleep(3600)'

# Memory comes back to the daemon's heap, not always to the system: each
# step is measured from the RSS after the previous one is gone.
gone() { wait_for "${1:-20}" sh -c "$CUSENETCTL ppp -j | grep -q '\"units\":\[\],\"channels\":\[\]'" || fail "PPP objects left: $("$CUSENETCTL" ppp)"; }

# release NS: kills the holder (and its launcher) in NS.
release() { ip netns pids "$1" | xargs -r kill -KILL; }

netns units
rss0=$(rss_kb)
holder units "$NS" "$UNITS" "$units"
rss_units=$(rss_kb)
release "$NS"
gone

rss1=$(rss_kb)
ptys=()
for _ in $(seq $((ports / 2))); do null_modem; ptys+=("$PTY_A" "$PTY_B"); done
rss_ports=$(rss_kb)
holder channels "$NS" "$CHANNELS" "${ptys[@]}"
rss_channels=$(rss_kb)
"$CUSENETCTL" ppp -j | grep -q '"channels":\[{' || fail "no channels: $("$CUSENETCTL" ppp)"
release "$NS"
gone

# All pairs at once: pppd i of namespace a is unit i, 10.20.x.y, facing
# pppd i of namespace b. Options as the e2e test's, without compression (the
# figure is bring-up, not throughput).
netns a; NS_A=$NS; netns b; NS_B=$NS
rss_before=$(rss_kb)
start=$(date +%s.%N)
for i in $(seq 0 $((pairs - 1))); do
  null_modem
  la="10.20.$((i / 200)).$((i % 200 + 1))" lb="10.21.$((i / 200)).$((i % 200 + 1))"
  pppd_in "pa$i" "$NS_A" "$PTY_A" "${PPPD_OPTS[@]}" noccp unit "$i" "$la:$lb"
  pppd_in "pb$i" "$NS_B" "$PTY_B" "${PPPD_OPTS[@]}" noccp unit "$i" "$lb:$la"
done
launched=$(date +%s.%N)
count_up() { ip -n "$1" -4 addr show | grep -c "inet 10\.2[01]\." || true; }
deadline=$((SECONDS + 120 + pairs))
while :; do
  up_a=$(count_up "$NS_A") up_b=$(count_up "$NS_B")
  [ "$up_a" -ge "$pairs" ] && [ "$up_b" -ge "$pairs" ] && break
  [ $SECONDS -lt $deadline ] || break
  sleep 0.2
done
done_at=$(date +%s.%N)
rss_pairs=$(rss_kb)
# Tear-down before the daemon stops: every pppd killed at once, until the
# daemon holds no unit or channel (each takes a kernel interface with it).
release "$NS_A"; release "$NS_B"
gone $((60 + pairs))
torn_down=$(date +%s.%N)

python3 - "$json" <<PY
import json, sys
r = {
    "units": $units, "rss_per_unit_kb": ($rss_units - $rss0) / $units,
    "ports": $ports, "rss_per_port_kb": ($rss_ports - $rss1) / $ports,
    "channels": $ports, "rss_per_channel_kb": ($rss_channels - $rss_ports) / $ports,
    "pppd_pairs": $pairs, "pairs_up": min($up_a, $up_b),
    "launch_s": round($launched - $start, 2), "bringup_s": round($done_at - $start, 2),
    "rss_per_pair_kb": ($rss_pairs - $rss_before) / $pairs,
    "teardown_s": round($torn_down - $done_at, 2),
    "daemon_rss_kb": $rss_pairs,
}
print("what                       count   figure")
print("RSS per PPP unit           %5d   %.1f kB" % (r["units"], r["rss_per_unit_kb"]))
print("RSS per tty port           %5d   %.1f kB" % (r["ports"], r["rss_per_port_kb"]))
print("RSS per PPP channel        %5d   %.1f kB (N_PPP on a port)" % (r["channels"], r["rss_per_channel_kb"]))
print("pppd pairs up              %5d   of %d, %.1f s (all launched after %.1f s)"
      % (r["pairs_up"], r["pppd_pairs"], r["bringup_s"], r["launch_s"]))
print("all pppd killed: gone in        %.1f s" % r["teardown_s"])
print("RSS per pppd pair          %5d   %.1f kB (2 units, 2 channels, 2 ports)" % (r["pppd_pairs"], r["rss_per_pair_kb"]))
if sys.argv[1]:
    json.dump(r, open(sys.argv[1], "w"))
PY
[ "$up_a" -ge "$pairs" ] && [ "$up_b" -ge "$pairs" ] || fail "only $up_a/$up_b of $pairs pairs came up"
