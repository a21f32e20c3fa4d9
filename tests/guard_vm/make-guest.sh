#!/usr/bin/env bash
# Guest pieces for the guard's VM test (tests/guard_vm):
#   make-guest.sh CACHE_DIR OUT_DIR GUEST_PROGRAM [FILE...]
# - Debian 12's cloud kernel (scripts/guest-kernel.sh).
# - OUT_DIR/initrd.cpio: GUEST_PROGRAM as /init, busybox-static as /bin/busybox (/bin/sh, /bin/true,
#   /bin/socat and /bin/renamed link to it), and each FILE in /etc/guard-vm/. No kernel modules: the test talks over the serial console, and everything
#   else it needs (BPF, cgroup2, tmpfs, loopback) is built into the cloud kernel.
# Prints "kernel=PATH", "initrd=PATH" and "package=NAME".
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 CACHE_DIR OUT_DIR GUEST_PROGRAM [FILE...]" >&2
  exit 2
fi
cache=$1 out=$2 agent=$3
shift 3
mkdir -p "$cache" "$out"
info=$("$(dirname "$0")/../../scripts/guest-kernel.sh" "$cache")
vmlinux=$(sed -n 's/^kernel=//p' <<<"$info")
pkg=$(sed -n 's/^package=//p' <<<"$info")

busybox=$(command -v busybox)
if ldd "$busybox" >/dev/null 2>&1; then
  echo "make-guest: $busybox is not static (install busybox-static)" >&2
  exit 1
fi
root=$out/root
rm -rf "$root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,run,etc/guard-vm}
cp "$agent" "$root/init"
cp "$busybox" "$root/bin/busybox"
for applet in sh true socat renamed; do ln -s busybox "$root/bin/$applet"; done
for f in "$@"; do cp "$f" "$root/etc/guard-vm/"; done
# Uncompressed: unpacking is faster under TCG than decompressing.
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$out/initrd.cpio"
rm -rf "$root"
echo "kernel=$vmlinux"
echo "initrd=$out/initrd.cpio"
echo "package=$pkg"
