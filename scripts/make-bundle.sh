#!/usr/bin/env bash
# Creates a minimal OCI bundle backed by busybox-static:
#   DIR/rootfs      busybox + one symlink per applet in /bin, the usual empty dirs,
#                   /etc/passwd, /etc/group (root and nobody), /etc/hostname
#   DIR/config.json `runc spec` (or `crun spec`) edited with jq: terminal=false,
#                   hostname "veil", process.args from the arguments after `--`
# Safe to call again on an existing bundle: everything is rewritten in place.
set -euo pipefail

prog=$(basename "$0")

usage() {
  cat <<EOF
usage: $prog DIR [--readonly] [-- ARG...]

Creates an OCI bundle in DIR (DIR/rootfs and DIR/config.json).

  --readonly   make the container's root filesystem read-only (root.readonly=true);
               by default it is writable
  -- ARG...    the container process's args (default: sh)

Examples:
  $prog /tmp/b                          # process: sh
  $prog /tmp/b -- /bin/true             # process: /bin/true
  $prog /tmp/b --readonly -- sleep 30
EOF
}

die() {
  echo "$prog: error: $*" >&2
  exit 1
}

dir=""
readonly_root=false
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help)
      usage
      exit 0
      ;;
    --readonly)
      readonly_root=true
      shift
      ;;
    --)
      shift
      args=("$@")
      break
      ;;
    -*)
      usage >&2
      die "unknown option: $1"
      ;;
    *)
      [ -z "$dir" ] || { usage >&2; die "unexpected argument: $1 (process args go after --)"; }
      dir=$1
      shift
      ;;
  esac
done
[ -n "$dir" ] || { usage >&2; die "missing DIR"; }
[ ${#args[@]} -gt 0 ] || args=(sh)

# --- tools -------------------------------------------------------------------------------------
need() { # need CMD PACKAGE
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found; install it: apt-get install $2"
}
need jq jq
busybox_bin=$(command -v busybox 2>/dev/null) || die "'busybox' not found; install it: apt-get install busybox-static"
busybox_bin=$(readlink -f "$busybox_bin")
if ldd "$busybox_bin" >/dev/null 2>&1; then
  die "$busybox_bin is dynamically linked; install the static one: apt-get install busybox-static"
fi
if command -v runc >/dev/null 2>&1; then
  spec_tool=runc
elif command -v crun >/dev/null 2>&1; then
  spec_tool=crun
else
  die "neither 'runc' nor 'crun' found (needed for 'spec'); install it: apt-get install runc"
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd -P)
rootfs=$dir/rootfs

tmp=$(mktemp -d "${TMPDIR:-/tmp}/make-bundle.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# --- rootfs ------------------------------------------------------------------------------------
mkdir -p "$rootfs"
for d in bin proc sys dev tmp etc root var run; do
  mkdir -p "$rootfs/$d"
done
chmod 1777 "$rootfs/tmp"
chmod 0700 "$rootfs/root"

# Copy, then rename into place: works even if a container of an earlier bundle is running it.
cp "$busybox_bin" "$rootfs/bin/.busybox.new"
chmod 0755 "$rootfs/bin/.busybox.new"
mv -f "$rootfs/bin/.busybox.new" "$rootfs/bin/busybox"

# One relative symlink per applet (busybox lists itself; skip that). perl makes them in one
# process (~20 ms); the ln fallback costs one fork per applet (~0.4 s).
"$busybox_bin" --list | grep -vx -e busybox -e '' >"$tmp/applets"
grep -qx sh "$tmp/applets" || echo sh >>"$tmp/applets"
if command -v perl >/dev/null 2>&1; then
  (cd "$rootfs/bin" && perl -ne 'chomp; unlink $_; symlink("busybox", $_) or die "symlink $_: $!\n"' \
    "$tmp/applets")
else
  (cd "$rootfs/bin" && xargs -I{} ln -sfn busybox {} <"$tmp/applets")
fi

cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
EOF
echo veil >"$rootfs/etc/hostname"

# --- config.json -------------------------------------------------------------------------------
# `spec` refuses to overwrite, so generate in the temp dir and edit into place.
(cd "$tmp" && "$spec_tool" spec) || die "'$spec_tool spec' failed"
args_json=$(jq -cn '$ARGS.positional' --args -- "${args[@]}")
jq --argjson args "$args_json" --argjson ro "$readonly_root" '
  .process.terminal = false
  | .process.args = $args
  | .hostname = "veil"
  | .root.path = "rootfs"
  | .root.readonly = $ro
' "$tmp/config.json" >"$tmp/config.json.new"
mv -f "$tmp/config.json.new" "$dir/config.json"
