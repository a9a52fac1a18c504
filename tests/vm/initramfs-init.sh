#!/bin/busybox sh
# PID 1 of the VM's initramfs: loads the modules needed to reach the host,
# builds the guest's root (host / read-only over 9p under a tmpfs overlay)
# and hands over to guest-init.sh there. run.sh's kernel command line sets
# vm_9p_cache (the 9p cache mode of the host root).
/bin/busybox --install -s /bin
export PATH=/bin

die() {
  echo "vm-init: $*" >/dev/console
  poweroff -f
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in /modules/*.ko; do
  insmod "$m" || die "insmod $m failed"
done

ninep=trans=virtio,version=9p2000.L,msize=262144
mkdir -p /lower /ovl /newroot
mount -t 9p -o "$ninep,cache=${vm_9p_cache:-loose},ro" hostroot /lower || die "cannot mount the host root"
mount -t tmpfs -o mode=0755 tmpfs /ovl
mkdir /ovl/upper /ovl/work
mount -t overlay -o lowerdir=/lower,upperdir=/ovl/upper,workdir=/ovl/work overlay /newroot ||
  die "cannot mount the overlay"

r=/newroot
mount --move /proc $r/proc
mount --move /sys $r/sys
mount --move /dev $r/dev
mkdir -p $r/dev/pts $r/dev/shm
mount -t devpts -o mode=0620,gid=5,ptmxmode=0666 devpts $r/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $r/dev/shm
# devtmpfs has no fd links; bash's process substitution needs /dev/fd.
ln -sfn /proc/self/fd $r/dev/fd
ln -sfn /proc/self/fd/0 $r/dev/stdin
ln -sfn /proc/self/fd/1 $r/dev/stdout
ln -sfn /proc/self/fd/2 $r/dev/stderr
mount -t tmpfs -o mode=0755 tmpfs $r/run
mount -t tmpfs -o mode=1777 tmpfs $r/tmp

# The kernel's module tree, so that modprobe works on demand inside.
modules=$r/lib/modules/$(uname -r)
mkdir -p "$modules"
mount -t 9p -o "$ninep,cache=loose,ro" modules "$modules" || die "cannot mount the module tree"

# The run's own share: the command in, its output and status out.
mkdir -p $r/run/vm/io
mount -t 9p -o "$ninep,cache=none" vmio $r/run/vm/io || die "cannot mount the run's share"
cp /bin/busybox /guest-init.sh $r/run/vm/

# Host directories below /tmp or /run (a checkout there), which the fresh
# ones above hide: put back over the host's, writable in memory as / is.
n=0
[ ! -f $r/run/vm/io/share ] || while IFS= read -r d; do
  n=$((n + 1))
  mkdir -p /ovl/share$n/upper /ovl/share$n/work "$r$d"
  mount -t overlay -o "lowerdir=/lower$d,upperdir=/ovl/share$n/upper,workdir=/ovl/share$n/work" \
    overlay "$r$d" || echo "vm-init: cannot put back $d" >/dev/console
done <$r/run/vm/io/share

ip link set lo up
hostname cusenet-vm
exec switch_root $r /run/vm/busybox sh /run/vm/guest-init.sh
