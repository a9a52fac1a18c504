# Shared by the end-to-end tests: a private daemon, namespaces and processes
# that are all removed on exit, pass or fail. Exit 77 means "skipped".
set -euo pipefail

E2E_TAG="cn$$"
E2E_DIR=$(mktemp -d /tmp/cusenet-e2e-XXXXXX)
E2E_NETNS=()
E2E_PIDS=()
DAEMON_PID=""
CUSENETD=${CUSENETD:-cusenetd}
CUSENETCTL=${CUSENETCTL:-cusenetctl}
export CUSENET_RUN_DIR="$E2E_DIR/run"

log() { echo "[$(date +%T)] $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }

cleanup() {
  local rc=$?
  set +e
  for pid in "${E2E_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  sleep 0.2
  for pid in "${E2E_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  for ns in "${E2E_NETNS[@]}"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  done
  if [ -n "$DAEMON_PID" ]; then
    kill -TERM "$DAEMON_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$DAEMON_PID" 2>/dev/null
    wait "$DAEMON_PID"
    local drc=$?
    # A clean stop exits 0; ASan builds exit non-zero on a leak report.
    if [ $drc -ne 0 ] && [ $rc -eq 0 ]; then
      echo "FAIL: cusenetd exited with status $drc on SIGTERM" >&2
      rc=1
    fi
  fi
  # Every mount in the run dir, stacked ones too (a test that failed may
  # have left a killed daemon's).
  local m
  for m in dev carriers; do
    while grep -qF " $CUSENET_RUN_DIR/$m " /proc/self/mountinfo; do umount -l "$CUSENET_RUN_DIR/$m" || break; done
  done
  if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
    for f in "$E2E_DIR"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 40 "$f"; }; done
  fi
  rm -rf "$E2E_DIR"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need_root() { [ "$(id -u)" = 0 ] || skip "needs root (namespaces, kernel TUN, FUSE)"; }
need_cmd() { command -v "$1" >/dev/null || skip "$1 is not installed (${2:-})"; }

# The frontend the tests reach the daemon through: fuse (with `cusenetctl
# run`) here, cuse in the VM tier (tests/vm/cuse.sh), where the kernel's TUN
# is at $CUSENET_KERNEL_TUN and the daemon's devices are the real /dev nodes.
E2E_FRONTEND=${E2E_FRONTEND:-fuse}

# Starts cusenetd with a private run directory; extra arguments pass through.
start_daemon() {
  local args=(--frontend fuse)
  [ "$E2E_FRONTEND" = cuse ] && args=(--frontend cuse --kernel-tun "${CUSENET_KERNEL_TUN:?}")
  "$CUSENETD" --run-dir "$CUSENET_RUN_DIR" "${args[@]}" "$@" >"$E2E_DIR/daemon.log" 2>&1 &
  DAEMON_PID=$!
  for _ in $(seq 100); do
    if "$CUSENETCTL" status >/dev/null 2>&1; then
      [ "$E2E_FRONTEND" = cuse ] || return 0
      # The kernel adds the CUSE node a moment after the daemon answers.
      wait_for 5 sh -c '[ -c /dev/net/tun ] && [ "$(stat -c %t /dev/net/tun)" != a ]' && return 0
      fail "/dev/net/tun is not the daemon's CUSE device"
    fi
    kill -0 "$DAEMON_PID" 2>/dev/null || fail "cusenetd exited: $(cat "$E2E_DIR/daemon.log")"
    sleep 0.05
  done
  fail "cusenetd did not answer"
}

# bg NAME CMD...: runs CMD in the background, output in $E2E_DIR/NAME.log.
bg() {
  local name=$1; shift
  "$@" >"$E2E_DIR/$name.log" 2>&1 &
  E2E_PIDS+=($!)
  LAST_PID=$!
}

# A namespace pair joined by a veth: $1-a with 192.0.2.1/24 and $1-b with
# 192.0.2.2/24 (TEST-NET-1, only ever inside these namespaces).
netns_pair() {
  local a="$E2E_TAG-$1-a" b="$E2E_TAG-$1-b"
  ip netns add "$a"; E2E_NETNS+=("$a")
  ip netns add "$b"; E2E_NETNS+=("$b")
  ip link add "v$E2E_TAG" netns "$a" type veth peer name "w$E2E_TAG" netns "$b"
  ip -n "$a" addr add 192.0.2.1/24 dev "v$E2E_TAG"
  ip -n "$b" addr add 192.0.2.2/24 dev "w$E2E_TAG"
  # No IPv6: router solicitations sent the moment one end's tunnel comes up
  # would reach the other end before its `up` commands ran, and a write to a
  # down interface is EIO, which ends a vtund session (the kernel does this too).
  for ns in "$a" "$b"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" link set lo up
  done
  ip -n "$a" link set "v$E2E_TAG" up
  ip -n "$b" link set "w$E2E_TAG" up
  NS_A=$a NS_B=$b
}

# wait_for SECONDS CMD...: polls CMD until it succeeds.
wait_for() {
  local t=$1; shift
  for _ in $(seq $((t * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

# vtund_config FILE SESSION TYPE LOCAL PEER: a vtund.conf whose `up` gives the
# tunnel LOCAL (and PEER for tun). vtund's parser wants one statement a line.
vtund_config() {
  local addr
  if [ "$3" = tun ]; then addr="addr add $4 peer $5 dev %%"; else addr="addr add $4/24 dev %%"; fi
  cat >"$1" <<CONF
options {
  port 5000;
  timeout 10;
  ip $(command -v ip);
}
$2 {
  passwd cusenet-e2e;
  type $([ "$3" = tap ] && echo ether || echo tun);
  proto tcp;
  keepalive yes;
  persist no;
  up {
    ip "$addr";
    ip "link set %% up";
  };
}
CONF
}

# tunnel_up NETNS: its tun/tap interface is administratively up.
tunnel_up() { grep -q '[<,]UP[,>]' <<<"$(ip -n "$1" -o link show type tun)"; }

# vtund_pair MODE TYPE LOCAL PEER: a new netns_pair with a vtund server in
# $NS_A (LOCAL) and a client in $NS_B (PEER) joined by a TYPE (tun or tap)
# tunnel, both ends up and a ping across. MODE is how vtund reaches
# /dev/net/tun: inject (`cusenetctl run`), exact (`cusenetctl run --exact`),
# bind (`cusenetctl run --bind`), or
# unsupervised: cuse (the VM tier's daemon devices) or kernel (the kernel's
# own TUN, the reference). Pids in VTUND_SERVER, VTUND_CLIENT.
vtund_pair() {
  local mode=$1 type=$2 srv=$3 cli=$4 via=("$CUSENETCTL" run --)
  case $mode in
    bind) via=("$CUSENETCTL" run --bind --) ;;
    exact) via=("$CUSENETCTL" run --exact --) ;;
    cuse | kernel) via=() ;;
  esac
  netns_pair "$mode$type"
  local sess="e2e$type"
  vtund_config "$E2E_DIR/server.conf" "$sess" "$type" "$srv" "$cli"
  vtund_config "$E2E_DIR/client.conf" "$sess" "$type" "$cli" "$srv"
  bg "server-$mode-$type" ip netns exec "$NS_A" "${via[@]}" vtund -n -s -f "$E2E_DIR/server.conf"
  VTUND_SERVER=$LAST_PID
  wait_for 10 ip netns exec "$NS_A" sh -c "ss -ltn | grep -q :5000" || fail "vtund server did not listen"
  bg "client-$mode-$type" ip netns exec "$NS_B" "${via[@]}" \
    vtund -n -f "$E2E_DIR/client.conf" "$sess" 192.0.2.1
  VTUND_CLIENT=$LAST_PID
  # Both ends' `up` commands first: a frame reaching an interface that is
  # still down is EIO to its vtund, which ends the session (as on the kernel).
  wait_for 15 tunnel_up "$NS_A" || fail "the server's $type interface did not come up ($mode)"
  wait_for 15 tunnel_up "$NS_B" || fail "the client's $type interface did not come up ($mode)"
  wait_for 15 ip netns exec "$NS_B" ping -c1 -W1 "$srv" || fail "no ping across the $type tunnel ($mode)"
}

# vtund_pair_stop: SIGTERM to both vtund of the last vtund_pair; waits for them.
vtund_pair_stop() {
  kill -TERM "$VTUND_CLIENT" "$VTUND_SERVER"
  wait "$VTUND_CLIENT" "$VTUND_SERVER" 2>/dev/null || true
}

# netns_pair_del: removes the namespaces of the last netns_pair.
netns_pair_del() {
  local keep=() ns
  for ns in "${E2E_NETNS[@]}"; do [ "$ns" = "$NS_A" ] || [ "$ns" = "$NS_B" ] || keep+=("$ns"); done
  ip netns del "$NS_A"; ip netns del "$NS_B"
  E2E_NETNS=("${keep[@]}")
}

daemon_fds() { ls "/proc/$DAEMON_PID/fd" | wc -l; }
status_field() { "$CUSENETCTL" status -j | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }

# ---------------------------------------------------------------- pppd

# /etc/ppp/options (Debian: auth, crtscts, lock, modem) overridden; LCP
# echoes every second find a dead peer in three; the namespaces have no IPv6.
PPPD_OPTS=(nodetach noauth local nocrtscts nolock lcp-echo-interval 1 lcp-echo-failure 3
           noipv6 debug)

# netns NAME: a namespace with lo up and no IPv6 (set $NS).
netns() {
  NS="$E2E_TAG-$1"
  ip netns add "$NS"; E2E_NETNS+=("$NS")
  ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$NS" link set lo up
}

# null_modem [--baud-emulation]: a new pair of emulated ports; the paths
# pppd opens in PTY_A, PTY_B: their pty slaves, or on CUSE their own devices
# (/dev/ttyVP<n>).
null_modem() {
  local out; out=$("$CUSENETCTL" tty add null-modem "$@") || fail "tty add null-modem: $out"
  PTY_A=$(echo "$out" | sed -n 1p | cut -d' ' -f2)
  PTY_B=$(echo "$out" | sed -n 2p | cut -d' ' -f2)
  [ -c "$PTY_A" ] && [ -c "$PTY_B" ] || fail "no character devices in: $out"
  if [ "$E2E_FRONTEND" = cuse ]; then
    case $PTY_A in /dev/ttyVP*) ;; *) fail "on CUSE a port is its own device, not $PTY_A" ;; esac
  fi
}

# pppd NAME NS ARGS...: pppd in NS, supervised (`cusenetctl run`) on the
# FUSE frontend, unsupervised on CUSE (its tty and /dev/ppp are the daemon's
# character devices); the pid to signal in LAST_PID.
pppd_in() {
  local name=$1 ns=$2 via=("$CUSENETCTL" run --); shift 2
  [ "$E2E_FRONTEND" = cuse ] && via=()
  bg "$name" ip netns exec "$ns" "${via[@]}" pppd "$@"
}

# The daemon holds nothing of the pppd that have gone.
expect_idle() {
  wait_for 10 sh -c "$CUSENETCTL ppp -j | grep -q '\"files\":0,\"units\":\[\],\"channels\":\[\]'" \
    || fail "PPP objects left: $("$CUSENETCTL" ppp)"
  wait_for 10 sh -c "$CUSENETCTL tty -j | grep -q '\"kernel_ttys\":0'" \
    || fail "line disciplines left on kernel ttys: $("$CUSENETCTL" tty)"
  wait_for 10 sh -c "[ \"\$($CUSENETCTL status -j | sed -n 's/.*\"injected_files\":\([0-9]*\).*/\1/p')\" = 0 ]" \
    || fail "injected files left: $("$CUSENETCTL" status)"
}

# up NS IFNAME LOCAL: waits for IFNAME to have LOCAL (IPCP done, interface configured).
up() {
  wait_for 20 sh -c "ip -n $1 -4 addr show dev $2 2>/dev/null | grep -q 'inet $3 '" \
    || fail "$2 in $1 never got $3: $(ip -n "$1" addr)"
  wait_for 5 sh -c "ip -n $1 link show $2 | grep -q 'UP,LOWER_UP'" \
    || fail "$2 in $1 is not up: $(ip -n "$1" link show "$2")"
}
