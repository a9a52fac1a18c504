#!/bin/bash
# `cusenetctl run --bind` where the kernel has no /dev/ppp and no /dev/net
# (a kernel without the drivers), simulated in a mount namespace whose /dev
# is a tmpfs holding only a few essentials: the program still finds both
# nodes, the daemon's FUSE files, in its private /dev (an overlay of the one
# it was given), with every other entry of that /dev still there; PPPIOCNEWUNIT
# on /dev/ppp makes the daemon's unit. Neither that /dev nor the host's
# changes. Then the same on the host's own /dev, with or without /dev/ppp.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd unshare "apt-get install util-linux"
need_cmd python3 "apt-get install python3"
start_daemon

# The program: what it finds in /dev, and a unit made on /dev/ppp.
cat >"$E2E_DIR/probe.py" <<'PY'
import fcntl, os, stat, struct, sys
PPPIOCNEWUNIT = 0xc004743e
for node in ("/dev/ppp", "/dev/net/tun"):
    st = os.stat(node)
    # The daemon's FUSE files stat as regular files, the kernel's as devices.
    print(node, "file" if stat.S_ISREG(st.st_mode) else "other")
fd = os.open("/dev/ppp", os.O_RDWR)
unit = bytearray(struct.pack("i", -1))
fcntl.ioctl(fd, PPPIOCNEWUNIT, unit)
print("unit", struct.unpack("i", unit)[0])
print("ppp0", os.path.exists("/sys/class/net/ppp0"))
with open("/dev/null", "w") as null:
    null.write("x")
print("entries", " ".join(sorted(os.listdir("/dev"))))
PY

netns bind; NS_BIND=$NS
host_dev() { ls -A /dev | sort; stat -c '%n %F' /dev/ppp /dev/net 2>&1 || true; }
host_before=$(host_dev)

log "a /dev without ppp and net (a kernel without the drivers)"
cat >"$E2E_DIR/nodev.sh" <<SH
set -eu
fake="$E2E_DIR/fakedev"
mkdir "\$fake"
mount -t tmpfs -o mode=755 tmpfs "\$fake"
for n in null zero urandom tty ptmx; do touch "\$fake/\$n"; mount --bind "/dev/\$n" "\$fake/\$n"; done
ln -s /proc/self/fd "\$fake/fd"
mkdir "\$fake/pts" "\$fake/shm"
mount --rbind /dev/pts "\$fake/pts"
mount -t tmpfs tmpfs "\$fake/shm"
mount --move "\$fake" /dev
[ ! -e /dev/ppp ] && [ ! -e /dev/net ] || { echo "the simulated /dev has ppp or net"; exit 3; }
before=\$(ls -A /dev | sort)
"$CUSENETCTL" run --bind -- python3 "$E2E_DIR/probe.py"
after=\$(ls -A /dev | sort)
[ "\$before" = "\$after" ] || { echo "the simulated /dev changed: \$before / \$after"; exit 4; }
[ ! -e /dev/ppp ] && [ ! -e /dev/net ] || { echo "ppp or net left in the simulated /dev"; exit 4; }
echo "simulated /dev unchanged"
SH
out=$(ip netns exec "$NS_BIND" unshare -m --propagation slave sh "$E2E_DIR/nodev.sh" 2>&1) \
  || fail "run --bind without the nodes: $out"
echo "$out"
grep -qx "/dev/ppp file" <<<"$out" || fail "/dev/ppp is not the daemon's file: $out"
grep -qx "/dev/net/tun file" <<<"$out" || fail "/dev/net/tun is not the daemon's file: $out"
grep -qx "unit 0" <<<"$out" || fail "no unit made on /dev/ppp: $out"
grep -qx "ppp0 True" <<<"$out" || fail "ppp0 did not appear: $out"
grep -qx "entries fd net null ppp ptmx pts shm tty urandom zero" <<<"$out" \
  || fail "the program's /dev is not the one it was given plus ppp and net: $out"
grep -qx "simulated /dev unchanged" <<<"$out" || fail "$out"
[ "$(host_dev)" = "$host_before" ] || fail "the host's /dev changed: $(diff <(echo "$host_before") <(host_dev))"
wait_for 10 sh -c "$CUSENETCTL ppp -j | grep -q '\"units\":\[\]'" || fail "unit left: $("$CUSENETCTL" ppp)"

log "the host's own /dev ($( [ -e /dev/ppp ] && echo with || echo without) /dev/ppp)"
out=$(ip netns exec "$NS_BIND" "$CUSENETCTL" run --bind -- python3 "$E2E_DIR/probe.py" 2>&1) \
  || fail "run --bind on the host's /dev: $out"
echo "$out" | grep -v '^entries'
grep -qx "/dev/ppp file" <<<"$out" && grep -qx "/dev/net/tun file" <<<"$out" && grep -qx "unit 0" <<<"$out" \
  || fail "run --bind on the host's /dev: $out"
for e in null pts shm; do
  grep -q "^entries.* $e\( \|$\)" <<<"$out" || fail "/dev/$e is missing under run --bind: $out"
done
[ "$(host_dev)" = "$host_before" ] || fail "the host's /dev changed: $(diff <(echo "$host_before") <(host_dev))"
log "PASS"
