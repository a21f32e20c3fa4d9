#!/usr/bin/env bash
# cgroup v2 for real (CTest label vm-cgroup2): boots Debian 12's cloud kernel in QEMU (TCG, the
# microvm machine, as tests/guard_vm) with a pure cgroup2 hierarchy and the static veil of this
# build, runs tests/cgroup_v2_vm/guest-init.sh there (memory limit and OOM, update, cpu, pids,
# pause/resume through cgroup.freeze, the BPF device program, events stats and OOM, delete), and
# fails unless every check reports ok.
#   run.sh VEIL CACHE_DIR
set -uo pipefail
veil=${1:?usage: run.sh VEIL CACHE_DIR} cache=${2:?usage: run.sh VEIL CACHE_DIR}
here=$(cd "$(dirname "$0")" && pwd -P)
expected=17
if ! qemu-system-x86_64 -machine help >/dev/null 2>&1; then
  echo "SKIPPED: qemu-system-x86_64 cannot run here (apt-get install qemu-system-x86)"
  exit 77
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/veil-cg2vm.XXXXXX")
trap 'rm -rf "$out"' EXIT
guest=$("$here/../guard_vm/make-guest.sh" "$cache" "$out" "$here/guest-init.sh" "$veil") || {
  echo "FAILED: could not build the guest"
  exit 1
}
kernel=$(sed -n 's/^kernel=//p' <<<"$guest") initrd=$(sed -n 's/^initrd=//p' <<<"$guest")
mhz=$(awk -F: '/cpu MHz/ {print $2; exit}' /proc/cpuinfo)
khz=$(awk -v m="${mhz:-2445}" 'BEGIN {printf "%d", m * 1000}')
log=$out/console.log
for attempt in 1 2; do
  # One VM suite at a time on these 2-core machines (the guard's VM test takes the same lock).
  flock /tmp/veil-vm.lock timeout 300 qemu-system-x86_64 -M microvm -accel tcg -m 512 -smp 1 \
    -nodefaults -no-user-config -display none -serial stdio -no-reboot -kernel "$kernel" \
    -initrd "$initrd" -append "console=ttyS0 quiet panic=-1 tsc_early_khz=$khz" \
    </dev/null >"$log" 2>&1
  grep -q '^RESULT ' "$log" && break # a boot that hung before the guest ran: once more
  echo "boot attempt $attempt produced nothing; retrying"
done
tr -d '\r' <"$log" | grep -E '^(RESULT|CGROUP2-)' || true
ok=$(grep -c '^RESULT .* ok' "$log")
bad=$(grep -c '^RESULT .* FAIL' "$log")
if ! grep -q CGROUP2-DONE "$log" || [ "$bad" -ne 0 ] || [ "$ok" -ne "$expected" ]; then
  echo "FAILED: $ok of $expected checks ok, $bad failed; the console's tail:"
  tail -40 "$log"
  exit 1
fi
echo "cgroup v2 guest: all $ok checks ok"
