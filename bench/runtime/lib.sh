# Helpers of bench/runtime/run.sh (sourced; they use its variables: prog, tmp, bin, names, ctd,
# ctd_pid, ctd_ns, density_cg, run_containerd_existed).

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

posint() { # posint NAME VALUE
  [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive integer, got '$2'"
}
need() { # need CMD PACKAGE
  command -v "$1" >/dev/null 2>&1 || missing+=("'$1' (apt-get install $2)")
}

want() { [[ "$skip" != *",$1,"* ]]; }

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
