#!/bin/bash
# End to end: TCP throughput (Debian's iperf3) and ping latency between two
# network namespaces through
#   vtund, kernel TUN  two vtund (tun) over the kernel's /dev/net/tun, run
#                      directly: the reference;
#   vtund, injected    the same pair supervised (`cusenetctl run`);
#   vtund, exact       supervised with `cusenetctl run --exact` (FUSE files);
#   vtund, FUSE        the same pair on the daemon's FUSE files (`run --bind`);
#   pppd               two pppd over an emulated null-modem pair, no line-speed
#                      emulation, no CCP (iperf3's payload is random: it would
#                      only cost).
# Prints a table and the goals (vtund injected >= 0.9 x, FUSE >= 0.8 x vtund
# over the kernel's TUN in throughput) and writes the figures as JSON.
#   tests/bench/e2e_bench.sh [--seconds S] [--json FILE] [--perf DIR] [--only CASE,...]
# iperf3 runs max(3, 3 x S) seconds. --only runs some of the cases: kernel,
# injected, exact, fuse, pppd (a ratio needs kernel in the same run). --perf DIR: `perf record -g` of cusenetd
# during each emulated iperf3 run, to DIR/<case>.data. CUSENETD, CUSENETCTL
# as for tests/e2e; exit 77 when something it needs is missing.
. "$(dirname "$0")/../e2e/lib.sh"

seconds=1 json="" perf_dir="" only="kernel,injected,exact,fuse,pppd"
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --json) json=$2; shift 2 ;;
    --perf) perf_dir=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    *) fail "usage: $0 [--seconds S] [--json FILE] [--perf DIR] [--only CASE,...]" ;;
  esac
done
iperf_seconds=$(python3 -c "print(max(3, round(3 * $seconds)))")
pings=200

need_root
need_cmd iperf3 "apt-get install iperf3"
need_cmd vtund "apt-get install vtun"
need_cmd pppd "apt-get install ppp"
need_cmd ping "apt-get install iputils-ping"
[ -c /dev/net/tun ] || skip "no kernel /dev/net/tun (the reference)"
[ -z "$perf_dir" ] || { need_cmd perf "apt-get install linux-perf"; mkdir -p "$perf_dir"; }
start_daemon

# The daemon's CPU time so far (user + system), in clock ticks.
daemon_ticks() { awk '{ print $14 + $15 }' "/proc/$DAEMON_PID/stat"; }

# measure CASE NS_SERVER NS_CLIENT SERVER_ADDR: $pings pings 10 ms apart
# from NS_CLIENT to SERVER_ADDR in NS_SERVER, then iperf3 the same way; one
# JSON line in $E2E_DIR/results.jsonl.
measure() {
  local name=$1 nss=$2 nsc=$3 addr=$4 perf=""
  # Pings first, on the idle tunnel: right after a bulk transfer, the outer
  # TCP connection (BBR here) paces them for a while. A lost reply is a
  # figure, not a failure; no reply at all is.
  ip netns exec "$nsc" ping -c "$pings" -i 0.01 -W 1 -w 30 "$addr" >"$E2E_DIR/ping.txt" || true
  bg "iperf3-server-$name" ip netns exec "$nss" iperf3 -s -1 --idle-timeout 30
  local server=$LAST_PID
  wait_for 10 ip netns exec "$nss" sh -c "ss -ltn | grep -q ':5201 '" || fail "iperf3 server did not listen"
  if [ -n "$perf_dir" ] && [ "$name" != "vtund, kernel TUN" ]; then
    bg "perf-${name//[ ,]/}" perf record -g -o "$perf_dir/${name//[ ,]/}.data" -p "$DAEMON_PID"
    perf=$LAST_PID
  fi
  local out="$E2E_DIR/iperf3.json" ticks0 ticks1
  ticks0=$(daemon_ticks)
  # A tunnel that stalls is a result (the case's row says so), not a hang.
  timeout $((iperf_seconds + 20)) ip netns exec "$nsc" iperf3 -c "$addr" -t "$iperf_seconds" \
    --connect-timeout 5000 -J >"$out" || true
  ticks1=$(daemon_ticks)
  if [ -n "$perf" ]; then kill -INT "$perf"; wait "$perf" || true; fi
  wait_for 5 sh -c "! kill -0 $server" || kill -KILL "$server"
  wait "$server" || true
  python3 - "$name" "$out" "$E2E_DIR/ping.txt" "$pings" "$((ticks1 - ticks0))" "$(getconf CLK_TCK)" >>"$E2E_DIR/results.jsonl" <<'PY' \
    || fail "no results for $name: $(cat "$out" "$E2E_DIR/ping.txt")"
import json, re, sys
name, iperf, ping, sent = sys.argv[1], json.load(open(sys.argv[2])), open(sys.argv[3]).read(), int(sys.argv[4])
ticks, hz = int(sys.argv[5]), int(sys.argv[6])
rtts = sorted(float(t) for t in re.findall(r"time=([0-9.]+) ms", ping))
if not rtts:
    sys.exit(1)
pct = lambda p: rtts[min(len(rtts) - 1, int(p / 100 * len(rtts)))]
result = {"case": name, "ping_p50_ms": pct(50), "ping_avg_ms": sum(rtts) / len(rtts),
          "ping_p99_ms": pct(99), "ping_max_ms": rtts[-1], "ping_loss": 1 - len(rtts) / sent}
if "error" in iperf:
    # How long the transfer ran before its first empty second.
    moved = [i["sum"]["end"] for i in iperf.get("intervals", []) if i["sum"]["bytes"] > 0]
    result["error"] = f"{iperf['error']} (data stopped after {max(moved, default=0):.0f} s)"
else:
    end = iperf["end"]
    result |= {"tcp_mbit_s": end["sum_received"]["bits_per_second"] / 1e6,
               "retransmits": end["sum_sent"].get("retransmits", 0),
               "daemon_cpu": ticks / hz / end["sum_received"]["seconds"]}
print(json.dumps(result))
PY
  log "$name: $(tail -n1 "$E2E_DIR/results.jsonl")"
}

# vtund_case MODE CASE: a vtund tun tunnel (tests/e2e/lib.sh), measured, removed.
vtund_case() {
  log "vtund, $2"
  vtund_pair "$1" tun 198.51.100.1 198.51.100.2
  measure "vtund, $2" "$NS_A" "$NS_B" 198.51.100.1
  vtund_pair_stop
  netns_pair_del
}

# wanted CASE: whether --only names it.
wanted() { [[ ",$only," == *",$1,"* ]]; }

wanted kernel && vtund_case kernel "kernel TUN"
wanted injected && vtund_case inject "injected"
wanted exact && vtund_case exact "exact"
wanted fuse && vtund_case bind "FUSE"

if wanted pppd; then
  log "pppd"
  netns ppp-a; NS_A=$NS; netns ppp-b; NS_B=$NS
  null_modem
  pppd_in ppp-a "$NS_A" "$PTY_A" "${PPPD_OPTS[@]}" noccp 10.9.0.1:10.9.0.2; pa=$LAST_PID
  pppd_in ppp-b "$NS_B" "$PTY_B" "${PPPD_OPTS[@]}" noccp 10.9.0.2:10.9.0.1; pb=$LAST_PID
  up "$NS_A" ppp0 10.9.0.1
  up "$NS_B" ppp0 10.9.0.2
  measure "pppd, null-modem" "$NS_A" "$NS_B" 10.9.0.1
  kill -TERM "$pa" "$pb" 2>/dev/null || true
  wait "$pa" "$pb" || true
fi

python3 - "$E2E_DIR/results.jsonl" "$iperf_seconds" "$pings" "$json" <<'PY'
import json, sys
cases = [json.loads(l) for l in open(sys.argv[1])]
print(f"iperf3 TCP {sys.argv[2]} s; {sys.argv[3]} pings 10 ms apart;"
      " cusenetd CPU: its CPU time over the iperf3 run's (100% = one core)")
print(f"| {'path':<18} | {'TCP Mbit/s':>10} | {'retr':>5} | {'cusenetd CPU':>12} | {'p50 ms':>7} | {'avg ms':>7} | {'p99 ms':>7} | {'max ms':>7} | {'loss':>5} |")
print("|" + "|".join("-" * (w + 2) for w in (18, 10, 5, 12, 7, 7, 7, 7, 5)) + "|")
for c in cases:
    if "error" in c:
        print(f"| {c['case']:<18} | iperf3 failed: {c['error']}")
        continue
    print(f"| {c['case']:<18} | {c['tcp_mbit_s']:>10,.0f} | {c['retransmits']:>5} | {c['daemon_cpu']:>12.0%} | {c['ping_p50_ms']:>7.3f}"
          f" | {c['ping_avg_ms']:>7.3f} | {c['ping_p99_ms']:>7.3f} | {c['ping_max_ms']:>7.3f} | {c['ping_loss']:>5.0%} |")
by = {c["case"]: c for c in cases}
mbit = lambda case: by.get(case, {}).get("tcp_mbit_s", 0)
goals = []
# Issue 13: the supervised launch's carriers keep injected at 0.9.
for frontend, goal in [(f, g) for f, g in (("injected", 0.9), ("FUSE", 0.8)) if f"vtund, {f}" in by]:
    ratio = mbit(f"vtund, {frontend}") / mbit("vtund, kernel TUN") if mbit("vtund, kernel TUN") else 0
    goals.append({"goal": f"vtund, {frontend} >= {goal} x vtund, kernel TUN (TCP throughput)",
                  "ratio": ratio, "met": ratio >= goal})
print()
for g in goals:
    print(f"{g['goal']}: {g['ratio']:.2f}  {'met' if g['met'] else 'MISSED'}")
if sys.argv[4]:
    json.dump({"iperf3_seconds": int(sys.argv[2]), "pings": int(sys.argv[3]), "cases": cases, "goals": goals},
              open(sys.argv[4], "w"), indent=1)
sys.exit(1 if any("error" in c for c in cases) else 0)
PY
