#!/usr/bin/env bash
# Builds and runs the guard benchmark (root: it loads BPF programs and runs containers);
# writes bench/results/guard.md. Usage: bench/guard/run.sh [runs-per-row]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-7}
./scripts/build.sh veil veil-guard guard_bench gbench >/dev/null
mkdir -p bench/results
build/src/guard/guard_bench --veil build/veil --guard build/veil-guard \
  --helper build/src/guard/gbench --source . --runs "$runs" | tee bench/results/guard.md
