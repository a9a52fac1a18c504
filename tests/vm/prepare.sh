#!/bin/bash
# Prepares the VM test tier (tests/vm/run.sh): Debian's own kernel, its
# module tree and a busybox initramfs, cached under .cache/vm/ at the repo
# root (CUSENET_VM_CACHE overrides). Idempotent: a second run only checks.
# Prints the cache's version directory on stdout; exit 77 = cannot prepare.
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

say() { echo "vm-prepare: $*" >&2; }
skip() { say "$*"; exit 77; }

PACKAGES=(qemu-system-x86 busybox-static kmod xz-utils)

install_missing() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || skip "run as root to install: ${missing[*]}"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2 || skip "apt-get update failed"
  apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 || skip "cannot install ${missing[*]}"
}

# The kernel that linux-image-amd64 currently depends on: security updates
# change its ABI number, so it is looked up, never pinned.
kernel_package() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }'
}

fetch_kernel() {  # $1 package, $2 version dir
  local pkg=$1 dir=$2 tmp
  tmp=$(mktemp -d "$cache/download.XXXXXX")
  say "downloading $pkg"
  # apt drops privileges to _apt for downloads when it can write as _apt.
  chown _apt "$tmp" 2>/dev/null || true
  (cd "$tmp" && apt-get download -q "$pkg" >&2) || { rm -rf "$tmp"; skip "cannot download $pkg"; }
  say "extracting $pkg"
  mkdir -p "$tmp/root"
  dpkg-deb -x "$tmp"/*.deb "$tmp/root" || { rm -rf "$tmp"; skip "cannot extract $pkg"; }
  rm -f "$tmp"/*.deb
  rm -rf "$dir/root"
  mkdir -p "$dir"
  mv "$tmp/root" "$dir/root"
  rmdir "$tmp"
}

# The vmlinuz is a bzImage whose payload is xz: the uncompressed ELF inside
# boots through its PVH entry, skipping the firmware and the decompressor.
extract_vmlinux() {  # $1 vmlinuz, $2 output
  local offset
  for offset in $(grep -abo $'\xfd7zXZ' "$1" | cut -d: -f1); do
    # xz stops at the stream's end: the rest of the file is not its input.
    xz -dc --single-stream < <(tail -c +$((offset + 1)) "$1") >"$2.tmp" 2>/dev/null || continue
    if [ "$(head -c4 "$2.tmp")" = $'\x7fELF' ]; then
      mv "$2.tmp" "$2"
      return 0
    fi
  done
  rm -f "$2.tmp"
  return 1
}

# Modules the initramfs needs before the host root is reachable, in
# dependency order (modprobe resolves modules.dep for us).
initramfs_modules() {  # $1 root dir, $2 version
  local m
  for m in virtio_pci 9pnet_virtio 9p overlay fuse cuse; do
    modprobe -d "$1" -S "$2" --show-depends "$m" || return 1
  done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }'
}

build_initramfs() {  # $1 version dir, $2 version
  local dir=$1 ver=$2 stage n=0 m
  stage=$(mktemp -d "$dir/initramfs.XXXXXX")
  mkdir -p "$stage/bin" "$stage/modules" "$stage/dev" "$stage/proc" "$stage/sys"
  cp /bin/busybox "$stage/bin/busybox"
  cp "$here/initramfs-init.sh" "$stage/init"
  cp "$here/guest-init.sh" "$stage/guest-init.sh"
  chmod 0755 "$stage/init"
  mknod -m 0600 "$stage/dev/console" c 5 1
  while read -r m; do
    [ -n "$m" ] || continue
    n=$((n + 1))
    case $m in
      *.ko.xz) xz -dc "$m" >"$stage/modules/$(printf %02d $n)-$(basename "${m%.xz}")" ;;
      *.ko) cp "$m" "$stage/modules/$(printf %02d $n)-$(basename "$m")" ;;
      *) say "unexpected module file $m"; return 1 ;;
    esac
  done < <(initramfs_modules "$dir/root" "$ver")
  [ "$n" -gt 0 ] || { say "no modules found for the initramfs"; return 1; }
  (cd "$stage" && find . | LC_ALL=C sort | /bin/busybox cpio -o -H newc 2>/dev/null) >"$dir/initramfs.cpio.tmp"
  mv "$dir/initramfs.cpio.tmp" "$dir/initramfs.cpio"
  rm -rf "$stage"
}

# Boots once with each kernel image, fastest first, and keeps the first
# that runs a command.
choose_boot() {  # $1 version dir
  local dir=$1 kind
  for kind in pvh bzimage; do
    if [ "$kind" = pvh ] && { [ ! -f "$dir/vmlinux" ] || [ ! -f /usr/share/qemu/qboot.rom ]; }; then
      continue
    fi
    echo "$kind" >"$dir/boot"
    if (cd / && CUSENET_VM_DIR=$dir "$here/run.sh" --timeout 60 -- true) 2>"$dir/trial.log"; then
      say "boots with $kind"
      return 0
    fi
    say "booting with $kind failed: $(tail -n 5 "$dir/trial.log")"
  done
  rm -f "$dir/boot"
  return 1
}

main() {
  install_missing
  command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is missing"
  [ -x /bin/busybox ] || skip "/bin/busybox is missing"
  mkdir -p "$cache"
  exec 9>"$cache/lock"
  flock 9

  local pkg ver dir hash
  pkg=$(kernel_package)
  if [ -z "$pkg" ] && [ "$(id -u)" = 0 ]; then
    apt-get update -q >&2 || true
    pkg=$(kernel_package)
  fi
  if [ -n "$pkg" ]; then
    ver=${pkg#linux-image-}
  elif [ -s "$cache/current" ]; then
    ver=$(cat "$cache/current")
    say "apt knows no linux-image-amd64; keeping the cached $ver"
  else
    skip "apt knows no linux-image-amd64 package"
  fi
  dir=$cache/$ver
  hash=$(inputs_hash)
  if [ "$(cat "$dir/ready" 2>/dev/null)" = "$hash" ]; then
    echo "$ver" >"$cache/current"
    echo "$dir"
    return 0
  fi

  rm -f "$dir/ready"
  [ -f "$dir/root/lib/modules/$ver/modules.dep" ] || {
    fetch_kernel "linux-image-$ver" "$dir"
    depmod -b "$dir/root" "$ver"
  }
  [ -f "$dir/root/boot/vmlinuz-$ver" ] || skip "the package has no boot/vmlinuz-$ver"
  ln -sfn "root/boot/vmlinuz-$ver" "$dir/bzImage"
  ln -sfn "root/lib/modules/$ver" "$dir/modules"
  [ -f "$dir/vmlinux" ] || extract_vmlinux "$dir/bzImage" "$dir/vmlinux" ||
    say "no xz payload in the vmlinuz; booting the bzImage"
  build_initramfs "$dir" "$ver" || skip "cannot build the initramfs"
  choose_boot "$dir" || skip "the VM does not boot (see $dir/trial.log)"
  echo "$hash" >"$dir/ready"
  echo "$ver" >"$cache/current"

  # Older kernels' trees are ~400 MB each and no longer reachable.
  local old
  for old in "$cache"/*/; do
    [ "${old%/}" = "$dir" ] || rm -rf "$old"
  done
  echo "$dir"
}

main "$@"
