#!/usr/bin/env bash
# Runs the CRI pod benchmark (README.md here) and writes bench/results/cri.md.
#   bench/cri/run.sh [BUILD_DIR] [RUNS] [CONCURRENT] [HANDLERS]
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$repo/build}
runs=${2:-15}
concurrent=${3:-20}
handlers=${4:-runc,veil,veil-vm,veil-vm-runc}
cmake --build "$build" --target veil veil-vm-link vm-assets containerd-shim-veil-v2 veil_cri_bench >/dev/null
out=$repo/bench/results/cri.md
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
"$build/veil_cri_bench" "$build/veil" "$runs" "$concurrent" "$handlers" >"$tmp"
{
  cat "$tmp"
  echo
  echo "Measured $(date -u +%Y-%m-%d) on $(uname -r), $(nproc) CPUs, $(containerd --version | cut -d' ' -f3);"
  echo "method: bench/cri/README.md."
} >"$out"
cat "$out"
