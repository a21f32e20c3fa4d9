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
set -euo pipefail
export LC_ALL=C # '.' as decimal separator in $EPOCHREALTIME, awk and printf

prog=bench/run.sh
here=$(cd "$(dirname "$0")" && pwd -P)
repo=$(cd "$here/.." && pwd -P)

usage() {
  cat <<EOF
usage: $prog VEIL_BINARY
       $prog --peers-only [VEIL_BINARY]

Benchmarks veil against runc and crun (run time, create/start/delete split, peak RSS, exec
latency, density, containerd round trip) and writes bench/results/runtime.md. --peers-only skips veil (benchmarks only runc and crun).
Needs root, hyperfine, jq, runc, crun, busybox-static, GNU time (/usr/bin/time), util-linux,
and containerd (unless BENCH_SKIP has containerd).

Environment:
  BENCH_RUNS        hyperfine runs per runtime for 'run' (default 30)
  BENCH_WARMUP      hyperfine warmup runs (default 3)
  BENCH_SPLIT_RUNS  iterations of create/start/delete per runtime (default: BENCH_RUNS)
  BENCH_RSS_RUNS    /usr/bin/time runs per runtime for peak RSS (default 10)
  BENCH_EXEC_RUNS   hyperfine runs per runtime for 'exec' (default: BENCH_RUNS)
  BENCH_DENSITY     containers per runtime in the density run (default 50)
  BENCH_CTR_RUNS    containerd 'ctr run --rm' round trips per runtime (default 10)
  BENCH_SKIP        comma-separated parts to skip: exec, density, containerd
  BENCH_OUT         output file (default bench/results/runtime.md); with the default, the tables
                    are also written into README.md between <!-- bench:start --> and
                    <!-- bench:end -->
EOF
}

die() {
  echo "$prog: error: $*" >&2
  exit 1
}

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

posint() { # posint NAME VALUE
  [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive integer, got '$2'"
}
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
want() { [[ "$skip" != *",$1,"* ]]; }
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
need() { # need CMD PACKAGE
  command -v "$1" >/dev/null 2>&1 || missing+=("'$1' (apt-get install $2)")
}
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

# rm_cgroups REL: removes the (empty) cgroup directory REL and everything below it in every
# mounted cgroup hierarchy.
rm_cgroups() {
  local mp
  for mp in $(awk '$0 ~ / - cgroup2? / { print $5 }' /proc/self/mountinfo); do
    if [ -d "$mp/$1" ]; then
      find "$mp/$1" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    fi
  done
  return 0
}

# stop_containerd: stops the private daemon and the shims it started (they carry its socket
# address on their command line), removes what they leave outside the temp dir.
stop_containerd() {
  local p i
  if [ -n "$ctd_pid" ]; then
    kill -TERM "$ctd_pid" 2>/dev/null || true
    for i in $(seq 100); do
      kill -0 "$ctd_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$ctd_pid" 2>/dev/null || true
    wait "$ctd_pid" 2>/dev/null || true
    ctd_pid=""
  fi
  for p in $(pgrep -f -- "$ctd/containerd.sock" 2>/dev/null || true); do
    [ "$p" = $$ ] || kill -KILL "$p" 2>/dev/null || true
  done
  if [ "$run_containerd_existed" -eq 0 ]; then
    rmdir /run/containerd/s /run/containerd/fifo /run/containerd/runc /run/containerd 2>/dev/null || true
  fi
  rm_cgroups "$ctd_ns"
  return 0
}

cleanup() {
  local rc=$? n id m
  set +e
  stop_containerd
  for n in "${names[@]}"; do
    [ -d "$tmp/root-$n" ] || continue
    for id in $("${bin[$n]}" --root "$tmp/root-$n" list -q 2>/dev/null); do
      "${bin[$n]}" --root "$tmp/root-$n" delete --force "$id" >/dev/null 2>&1
    done
  done
  rm_cgroups "$density_cg"
  # Mounts containerd left under the temp dir (only after a failure), deepest first.
  for m in $(awk -v t="$tmp" '$5 == t || index($5, t "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null
  done
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$repo/scripts/make-bundle.sh" "$bundle" -- /bin/true
for n in "${names[@]}"; do mkdir -p "$tmp/root-$n"; done

# rt NAME ARGS...: runtime NAME with its own state root.
rt() {
  local n=$1
  shift
  "${bin[$n]}" --root "$tmp/root-$n" "$@"
}

# fail NAME WHAT ERRFILE: reports a runtime failure clearly and stops.
fail() {
  echo >&2
  if [ "$1" = veil ]; then
    echo "$prog: error: veil FAILED: $2" >&2
  else
    echo "$prog: error: $1 failed: $2" >&2
  fi
  if [ -s "$3" ]; then
    echo "---- its stderr ----" >&2
    tail -n 20 "$3" >&2
  fi
  if [ "$1" = veil ]; then
    echo "(run '$prog --peers-only' to benchmark only runc and crun)" >&2
  fi
  exit 1
}

# median: of the numbers on stdin (mean of the middle two for an even count).
median() {
  sort -n | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "nan"; exit }
    if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

now_us() { echo "${EPOCHREALTIME/./}"; }

# wait_stopped NAME ID: polls state until "stopped" (up to ~5 s).
wait_stopped() {
  local i s
  for i in $(seq 500); do
    s=$(rt "$1" state "$2" 2>/dev/null | jq -r .status 2>/dev/null) || s=""
    [ "$s" != stopped ] || return 0
    [ "$i" -eq 500 ] || sleep 0.01
  done
  return 1
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# --- smoke test: run works, and reusing a fixed id works (run deletes its container) -----------
echo "== smoke test (each runtime: 'run' twice with the same id, then 'list' must be empty)"
for n in "${names[@]}"; do
  err=$tmp/err-$n
  for i in 1 2; do
    rt "$n" run --bundle "$bundle" smoke </dev/null >/dev/null 2>"$err" ||
      fail "$n" "'run --bundle $bundle smoke' (attempt $i) exited non-zero" "$err"
  done
  left=$(rt "$n" list -q 2>"$err") || fail "$n" "'list -q' exited non-zero" "$err"
  [ -z "$left" ] || fail "$n" "'run' left containers behind: $left" "$err"
  echo "   $n: ok ($("${bin[$n]}" --version 2>/dev/null | head -n 1 || echo "version unknown"))"
done

# --- run: hyperfine ----------------------------------------------------------------------------
echo
echo "== run: hyperfine, warmup $warmup, $runs runs each"
hf=(hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$tmp/run.json")
for n in "${names[@]}"; do
  hf+=(-n "$n" "$(printf '%q ' "${bin[$n]}" --root "$tmp/root-$n" run --bundle "$bundle" "bench-$n")")
done
if ! "${hf[@]}"; then
  echo "$prog: error: hyperfine failed: a runtime's 'run' exited non-zero (see above)." >&2
  [ "$peers_only" -eq 1 ] || echo "(if it is veil: run '$prog --peers-only' to benchmark only runc and crun)" >&2
  exit 1
fi
declare -A run_med run_mean run_sd
for n in "${names[@]}"; do
  run_med[$n]=$(jq -r --arg n "$n" '.results[] | select(.command == $n) | .median * 1000' "$tmp/run.json")
  run_mean[$n]=$(jq -r --arg n "$n" '.results[] | select(.command == $n) | .mean * 1000' "$tmp/run.json")
  run_sd[$n]=$(jq -r --arg n "$n" '.results[] | select(.command == $n) | .stddev * 1000' "$tmp/run.json")
  left=$(rt "$n" list -q 2>/dev/null || true)
  [ -z "$left" ] || fail "$n" "'run' left containers behind after the hyperfine runs: $left" /dev/null
done

# --- create / start / delete -------------------------------------------------------------------
echo
echo "== create/start/delete: $warmup warmup + $split_runs timed iterations each (runtimes interleaved)"
for n in "${names[@]}"; do : >"$tmp/create-$n" && : >"$tmp/start-$n" && : >"$tmp/delete-$n"; done
for ((i = 1; i <= warmup + split_runs; i++)); do
  for n in "${names[@]}"; do
    id=split-$i
    err=$tmp/err-$n
    t0=$(now_us)
    rt "$n" create --bundle "$bundle" "$id" </dev/null >/dev/null 2>"$err" ||
      fail "$n" "'create --bundle $bundle $id' exited non-zero" "$err"
    t1=$(now_us)
    rt "$n" start "$id" </dev/null >/dev/null 2>"$err" || fail "$n" "'start $id' exited non-zero" "$err"
    t2=$(now_us)
    wait_stopped "$n" "$id" || fail "$n" "container $id did not reach status 'stopped' after start" /dev/null
    t3=$(now_us)
    rt "$n" delete "$id" </dev/null >/dev/null 2>"$err" || fail "$n" "'delete $id' exited non-zero" "$err"
    t4=$(now_us)
    if [ "$i" -gt "$warmup" ]; then
      echo $((t1 - t0)) >>"$tmp/create-$n"
      echo $((t2 - t1)) >>"$tmp/start-$n"
      echo $((t4 - t3)) >>"$tmp/delete-$n"
    fi
  done
  printf '.'
done
echo
declare -A create_med start_med delete_med
for n in "${names[@]}"; do
  create_med[$n]=$(median <"$tmp/create-$n" | awk '{ print $1 / 1000 }')
  start_med[$n]=$(median <"$tmp/start-$n" | awk '{ print $1 / 1000 }')
  delete_med[$n]=$(median <"$tmp/delete-$n" | awk '{ print $1 / 1000 }')
  printf '   %-5s create %8.2f ms   start %8.2f ms   delete %8.2f ms\n' "$n" \
    "${create_med[$n]}" "${start_med[$n]}" "${delete_med[$n]}"
done

# --- peak RSS ----------------------------------------------------------------------------------
echo
echo "== peak RSS of 'run': /usr/bin/time -v, $rss_runs runs each"
declare -A rss_med
for n in "${names[@]}"; do
  : >"$tmp/rss-$n"
  for ((i = 1; i <= rss_runs; i++)); do
    err=$tmp/err-$n
    /usr/bin/time -v -o "$tmp/time-$n" "${bin[$n]}" --root "$tmp/root-$n" run --bundle "$bundle" "rss-$n" \
      </dev/null >/dev/null 2>"$err" || fail "$n" "'run' under /usr/bin/time exited non-zero" "$err"
    kib=$(awk -F': *' '/Maximum resident set size/ { print $2 }' "$tmp/time-$n")
    [[ "$kib" =~ ^[0-9]+$ ]] || fail "$n" "no 'Maximum resident set size' in /usr/bin/time -v output" "$tmp/time-$n"
    echo "$kib" >>"$tmp/rss-$n"
  done
  rss_med[$n]=$(median <"$tmp/rss-$n")
  printf '   %-5s %8.0f KiB\n' "$n" "${rss_med[$n]}"
done

# --- exec latency ------------------------------------------------------------------------------
sleep_bundle=$tmp/bundle-sleep
"$repo/scripts/make-bundle.sh" "$sleep_bundle" --readonly -- sleep 100000 >/dev/null
declare -A exec_med exec_mean exec_sd
if want exec; then
  echo
  echo "== exec: hyperfine of 'X exec ID /bin/true' into a running container, warmup $warmup, $exec_runs runs each"
  hf=(hyperfine -N --warmup "$warmup" --runs "$exec_runs" --export-json "$tmp/exec.json")
  for n in "${names[@]}"; do
    err=$tmp/err-$n
    rt "$n" run -d --bundle "$sleep_bundle" "exec-$n" </dev/null >/dev/null 2>"$err" ||
      fail "$n" "'run -d' of the exec target exited non-zero" "$err"
    hf+=(-n "$n" "$(printf '%q ' "${bin[$n]}" --root "$tmp/root-$n" exec "exec-$n" /bin/true)")
  done
  if ! "${hf[@]}"; then
    echo "$prog: error: hyperfine failed: a runtime's 'exec' exited non-zero (see above)." >&2
    exit 1
  fi
  for n in "${names[@]}"; do
    exec_med[$n]=$(jq -r --arg n "$n" '.results[] | select(.command == $n) | .median * 1000' "$tmp/exec.json")
    exec_mean[$n]=$(jq -r --arg n "$n" '.results[] | select(.command == $n) | .mean * 1000' "$tmp/exec.json")
    exec_sd[$n]=$(jq -r --arg n "$n" '.results[] | select(.command == $n) | .stddev * 1000' "$tmp/exec.json")
    rt "$n" delete --force "exec-$n" >/dev/null 2>&1 || fail "$n" "'delete --force exec-$n' exited non-zero" /dev/null
  done
fi

# --- density -----------------------------------------------------------------------------------
declare -A dens_start dens_delete dens_mem dens_total dens_rss
# Memory accounting per container: the v1 memory controller when mounted, else cgroup v2.
if [ -d /sys/fs/cgroup/memory ] && [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ]; then
  mem_root=/sys/fs/cgroup/memory
  mem_file=memory.usage_in_bytes
  orig_memcg=$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)
else
  mem_root=/sys/fs/cgroup
  mem_file=memory.current
  orig_memcg=$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)
fi
if want density; then
  echo
  echo "== density: $density sleeping containers per runtime ('run -d' one after another, then 'delete --force')"
  for n in "${names[@]}"; do
    err=$tmp/err-$n
    # One config per container (its own cgroupsPath), all on the shared read-only rootfs.
    for ((i = 1; i <= density; i++)); do
      d=$tmp/density-$n/c$i
      mkdir -p "$d"
      jq --arg root "$sleep_bundle/rootfs" --arg cg "/$density_cg/$n/c$i" \
        '.root.path = $root | .root.readonly = true | .linux.cgroupsPath = $cg' \
        "$sleep_bundle/config.json" >"$d/config.json"
    done
    mkdir -p "$mem_root/$density_cg/$n/runtime"
    if [ "$mem_file" = memory.current ]; then
      # cgroup v2: the memory controller must be on in the parents for memory.current to exist.
      echo +memory >"$mem_root/cgroup.subtree_control" 2>/dev/null || true
      echo +memory >"$mem_root/$density_cg/cgroup.subtree_control" 2>/dev/null || true
      echo +memory >"$mem_root/$density_cg/$n/cgroup.subtree_control" 2>/dev/null || true
    fi
    # The runtime runs in a sibling of the containers' cgroups, so their parent's usage is what
    # the containers cost in all: also the kernel memory a runtime charges to itself (crun, for
    # one, creates the namespaces from its own process, runc and veil from inside the container's
    # cgroup).
    echo $$ >"$mem_root/$density_cg/$n/runtime/cgroup.procs"
    t0=$(now_us)
    for ((i = 1; i <= density; i++)); do
      rt "$n" run -d --bundle "$tmp/density-$n/c$i" "d$i" </dev/null >/dev/null 2>"$err" ||
        fail "$n" "'run -d' of density container d$i exited non-zero" "$err"
    done
    t1=$(now_us)
    echo $$ >"$mem_root$orig_memcg/cgroup.procs"
    total=$(cat "$mem_root/$density_cg/$n/$mem_file")
    mem=0
    rss=0
    for ((i = 1; i <= density; i++)); do
      cg=$mem_root/$density_cg/$n/c$i
      [ -r "$cg/$mem_file" ] || fail "$n" "no $cg/$mem_file for container d$i" /dev/null
      mem=$((mem + $(cat "$cg/$mem_file")))
      for p in $(cat "$cg/cgroup.procs"); do
        kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || true)
        rss=$((rss + ${kb:-0}))
      done
    done
    t2=$(now_us)
    for ((i = 1; i <= density; i++)); do
      rt "$n" delete --force "d$i" </dev/null >/dev/null 2>"$err" ||
        fail "$n" "'delete --force d$i' exited non-zero" "$err"
    done
    t3=$(now_us)
    left=$(rt "$n" list -q 2>/dev/null || true)
    [ -z "$left" ] || fail "$n" "containers left after the density run: $left" /dev/null
    rm_cgroups "$density_cg/$n"
    dens_start[$n]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1e6 }')
    dens_delete[$n]=$(awk -v a="$t2" -v b="$t3" 'BEGIN { print (b - a) / 1e6 }')
    dens_mem[$n]=$(awk -v m="$mem" -v c="$density" 'BEGIN { print m / c / 1024 }')
    dens_total[$n]=$(awk -v m="$total" -v c="$density" 'BEGIN { print m / c / 1024 }')
    dens_rss[$n]=$(awk -v r="$rss" -v c="$density" 'BEGIN { print r / c }')
    printf '   %-5s start %6.2f s   delete %6.2f s   per container: own cgroup %5.0f KiB, incl. runtime %5.0f KiB, RSS %5.0f KiB\n' \
      "$n" "${dens_start[$n]}" "${dens_delete[$n]}" "${dens_mem[$n]}" "${dens_total[$n]}" "${dens_rss[$n]}"
  done
  rm_cgroups "$density_cg"
fi

# --- containerd --------------------------------------------------------------------------------
declare -A ctr_med
ctr_image=docker.io/veilbench/busybox:latest
ctr_() { ctr -a "$ctd/containerd.sock" -n "$ctd_ns" "$@"; }
if want containerd; then
  echo
  echo "== containerd: private daemon; 'ctr run --rm' of /bin/true through each runtime as the runc v2 shim's BinaryName, $warmup warmup + $ctr_runs timed each (interleaved)"
  mkdir -p "$ctd"
  cat >"$ctd/config.toml" <<TOML
version = 2
root = "$ctd/root"
state = "$ctd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$ctd/containerd.sock"
[ttrpc]
  address = "$ctd/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
TOML
  containerd --config "$ctd/config.toml" </dev/null >"$ctd/containerd.log" 2>&1 &
  ctd_pid=$!
  up=0
  for i in $(seq 300); do
    kill -0 "$ctd_pid" 2>/dev/null || break
    if [ -S "$ctd/containerd.sock" ] && ctr_ version >/dev/null 2>&1; then
      up=1
      break
    fi
    sleep 0.1
  done
  [ "$up" -eq 1 ] || fail containerd "the private containerd did not come up within 30 s" "$ctd/containerd.log"
  "$repo/tests/clients/make-oci-image.sh" "$tmp/busybox.tar" "$ctr_image" >/dev/null 2>"$tmp/err-image" ||
    fail image "tests/clients/make-oci-image.sh failed" "$tmp/err-image"
  ctr_ image import "$tmp/busybox.tar" >/dev/null 2>"$tmp/err-image" ||
    fail containerd "'ctr image import' failed" "$tmp/err-image"
  for n in "${names[@]}"; do : >"$tmp/ctr-$n"; done
  for ((i = 1; i <= warmup + ctr_runs; i++)); do
    for n in "${names[@]}"; do
      err=$tmp/err-$n
      t0=$(now_us)
      ctr_ run --rm --runtime io.containerd.runc.v2 --runc-binary "${bin[$n]}" \
        --runc-root "$ctd/runc-$n" --fifo-dir "$ctd/fifo" "$ctr_image" "ctr-$n-$i" /bin/true \
        </dev/null >/dev/null 2>"$err" || fail "$n" "'ctr run --rm' (iteration $i) exited non-zero" "$err"
      t1=$(now_us)
      [ "$i" -le "$warmup" ] || echo $((t1 - t0)) >>"$tmp/ctr-$n"
    done
    printf '.'
  done
  echo
  for n in "${names[@]}"; do
    ctr_med[$n]=$(median <"$tmp/ctr-$n" | awk '{ print $1 / 1000 }')
    printf '   %-5s ctr run --rm %8.2f ms\n' "$n" "${ctr_med[$n]}"
  done
  stop_containerd
fi

# --- report ------------------------------------------------------------------------------------
ratio() { # ratio A B: A/B with two decimals, n/a when either is missing
  if [ -z "$1" ] || [ -z "$2" ]; then
    echo n/a
  else
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
  fi
}
fmt() { # fmt FORMAT VALUE: the formatted value, "skipped" when it was not measured
  if [ -z "$2" ]; then echo skipped; else printf "$1" "$2"; fi
}
version_of() { "${bin[$1]}" --version 2>/dev/null | head -n 1 || echo unknown; }
all_names=(veil runc crun)

# tables: the result tables (for the report and for README.md).
tables() {
  local n p
  echo "| Runtime | run (ms) | run mean ± σ (ms) | create (ms) | start (ms) | delete (ms) | peak RSS (KiB) |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for n in "${all_names[@]}"; do
    if [ -z "${run_med[$n]:-}" ]; then
      echo "| $n | skipped | | | | | |"
      continue
    fi
    printf '| %s | %.2f | %.2f ± %.2f | %.2f | %.2f | %.2f | %.0f |\n' "$n" "${run_med[$n]}" \
      "${run_mean[$n]}" "${run_sd[$n]}" "${create_med[$n]}" "${start_med[$n]}" "${delete_med[$n]}" \
      "${rss_med[$n]}"
  done
  echo
  echo "| Runtime | exec (ms) | containerd \`ctr run --rm\` (ms) | start $density (s) | delete $density (s) | memory / container: own cgroup (KiB) | memory / container: incl. runtime (KiB) | RSS / container (KiB) |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  for n in "${all_names[@]}"; do
    echo "| $n | $(fmt %.2f "${exec_med[$n]:-}") | $(fmt %.1f "${ctr_med[$n]:-}") | $(fmt %.2f "${dens_start[$n]:-}") | $(fmt %.2f "${dens_delete[$n]:-}") | $(fmt %.0f "${dens_mem[$n]:-}") | $(fmt %.0f "${dens_total[$n]:-}") | $(fmt %.0f "${dens_rss[$n]:-}") |"
  done
  echo
  echo "| Ratio | run | peak RSS | exec | ctr run --rm | start $density | memory / container incl. runtime |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for p in "veil crun" "veil runc" "crun runc"; do
    set -- $p
    echo "| $1/$2 | $(ratio "${run_med[$1]:-}" "${run_med[$2]:-}") | $(ratio "${rss_med[$1]:-}" "${rss_med[$2]:-}") | $(ratio "${exec_med[$1]:-}" "${exec_med[$2]:-}") | $(ratio "${ctr_med[$1]:-}" "${ctr_med[$2]:-}") | $(ratio "${dens_start[$1]:-}" "${dens_start[$2]:-}") | $(ratio "${dens_total[$1]:-}" "${dens_total[$2]:-}") |"
  done
}

# targets: whether veil meets the runtime targets (run median at most crun's, peak RSS ≤ 2.5 MiB).
targets() {
  [ -n "${run_med[veil]:-}" ] || return 0
  local t1 t2
  t1=$(awk -v a="${run_med[veil]}" -v b="${run_med[crun]}" 'BEGIN { print (a <= b) ? "met" : "NOT met" }')
  t2=$(awk -v a="${rss_med[veil]}" 'BEGIN { print (a <= 2560) ? "met" : "NOT met" }')
  printf -- '- Target "veil run median ≤ crun'"'"'s": %s (%.2f ms vs %.2f ms).\n' "$t1" "${run_med[veil]}" "${run_med[crun]}"
  printf -- '- Target "peak RSS of veil run ≤ 2.5 MiB (2560 KiB)": %s (%.0f KiB).\n' "$t2" "${rss_med[veil]}"
}

{
  echo "# OCI runtime benchmark: veil vs runc vs crun"
  echo
  echo "Generated by \`bench/run.sh\`$([ "$peers_only" -eq 0 ] || echo " --peers-only (veil skipped)")."
  echo
  echo "- Date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- Kernel: $(uname -sr) ($(uname -m)), $(nproc) CPUs, load average at start: $load_start, at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- cgroups: $cgroup_note"
  if [ "$peers_only" -eq 0 ]; then
    echo "- veil: $(version_of veil) (\`${bin[veil]}\`)"
  else
    echo "- veil: skipped (--peers-only)"
  fi
  echo "- runc: $(version_of runc)"
  echo "- crun: $(version_of crun)"
  echo "- $(hyperfine --version)"
  if want containerd; then
    echo "- containerd: $(containerd --version 2>/dev/null | head -n 1)"
  fi
  echo "- Workload: busybox bundle from \`scripts/make-bundle.sh\`, process \`/bin/true\`, each runtime with"
  echo "  its own \`--root\`, all inside \`unshare -m --propagation private\`."
  echo "- run: hyperfine median, no intermediate shell, warmup $warmup, $runs runs."
  echo "- create/start/delete: median of $split_runs iterations timed in bash (includes fork/exec of the"
  echo "  runtime); delete is timed after the container reached \`stopped\`."
  echo "- Peak RSS: median of $rss_runs \`/usr/bin/time -v\` \"Maximum resident set size\" of \`run\`."
  echo "- exec: hyperfine median of \`X exec ID /bin/true\` into a running \`sleep\` container, warmup"
  echo "  $warmup, $exec_runs runs."
  echo "- containerd: a private containerd (CRI plugin off, overlayfs) started inside the same mount"
  echo "  namespace; median of $ctr_runs \`ctr run --rm --runtime io.containerd.runc.v2 --runc-binary X"
  echo "  IMAGE ID /bin/true\` round trips (after $warmup warmup), runtimes interleaved; the image is the"
  echo "  busybox OCI archive of \`tests/clients/make-oci-image.sh\`."
  echo "- density: $density \`sleep\` containers per runtime, each with its own cgroupsPath, on one"
  echo "  read-only rootfs, started one after another with \`run -d\` (wall time), then removed with"
  echo "  \`delete --force\` (wall time). Memory per container, each divided by $density: \"own cgroup\" is the"
  echo "  sum of the containers' \`$mem_file\` (their processes plus the kernel memory charged there"
  echo "  during setup, e.g. namespaces a runtime creates from inside the container's cgroup); \"incl."
  echo "  runtime\" is \`$mem_file\` of their common parent, in which the runtime also ran (in a sibling"
  echo "  cgroup), so kernel memory a runtime charged to itself counts too; \"RSS\" is the sum of the"
  echo "  VmRSS of the containers' processes."
  echo
  tables
  echo
  targets
} >"$tmp/report.md"

mkdir -p "$(dirname "$out")"
cp "$tmp/report.md" "$out.tmp"
mv -f "$out.tmp" "$out"
echo
cat "$out"
echo
echo "written to ${out#"$repo"/}"

if [ "$update_readme" -eq 1 ] && grep -q '<!-- bench:start -->' "$repo/README.md" &&
  grep -q '<!-- bench:end -->' "$repo/README.md"; then
  {
    tables
    echo
    targets
    echo
    echo "Measured $(date -u +%Y-%m-%d) on $(uname -r), $(nproc) CPUs, cgroups $(echo "$cgroup_note" | cut -d' ' -f1);"
    echo "setup and method in [bench/results/runtime.md](bench/results/runtime.md)."
  } >"$tmp/readme-block.md"
  awk -v f="$tmp/readme-block.md" '
    /<!-- bench:start -->/ { print; while ((getline l < f) > 0) print l; skip = 1; next }
    /<!-- bench:end -->/ { skip = 0 }
    !skip { print }' "$repo/README.md" >"$repo/README.md.tmp"
  mv -f "$repo/README.md.tmp" "$repo/README.md"
  echo "tables written into README.md"
fi
