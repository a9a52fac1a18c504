# shellcheck shell=bash disable=SC2034
# Shared by prepare.sh and run.sh: where the cache lives and what makes it
# stale.
cache=${CUSENET_VM_CACHE:-$(cd "$here/../.." && pwd)/.cache/vm}

# Everything the initramfs and the boot choice are built from.
inputs_hash() {
  cat "$here/prepare.sh" "$here/initramfs-init.sh" "$here/guest-init.sh" /bin/busybox 2>/dev/null |
    sha256sum | cut -d' ' -f1
}
