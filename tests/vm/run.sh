#!/bin/bash
# Runs one command as root inside a qemu VM with Debian's own kernel (which
# has CUSE and PPP), the host's / visible read-only under a tmpfs overlay:
#   tests/vm/run.sh [--timeout SECONDS] -- CMD [ARGS...]
# CMD starts in the current directory, with stdin /dev/null; its stdout and
# stderr come back on ours when it ends, and its exit status is ours
# (124: timed out inside the VM; 125: the VM failed, console tail printed;
# 77: the VM cannot be prepared on this machine).
# The first run prepares the cache (tests/vm/prepare.sh).
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

usage() { echo "usage: $0 [--timeout SECONDS] -- CMD [ARGS...]" >&2; exit 2; }

timeout=600
while [ $# -gt 0 ]; do
  case $1 in
    --timeout) [ $# -ge 2 ] || usage; timeout=$2; shift 2 ;;
    --timeout=*) timeout=${1#*=}; shift ;;
    --) shift; break ;;
    -*) usage ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || usage
[[ $timeout =~ ^[0-9]+$ ]] && [ "$timeout" -gt 0 ] || usage
start=$EPOCHREALTIME

# CUSENET_VM_DIR is how prepare.sh tries a boot before the cache is ready.
dir=${CUSENET_VM_DIR:-}
if [ -z "$dir" ]; then
  ver=$(cat "$cache/current" 2>/dev/null || true)
  dir=$cache/$ver
  if [ -z "$ver" ] || [ "$(cat "$dir/ready" 2>/dev/null)" != "$(inputs_hash)" ]; then
    rc=0
    dir=$("$here/prepare.sh") || rc=$?
    [ $rc -eq 0 ] || { echo "vm: cannot prepare the VM (prepare.sh exit $rc)" >&2; exit 77; }
  fi
fi

run=$(mktemp -d "${TMPDIR:-/tmp}/cusenet-vm.XXXXXX")
mkdir "$run/io"
qemu=""
cleanup() {
  if [ -n "$qemu" ]; then
    kill -KILL "$qemu" 2>/dev/null || true
    wait "$qemu" 2>/dev/null || true
  fi
  rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
trap 'exit 141' PIPE

# /tmp and /run are fresh in the VM: the checkout and the directory the
# command starts in, where they are below one of them, are handed to the
# guest to be put back (initramfs-init.sh); anything else there is not seen.
root=$(cd "$here/../.." && pwd)
for d in "$root" "$PWD"; do
  case $d/ in /tmp/* | /run/*) printf '%s\n' "$d" >>"$run/io/share" ;; esac
done
printf 'cd -- %q || { echo "vm: no such directory in the VM (/tmp and /run are fresh there)" >&2; exit 126; }\nexec' \
  "$PWD" >"$run/io/cmd"
printf ' %q' "$@" >>"$run/io/cmd"
echo >>"$run/io/cmd"
echo "$timeout" >"$run/io/timeout"

case $(cat "$dir/boot") in
  pvh) kernel=(-bios /usr/share/qemu/qboot.rom -kernel "$dir/vmlinux") ;;
  *) kernel=(-kernel "$dir/bzImage") ;;
esac
# A fresh boot per run sees the host's files as they are at boot; loose
# caching only hides changes the host makes while the command runs.
ninep_cache=${CUSENET_VM_9P_CACHE:-loose}
# no_timer_check: on a loaded host, emulated time runs so slowly that the
# kernel's IO-APIC timer check fails and panics.
append="console=ttyS0 quiet panic=-1 no_timer_check rdinit=/init vm_9p_cache=$ninep_cache"

# Boots once and waits for qemu to end; the guest's own watchdog ends the
# command at the timeout, this one only catches a guest that hangs.
boot() {
  rm -f "$run/io/booted"
  # The parent-death signal ends qemu even when run.sh is killed outright.
  setpriv --pdeathsig KILL -- qemu-system-x86_64 -machine q35,accel=tcg -cpu max -smp 2 -m 1024 \
    -nodefaults -display none -no-reboot \
    -serial "file:$run/console.log" -monitor none \
    "${kernel[@]}" -initrd "$dir/initramfs.cpio" -append "$append" \
    -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
    -virtfs "local,path=$(readlink -f "$dir/modules"),mount_tag=modules,security_model=none,readonly=on" \
    -virtfs "local,path=$run/io,mount_tag=vmio,security_model=none" \
    </dev/null >"$run/qemu.log" 2>&1 &
  qemu=$!
  local deadline=$((${EPOCHREALTIME%.*} + timeout + 120))
  booted=""
  while kill -0 "$qemu" 2>/dev/null; do
    [ -n "$booted" ] || [ ! -e "$run/io/booted" ] || booted=$EPOCHREALTIME
    if [ "${EPOCHREALTIME%.*}" -ge "$deadline" ]; then
      echo "vm: qemu still running $((timeout + 120))s after start; killed" >&2
      kill -KILL "$qemu"
      break
    fi
    sleep 0.05
  done
  wait "$qemu" 2>/dev/null || true
  qemu=""
}

boot
# The command never started: a second boot cannot run it twice.
if [ ! -e "$run/io/booted" ]; then
  echo "vm: the guest did not boot ($(grep -m1 -i panic "$run/console.log" || echo 'no panic')); retrying" >&2
  boot
fi

[ ! -f "$run/io/stdout" ] || cat "$run/io/stdout"
[ ! -f "$run/io/stderr" ] || cat "$run/io/stderr" >&2
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
end=$EPOCHREALTIME
if [ ! -s "$run/io/status" ]; then
  echo "vm: the guest wrote no exit status; console and qemu output:" >&2
  tail -n 40 "$run/console.log" >&2 || true
  tail -n 10 "$run/qemu.log" >&2 || true
  echo "vm: failed after $(seconds "$start" "$end")s" >&2
  exit 125
fi
echo "vm: boot $(seconds "$start" "${booted:-$end}")s, total $(seconds "$start" "$end")s" >&2
exit "$(cat "$run/io/status")"
