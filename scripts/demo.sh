#!/usr/bin/env bash
# `make demo`: shows veil running a busybox container, then walks through the OCI lifecycle
# (create, state, list, start, state, kill, delete, list) on a second container.
# Everything lives in a temp dir (bundles and veil's --root); it is removed at exit, after
# force-deleting any container left behind. Exits non-zero if any step fails.
set -euo pipefail

prog=$(basename "$0")
here=$(cd "$(dirname "$0")" && pwd -P)

usage() {
  cat <<EOF
usage: $prog VEIL_BINARY

Runs the veil demo with VEIL_BINARY (normally build/veil; 'make demo' builds it and passes it).
Needs root, jq and busybox-static. Any runc-compatible runtime works as VEIL_BINARY.
EOF
}

die() {
  echo "$prog: error: $*" >&2
  exit 1
}

case "${1:-}" in
  -h | --help)
    usage
    exit 0
    ;;
  "")
    usage >&2
    exit 2
    ;;
esac
[ $# -eq 1 ] || { usage >&2; exit 2; }

VEIL=$1
if [ ! -e "$VEIL" ] && command -v "$VEIL" >/dev/null 2>&1; then
  VEIL=$(command -v "$VEIL")
fi
[ -e "$VEIL" ] || die "veil binary not found: $VEIL (build it first: make build)"
if [ ! -f "$VEIL" ] || [ ! -x "$VEIL" ]; then
  die "not an executable file: $VEIL"
fi
VEIL=$(readlink -f "$VEIL")
[ "$(id -u)" -eq 0 ] || die "must run as root (containers need namespaces and mounts)"
command -v jq >/dev/null 2>&1 || die "'jq' not found; install it: apt-get install jq"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/veil-demo.XXXXXX")
root=$tmp/root
run_bundle=$tmp/bundle-run
life_bundle=$tmp/bundle-sleep
run_id=demo-$$
life_id=demo-$$-sleep

# veil with this demo's own state directory.
veil() { "$VEIL" --root "$root" "$@"; }

guard_bin=$(dirname "$VEIL")/veil-guard
guard_pid=""
export VEIL_GUARD_DIR=$tmp/guard VEIL_GUARD_BPFFS=/sys/fs/bpf/veil-demo-$$

cleanup() {
  local rc=$? id
  set +e
  if [ -n "$guard_pid" ]; then
    kill "$guard_pid" 2>/dev/null
    wait "$guard_pid" 2>/dev/null
    "$guard_bin" unload >/dev/null 2>&1
  fi
  if [ -d "$root" ]; then
    for id in $(veil list -q 2>/dev/null) "$run_id" "$life_id"; do
      veil delete --force "$id" >/dev/null 2>&1
    done
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

failed() {
  echo >&2
  echo "$prog: FAILED: $*" >&2
  exit 1
}

# step DESCRIPTION COMMAND: prints what it does and the command, runs it, stops the demo on failure.
# COMMAND is one pipeline (as a string, so that `| jq .` reads naturally); `veil` is the function above.
step() {
  printf '\n==> %s\n$ %s\n' "$1" "$2"
  if ! eval "$2"; then
    failed "$1"
  fi
}

# wait_status ID STATUS: polls `veil state` until the container reports STATUS (up to ~5 s).
wait_status() {
  local i status=""
  for i in $(seq 50); do
    status=$(veil state "$1" 2>/dev/null | jq -r .status) || status=""
    if [ "$status" = "$2" ]; then
      echo "(status is now '$2')"
      return 0
    fi
    [ "$i" -eq 50 ] || sleep 0.1
  done
  echo "expected status '$2' for $1, last seen '${status:-<none>}'" >&2
  return 1
}

# not_listed ID: succeeds if `veil list -q` works and does not show ID.
not_listed() {
  local ids
  ids=$(veil list -q) || return 1
  ! grep -qx -- "$1" <<<"$ids"
}

echo "veil demo"
echo "  binary : $VEIL ($("$VEIL" --version 2>/dev/null | head -n 1 || true))"
echo "  root   : $root (veil is the shell function: $VEIL --root $root)"
echo "  bundles: $run_bundle, $life_bundle"

step "making a busybox bundle for the demo container (its process: /bin/sh /demo.sh)" \
  "$(printf '%q ' "$here/make-bundle.sh" "$run_bundle" -- /bin/sh /demo.sh)>/dev/null"
# The demo container reports on itself from the inside.
cat >"$run_bundle/rootfs/demo.sh" <<'EOF'
echo "hostname: $(hostname)"
echo "id: $(id)"
echo "my pid: $$"
echo "processes (ps):"
ps
echo "mounts (/proc/self/mounts):"
cat /proc/self/mounts
EOF
echo "/demo.sh in the container:"
sed 's/^/    /' "$run_bundle/rootfs/demo.sh"
step "making a second bundle whose process is 'sleep 30'" \
  "$(printf '%q ' "$here/make-bundle.sh" "$life_bundle" -- sleep 30)>/dev/null"

step "running container $run_id: prints its hostname, id, pid list (it is pid 1) and mounts" \
  "veil run --bundle $run_bundle $run_id </dev/null"
step "checking that 'run' deleted $run_id when it exited (not in the list)" \
  "not_listed $run_id"

echo
echo "---- lifecycle of container $life_id ----"
step "create: sets up $life_id; its process waits for 'start'" \
  "veil create --bundle $life_bundle $life_id </dev/null"
step "state: $life_id should be 'created'" \
  "veil state $life_id | jq ."
step "(check) status is 'created'" "wait_status $life_id created"
step "list: all containers under this root" \
  "veil list"
step "start: runs 'sleep 30' inside $life_id" \
  "veil start $life_id"
step "state: $life_id should be 'running'" \
  "veil state $life_id | jq ."
step "(check) status is 'running'" "wait_status $life_id running"
step "kill: sends SIGKILL to $life_id's process" \
  "veil kill $life_id KILL"
step "(check) waiting for $life_id to be 'stopped'" "wait_status $life_id stopped"
step "delete: removes the stopped container $life_id" \
  "veil delete $life_id"
step "list: $life_id is gone" \
  "veil list"
step "(check) $life_id is not listed" \
  "not_listed $life_id"

echo
echo "---- the guard: a binary dropped into a running sandbox does not run ----"
if [ ! -x "$guard_bin" ]; then
  echo "(skipped: no veil-guard next to $VEIL)"
elif ! "$guard_bin" check --json | jq -e '.tp_btf' >/dev/null; then
  echo "(skipped: this host cannot load the guard's BPF programs; see: $VEIL check)"
else
  guard_bundle=$tmp/bundle-guard
  step "making a bundle with the annotation org.veil.guard.policy=default" \
    "$(printf '%q ' "$here/make-bundle.sh" "$guard_bundle" -- /bin/sh /attack.sh)>/dev/null"
  jq '.annotations["org.veil.guard.policy"]="default"' "$guard_bundle/config.json" >"$tmp/c.json"
  mv "$tmp/c.json" "$guard_bundle/config.json"
  cat >"$guard_bundle/rootfs/attack.sh" <<'EOS'
cp /bin/busybox /tmp/busybox
/tmp/busybox echo "the dropped copy ran (it should not have)"
echo "exec of /tmp/busybox, copied in after start: exit status $?"
/bin/busybox echo "the image's own /bin/busybox still runs"
EOS
  sleep 1 # the bundle's files must predate the container
  "$guard_bin" daemon >"$tmp/guard.log" 2>&1 &
  guard_pid=$!
  for _ in $(seq 100); do
    [ -S "$VEIL_GUARD_DIR/events.sock" ] && break
    sleep 0.05
  done
  step "how this host enforces each protection" "$VEIL check | tail -n +9"
  step "running the guarded container: it copies busybox to /tmp and tries to run the copy" \
    "veil run --bundle $guard_bundle demo-$$-guard </dev/null"
  step "the audit event (from $VEIL_GUARD_DIR/audit.jsonl)" \
    "sleep 0.2; grep '\"type\":\"event\"' $VEIL_GUARD_DIR/audit.jsonl | jq ."
fi

echo
echo "demo finished: all steps succeeded"
