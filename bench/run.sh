#!/usr/bin/env bash
# `make bench`: compares veil with runc and crun on the same busybox bundle (process /bin/true).
#
#   run                  hyperfine, `X --root R run --bundle B ID` (no shell; warmup 3; BENCH_RUNS runs)
#   create/start/delete  median of BENCH_SPLIT_RUNS iterations timed in bash ($EPOCHREALTIME);
#                        between start and delete the script waits (untimed) for status "stopped"
#   peak RSS             median over BENCH_RSS_RUNS of /usr/bin/time -v "Maximum resident set size"
#                        of `X run` (wait4 rusage: the runtime and the children it reaps)
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

Benchmarks veil against runc and crun (run time, create/start/delete split, peak RSS) and writes
bench/results/runtime.md. --peers-only skips veil (benchmarks only runc and crun).
Needs root, hyperfine, jq, runc, crun, busybox-static, GNU time (/usr/bin/time), util-linux.

Environment:
  BENCH_RUNS        hyperfine runs per runtime for 'run' (default 30)
  BENCH_WARMUP      hyperfine warmup runs (default 3)
  BENCH_SPLIT_RUNS  iterations of create/start/delete per runtime (default: BENCH_RUNS)
  BENCH_RSS_RUNS    /usr/bin/time runs per runtime for peak RSS (default 10)
  BENCH_OUT         output file (default bench/results/runtime.md)
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
posint BENCH_RUNS "$runs"
posint BENCH_SPLIT_RUNS "$split_runs"
posint BENCH_RSS_RUNS "$rss_runs"
[[ "$warmup" =~ ^[0-9]+$ ]] || die "BENCH_WARMUP must be a non-negative integer, got '$warmup'"
out=${BENCH_OUT:-$repo/bench/results/runtime.md}

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
cleanup() {
  local rc=$? n id
  set +e
  for n in "${names[@]}"; do
    [ -d "$tmp/root-$n" ] || continue
    for id in $("${bin[$n]}" --root "$tmp/root-$n" list -q 2>/dev/null); do
      "${bin[$n]}" --root "$tmp/root-$n" delete --force "$id" >/dev/null 2>&1
    done
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

# --- report ------------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
version_of() { "${bin[$1]}" --version 2>/dev/null | head -n 1 || echo unknown; }

{
  echo "# OCI runtime benchmark: veil vs runc vs crun"
  echo
  echo "Generated by \`bench/run.sh\`$([ "$peers_only" -eq 0 ] || echo " --peers-only (veil skipped)")."
  echo
  echo "- Date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- Kernel: $(uname -sr) ($(uname -m)), $(nproc) CPUs, load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- cgroups: $cgroup_note"
  if [ "$peers_only" -eq 0 ]; then
    echo "- veil: $(version_of veil) (\`${bin[veil]}\`)"
  else
    echo "- veil: skipped (--peers-only)"
  fi
  echo "- runc: $(version_of runc)"
  echo "- crun: $(version_of crun)"
  echo "- $(hyperfine --version)"
  echo "- Workload: busybox bundle from \`scripts/make-bundle.sh\`, process \`/bin/true\`, each runtime with"
  echo "  its own \`--root\`, all inside \`unshare -m --propagation private\`."
  echo "- run: hyperfine median, no intermediate shell, warmup $warmup, $runs runs."
  echo "- create/start/delete: median of $split_runs iterations timed in bash (includes fork/exec of the"
  echo "  runtime); delete is timed after the container reached \`stopped\`."
  echo "- Peak RSS: median of $rss_runs \`/usr/bin/time -v\` \"Maximum resident set size\" of \`run\`."
  echo
  echo "| Runtime | run (ms) | run mean ± σ (ms) | create (ms) | start (ms) | delete (ms) | peak RSS (KiB) |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  if [ "$peers_only" -eq 1 ]; then
    echo "| veil | skipped | | | | | |"
  fi
  for n in "${names[@]}"; do
    printf '| %s | %.2f | %.2f ± %.2f | %.2f | %.2f | %.2f | %.0f |\n' "$n" "${run_med[$n]}" \
      "${run_mean[$n]}" "${run_sd[$n]}" "${create_med[$n]}" "${start_med[$n]}" "${delete_med[$n]}" \
      "${rss_med[$n]}"
  done
  echo
  echo "| Ratio | run time | peak RSS |"
  echo "|---|---:|---:|"
  for p in crun runc; do
    if [ "$peers_only" -eq 1 ]; then
      echo "| veil/$p | n/a | n/a |"
    else
      echo "| veil/$p | $(ratio "${run_med[veil]}" "${run_med[$p]}") | $(ratio "${rss_med[veil]}" "${rss_med[$p]}") |"
    fi
  done
  echo "| crun/runc | $(ratio "${run_med[crun]}" "${run_med[runc]}") | $(ratio "${rss_med[crun]}" "${rss_med[runc]}") |"
} >"$tmp/report.md"

mkdir -p "$(dirname "$out")"
cp "$tmp/report.md" "$out.tmp"
mv -f "$out.tmp" "$out"
echo
cat "$out"
echo
echo "written to ${out#"$repo"/}"
