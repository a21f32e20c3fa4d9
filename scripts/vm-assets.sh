#!/usr/bin/env bash
# The guest side of veil's microvm handler (docs/microvm.md):
#   vm-assets.sh CACHE_DIR OUT_DIR AGENT
# - OUT_DIR/vmlinux: Debian 12's cloud kernel (scripts/guest-kernel.sh; a link into CACHE_DIR).
# - OUT_DIR/initrd.cpio: AGENT (the static veil-agent) as /init, fuse and virtiofs (loaded on
#   demand for writable volumes), and the kernel's modules the
#   agent loads, in dependency order, listed in /lib/modules/order: the virtio transport and
#   console (control channel), virtio-blk, EROFS and overlayfs (the rootfs).
set -euo pipefail
if [ $# -ne 3 ]; then
  echo "usage: $0 CACHE_DIR OUT_DIR AGENT" >&2
  exit 2
fi
cache=$1 out=$2 agent=$3
mkdir -p "$cache" "$out"
info=$("$(dirname "$0")/guest-kernel.sh" "$cache")
vmlinux=$(sed -n 's/^kernel=//p' <<<"$info")
deb=$(sed -n 's/^deb=//p' <<<"$info")

modules=(virtio_ring virtio virtio_mmio virtio_console virtio_blk crc32c_generic libcrc32c erofs overlay
  failover net_failover virtio_net)
tmp=$(mktemp -d "$out/assets.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards './lib/modules/*/kernel/*' 2>/dev/null ||
  dpkg-deb -x "$deb" "$tmp"
root=$tmp/root
mkdir -p "$root"/{dev,proc,sys,tmp,run,lib/modules}
order=()
for m in "${modules[@]}"; do
  f=$(find "$tmp/lib/modules" -name "$m.ko" -o -name "$m.ko.xz" | head -1)
  if [ -z "$f" ]; then
    # Built into this kernel (or renamed): the agent does without it.
    continue
  fi
  case $f in *.xz) xz -dc "$f" >"$root/lib/modules/$m.ko" ;; *) cp "$f" "$root/lib/modules/$m.ko" ;; esac
  order+=("$m.ko")
done
printf '%s\n' "${order[@]}" >"$root/lib/modules/order"
# Loaded by the agent only for a sandbox with writable volumes (virtio-fs), not at boot.
for m in fuse virtiofs; do
  f=$(find "$tmp/lib/modules" -name "$m.ko" -o -name "$m.ko.xz" | head -1)
  [ -n "$f" ] || { echo "vm-assets: the guest kernel has no $m module" >&2; exit 1; }
  case $f in *.xz) xz -dc "$f" >"$root/lib/modules/$m.ko" ;; *) cp "$f" "$root/lib/modules/$m.ko" ;; esac
done
cp "$agent" "$root/init"
# Uncompressed: unpacking is faster under TCG than decompressing.
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$tmp/initrd.cpio"
mv "$tmp/initrd.cpio" "$out/initrd.cpio"
ln -sfn "$vmlinux" "$out/vmlinux"
echo "kernel=$out/vmlinux"
echo "initrd=$out/initrd.cpio"
