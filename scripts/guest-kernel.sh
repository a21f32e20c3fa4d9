#!/usr/bin/env bash
# The guest kernel for veil's microVMs and VM tests: Debian 12's cloud kernel, fetched once with
# `apt-get download` into CACHE_DIR (reruns use the cached package: no network) and decompressed
# into an ELF vmlinux, which QEMU boots through its PVH entry (faster under TCG than the bzImage).
# The newest linux-image-6.1.0-N-cloud-amd64-unsigned apt knows is used, or VEIL_VM_KERNEL_PKG.
#   guest-kernel.sh CACHE_DIR
# Prints "kernel=PATH" (the vmlinux), "deb=PATH" (the package, for its modules) and "package=NAME".
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 CACHE_DIR" >&2
  exit 2
fi
cache=$1
mkdir -p "$cache"
# Concurrent runs share the cache.
exec 9>"$cache/.lock"
flock 9

pkg=${VEIL_VM_KERNEL_PKG:-}
if [ -z "$pkg" ]; then
  pkg=$(find "$cache" -maxdepth 1 -name 'linux-image-*-cloud-amd64-unsigned_*.deb' -printf '%f\n' |
    sed 's/_.*//' | sort -V | tail -1)
fi
if [ -z "$pkg" ]; then
  pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$' |
    awk '{print $1}' | sort -V | tail -1)
  if [ -z "$pkg" ]; then
    echo "guest-kernel: apt knows no linux-image-6.1.0-*-cloud-amd64-unsigned (run apt-get update)" >&2
    exit 1
  fi
fi

deb=$(find "$cache" -maxdepth 1 -name "${pkg}_*.deb" | sort -V | tail -1)
if [ -z "$deb" ]; then
  echo "guest-kernel: downloading $pkg" >&2
  # apt drops privileges to _apt for downloads, which cannot write here: download as the caller.
  # A mirror hiccup must not fail the run: three tries, and apt's list refreshed once if the
  # package vanished from it (a newer kernel ABI replaced it).
  for attempt in 1 2 3; do
    (cd "$cache" && apt-get download -q -o APT::Sandbox::User="$(id -un)" "$pkg" >&2) && break
    echo "guest-kernel: download of $pkg failed (attempt $attempt)" >&2
    [ "$attempt" -eq 1 ] && apt-get update -qq >&2 || true
    sleep 3
  done
  deb=$(find "$cache" -maxdepth 1 -name "${pkg}_*.deb" | sort -V | tail -1)
  [ -n "$deb" ] || { echo "guest-kernel: apt-get download $pkg produced no package" >&2; exit 1; }
fi

vmlinux=$cache/$pkg.vmlinux
if [ ! -s "$vmlinux" ]; then
  tmp=$(mktemp -d "$cache/extract.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  dpkg-deb -x "$deb" "$tmp/x"
  vmlinuz=$(find "$tmp/x/boot" -name 'vmlinuz-*' | head -1)
  cp "$tmp"/x/boot/config-* "$cache/$pkg.config"
  # The bzImage carries the kernel compressed; find the stream by its magic and decompress it
  # (trailing bytes after the stream make the tools complain: the ELF header decides).
  try() { # MAGIC(grep -P) COMMAND...
    local magic=$1
    shift
    for off in $(LC_ALL=C grep -obUaP "$magic" "$vmlinuz" | cut -d: -f1); do
      tail -c +$((off + 1)) "$vmlinuz" | "$@" >"$tmp/vmlinux" 2>/dev/null || true
      if [ "$(head -c 4 "$tmp/vmlinux" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
        return 0
      fi
    done
    return 1
  }
  try '\x02\x21\x4c\x18' lz4 -dc || try '\x28\xb5\x2f\xfd' zstd -dc || try '\xfd\x37\x7a\x58\x5a\x00' xz -dc ||
    try '\x1f\x8b\x08' gzip -dc || {
    echo "guest-kernel: cannot decompress $vmlinuz" >&2
    exit 1
  }
  mv "$tmp/vmlinux" "$vmlinux.tmp"
  mv "$vmlinux.tmp" "$vmlinux"
fi

echo "kernel=$vmlinux"
echo "deb=$deb"
echo "package=$pkg"
