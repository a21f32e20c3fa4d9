#!/usr/bin/env bash
# Builds the libFuzzer targets (clang 16, ASan + UBSan) in build-fuzz and runs each for a fixed
# time on a copy of its seed corpus (fuzz/corpus/<target>), then prints, per target, executions,
# coverage (edges, features) and corpus size, and one line "fuzz: N passed, N failed".
#   fuzz/run.sh [--seconds N] [TARGET...]      (default: 10 s each, every target)
# `make test` runs it for 10 s each, `make fuzz` for 60 (FUZZ_SECONDS). A crash, leak or UB report
# fails its target; the input is kept as build-fuzz/artifacts/<target>-crash-… — add it to the
# corpus and a regression test (docs/fuzzing.md).
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-10}
if [ "${1:-}" = "--seconds" ]; then seconds=$2; shift 2; fi
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(oci_spec seccomp annotations guard_policy kbs_request jose tpm state vm_frames ttrpc tsm snp dcap)
dir=${FUZZ_BUILD_DIR:-build-fuzz}
cc=$(command -v clang-16 || true)
cxx=$(command -v clang++-16 || true)
if [ -z "$cxx" ]; then
  echo "fuzz: clang++-16 not found (scripts/install-deps.sh installs clang-16 libclang-rt-16-dev)" >&2
  echo "fuzz: 0 passed, ${#targets[@]} failed"
  exit 1
fi
# libstdc++ 12 hides std::expected unless __cpp_concepts >= 202002; clang 16 implements what
# <expected> needs (P0848) but still reports 201907.
flags="-U__cpp_concepts -D__cpp_concepts=202002L -Wno-builtin-macro-redefined -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
(
  exec 9>/tmp/veil-build.lock
  flock 9
  if [ ! -f "$dir/Makefile" ]; then
    CC=$cc CXX=$cxx cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVEIL_FUZZ=ON \
      -DVEIL_TESTS=OFF -DVEIL_STATIC=OFF "-DCMAKE_CXX_FLAGS=$flags" "-DCMAKE_C_FLAGS=$flags" \
      >/dev/null || exit 1
  else
    cmake "$dir" >/dev/null || exit 1  # a new target in fuzz/CMakeLists.txt
  fi
  cmake --build "$dir" -j "${JOBS:-$(nproc)}" --target "${targets[@]/#/fuzz_}" >"$dir/build.log" 2>&1 ||
    { tail -30 "$dir/build.log" >&2; exit 1; }
) || { echo "fuzz: build failed"; echo "fuzz: 0 passed, ${#targets[@]} failed"; exit 1; }

mkdir -p "$dir/artifacts"
passed=0 failed=0
printf '%-14s %8s %10s %8s %8s %7s  %s\n' target seconds execs exec/s cov ft corpus
for t in "${targets[@]}"; do
  work="$dir/corpus/$t"
  mkdir -p "$work"
  cp -n fuzz/corpus/"$t"/* "$work"/ 2>/dev/null
  log="$dir/$t.log"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$dir/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$dir/artifacts/$t-" "$work" >"$log" 2>&1
  rc=$?
  execs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  rate=$(grep -oE 'stat::average_exec_per_sec: +[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
  ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
  n=$(ls "$work" | wc -l)
  printf '%-14s %8s %10s %8s %8s %7s  %s\n' "$t" "$seconds" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$n"
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "  FAILED ($rc): $(grep -m1 -E 'ERROR|SUMMARY|runtime error' "$log")" >&2
    ls "$dir/artifacts/$t-"* 2>/dev/null | sed 's/^/  input: /' >&2
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
