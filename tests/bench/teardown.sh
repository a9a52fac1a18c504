#!/bin/bash
# Memory after teardown: the daemon's resident memory (VmRSS from /proc)
# before, at the peak and after the teardown of N tun interfaces, in ROUNDS
# rounds. Each round a supervised python3 (`cusenetctl run`) opens
# /dev/net/tun N times with TUNSETIFF, holds them, and is killed; the round
# ends when the daemon holds no interface. The figure to read is "after":
# memory should follow the live objects, not the peak of past rounds.
# Every namespace and process goes on exit (the e2e library's trap).
#   tests/bench/teardown.sh [N] [ROUNDS] [--json FILE]   (root; $CUSENETD, $CUSENETCTL)
. "$(dirname "$0")/../e2e/lib.sh"
n=2000 rounds=3 json="" positional=()
while [ $# -gt 0 ]; do
  case $1 in
    --json) json=$2; shift 2 ;;
    *) positional+=("$1"); shift ;;
  esac
done
[ ${#positional[@]} -gt 0 ] && n=${positional[0]}
[ ${#positional[@]} -gt 1 ] && rounds=${positional[1]}
need_root
need_cmd python3 "apt-get install python3"
[ -e /dev/net/tun ] || skip "no /dev/net/tun (the daemon backs each interface by a kernel one)"
# The holder keeps N files, the daemon a few descriptors per interface.
ulimit -n "$(ulimit -Hn)"

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$DAEMON_PID/status"; }
threads() { awk '/^Threads/ {print $2}' "/proc/$DAEMON_PID/status"; }
start_daemon --log-level warning
netns tuns

# TUNSETIFF (_IOW('T', 202, int)) with IFF_TUN | IFF_NO_PI.
HOLD='
import fcntl, struct, sys, time
fds = []
for i in range(int(sys.argv[1])):
    fd = open("/dev/net/tun", "r+b", buffering=0)
    fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", b"cm%d" % i, 0x1001))
    fds.append(fd)
print("ready", flush=True)
time.sleep(3600)'
tuns() { ip -n "$NS" -o link show type tun | wc -l; }

rss0=$(rss_kb) threads0=$(threads)
peaks=() afters=()
for r in $(seq "$rounds"); do
  bg "hold$r" ip netns exec "$NS" "$CUSENETCTL" run -- python3 -c "$HOLD" "$n"
  wait_for $((60 + n / 20)) grep -q ready "$E2E_DIR/hold$r.log" || fail "round $r: $(tail -3 "$E2E_DIR/hold$r.log")"
  [ "$(tuns)" -ge "$n" ] || fail "round $r: only $(tuns) interfaces"
  peaks+=("$(rss_kb)")
  ip netns pids "$NS" | xargs -r kill -KILL
  wait_for $((60 + n / 20)) sh -c "[ \$(ip -n $NS -o link show type tun | wc -l) = 0 ]" || fail "round $r: $(tuns) interfaces left"
  # The last of a teardown (files released, loops idle) settles in a moment.
  sleep 2
  afters+=("$(rss_kb)")
done

python3 - "$json" "$n" "$rss0" "$threads0" "$(threads)" "${peaks[*]}" "${afters[*]}" <<'PY'
import json, sys
out, n, rss0, t0, t1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
peaks = [int(x) for x in sys.argv[6].split()]
afters = [int(x) for x in sys.argv[7].split()]
print("round  interfaces   RSS before   at peak   after teardown")
before = rss0
for i, (p, a) in enumerate(zip(peaks, afters)):
    print("%5d  %10d   %7.1f MB  %6.1f MB  %7.1f MB" % (i + 1, n, before / 1024, p / 1024, a / 1024))
    before = a
print("per interface at peak: %.1f kB; daemon threads %s before, %s after"
      % ((max(peaks) - rss0) / n, t0, t1))
if out:
    json.dump({"interfaces": n, "rounds": len(peaks), "rss_start_kb": rss0, "rss_peak_kb": peaks,
               "rss_after_kb": afters}, open(out, "w"))
PY
