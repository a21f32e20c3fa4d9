#!/usr/bin/env bash
# Runs the microvm benchmark (README.md here) and writes bench/results/microvm.md.
#   bench/microvm/run.sh [BUILD_DIR] [RUNS] [IDLE]
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$repo/build}
runs=${2:-10}
idle=${3:-20}
cmake --build "$build" --target veil veil-vm-link vm-assets veil_microvm_bench >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$repo/scripts/make-bundle.sh" "$tmp/b" -- echo hello >/dev/null
out=$repo/bench/results/microvm.md
"$build/veil_microvm_bench" "$build/veil" "$tmp/b" "$runs" "$idle" >"$tmp/report.md"
{
  cat "$tmp/report.md"
  echo
  echo "Measured $(date -u +%Y-%m-%d) on $(uname -r), $(nproc) CPUs; method: bench/microvm/README.md."
} >"$out"
cat "$out"
