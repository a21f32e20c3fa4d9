#!/usr/bin/env bash
# `make bench`: compares veil with runc and crun on the same busybox bundle (process /bin/true).
#
#   run                  hyperfine, `X --root R run --bundle B ID` (no shell; warmup 3; BENCH_RUNS runs)
#   create/start/delete  median of BENCH_SPLIT_RUNS iterations timed in bash ($EPOCHREALTIME);
#                        between start and delete the script waits (untimed) for status "stopped"
#   peak RSS             median over BENCH_RSS_RUNS of /usr/bin/time -v "Maximum resident set size"
#                        of `X run` (wait4 rusage: the runtime and the children it reaps)
#   exec                 hyperfine, `X exec ID /bin/true` into a running `sleep` container
#   density              BENCH_DENSITY sleeping containers per runtime started one after another
#                        with `run -d` (total time), memory per container (sum of the containers'
#                        cgroup memory usage, and the RSS sum of their processes, / count), then
#                        `delete --force` of all of them (total time)
#   containerd           a private containerd (its own root, state and socket under the temp dir,
#                        CRI plugin off) with a busybox OCI image (tests/clients/make-oci-image.sh);
#                        median of BENCH_CTR_RUNS `ctr run --rm --runc-binary X IMAGE ID /bin/true`
#                        round trips: X is the runc v2 shim's BinaryName, the RuntimeClass path
#
# Everything runs inside `unshare -m --propagation private`; if /sys/fs/cgroup/unified/cgroup.controllers
# exists (hybrid cgroups) /dev/null is bind-mounted over it there, because crun refuses hybrid hosts.
# All three runtimes see that same view. Each runtime gets its own --root under a temp dir.
# Writes bench/results/runtime.md (or $BENCH_OUT) and prints it.
#
# This file: arguments, tools, the private mount namespace and the setup; the helpers are in
# lib.sh, the measurements in latency.sh (smoke test, run, create/start/delete, peak RSS, exec),
# density.sh and containerd.sh, the report in report.sh. They share this shell's variables.
set -euo pipefail
export LC_ALL=C # '.' as decimal separator in $EPOCHREALTIME, awk and printf

prog=bench/runtime/run.sh
here=$(cd "$(dirname "$0")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)

# shellcheck source=bench/runtime/lib.sh
. "$here/lib.sh"

# --- arguments ---------------------------------------------------------------------------------
peers_only=0
veil=""
orig_args=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help)
      usage
      exit 0
      ;;
    --peers-only)
      peers_only=1
      shift
      ;;
    -*)
      usage >&2
      die "unknown option: $1"
      ;;
    *)
      [ -z "$veil" ] || { usage >&2; die "unexpected argument: $1"; }
      veil=$1
      shift
      ;;
  esac
done
if [ "$peers_only" -eq 0 ] && [ -z "$veil" ]; then
  usage >&2
  die "missing VEIL_BINARY (or pass --peers-only)"
fi

runs=${BENCH_RUNS:-30}
warmup=${BENCH_WARMUP:-3}
split_runs=${BENCH_SPLIT_RUNS:-$runs}
rss_runs=${BENCH_RSS_RUNS:-10}
ctr_runs=${BENCH_CTR_RUNS:-10}
exec_runs=${BENCH_EXEC_RUNS:-$runs}
density=${BENCH_DENSITY:-50}
skip=",${BENCH_SKIP:-},"
for part in $(echo "${BENCH_SKIP:-}" | tr ',' ' '); do
  case "$part" in
    containerd | exec | density) ;;
    *) die "BENCH_SKIP: unknown part '$part' (exec, density, containerd)" ;;
  esac
done
posint BENCH_CTR_RUNS "$ctr_runs"
posint BENCH_EXEC_RUNS "$exec_runs"
posint BENCH_DENSITY "$density"
posint BENCH_RUNS "$runs"
posint BENCH_SPLIT_RUNS "$split_runs"
posint BENCH_RSS_RUNS "$rss_runs"
[[ "$warmup" =~ ^[0-9]+$ ]] || die "BENCH_WARMUP must be a non-negative integer, got '$warmup'"
out=${BENCH_OUT:-$repo/bench/results/runtime.md}
update_readme=0
[ -n "${BENCH_OUT:-}" ] || update_readme=1

# --- tools -------------------------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || die "must run as root (containers need namespaces and mounts)"
missing=()
need hyperfine hyperfine
need jq jq
need runc runc
need crun crun
need busybox busybox-static
need unshare util-linux
need mount mount
need awk mawk
[ -x /usr/bin/time ] || missing+=("'/usr/bin/time' (apt-get install time)")
if want containerd; then
  need containerd containerd
  need ctr containerd
  need containerd-shim-runc-v2 containerd
  need pgrep procps
fi
if [ ${#missing[@]} -gt 0 ]; then
  printf '%s: error: missing tools:\n' "$prog" >&2
  printf '  %s\n' "${missing[@]}" >&2
  exit 1
fi
[ -x "$repo/scripts/make-bundle.sh" ] || die "missing $repo/scripts/make-bundle.sh"

if [ "$peers_only" -eq 0 ]; then
  if [ ! -e "$veil" ]; then
    die "veil binary not found: $veil
  build it first (make build), or run '$prog --peers-only' to benchmark only runc and crun"
  fi
  if [ ! -f "$veil" ] || [ ! -x "$veil" ]; then
    die "veil binary is not an executable file: $veil"
  fi
  veil=$(readlink -f "$veil")
fi

# --- private mount namespace -------------------------------------------------------------------
if [ "${VEIL_BENCH_IN_NS:-}" != 1 ]; then
  exec env VEIL_BENCH_IN_NS=1 unshare -m --propagation private -- "$0" "${orig_args[@]}"
fi
cgroup_note="cgroup v2 (unified)"
[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] || cgroup_note="cgroup v1"
if [ -e /sys/fs/cgroup/unified/cgroup.controllers ]; then
  mount --bind /dev/null /sys/fs/cgroup/unified/cgroup.controllers ||
    die "cannot bind-mount /dev/null over /sys/fs/cgroup/unified/cgroup.controllers"
  cgroup_note="hybrid (v1 controllers + cgroup2 at /sys/fs/cgroup/unified); /dev/null bind-mounted over unified/cgroup.controllers for all runtimes (crun refuses hybrid hosts otherwise)"
fi

# --- setup -------------------------------------------------------------------------------------
names=()
[ "$peers_only" -eq 1 ] || names+=(veil)
names+=(runc crun)
declare -A bin
bin[veil]=$veil
bin[runc]=$(command -v runc)
bin[crun]=$(command -v crun)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/veil-bench.XXXXXX")
bundle=$tmp/bundle
ctd=$tmp/containerd
ctd_pid=""
ctd_ns=veilbench-$$
density_cg=veil-bench-density-$$
run_containerd_existed=0
[ ! -e /run/containerd ] || run_containerd_existed=1

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$repo/scripts/make-bundle.sh" "$bundle" -- /bin/true
for n in "${names[@]}"; do mkdir -p "$tmp/root-$n"; done

load_start=$(cut -d' ' -f1-3 /proc/loadavg)

. "$here/latency.sh"
. "$here/density.sh"
. "$here/containerd.sh"
. "$here/report.sh"
