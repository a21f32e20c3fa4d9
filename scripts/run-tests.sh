#!/usr/bin/env bash
# Runs every test (unit and integration) with CTest and prints one summary line:
#   "N passed, N failed, N skipped"
set -uo pipefail
build_dir=${1:-build}
cd "$build_dir"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
ctest --output-on-failure --timeout 300 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
total=$(grep -oE 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
failed=$(grep -oE '[0-9]+ tests failed out of' "$log" | grep -oE '^[0-9]+' | tail -1)
skipped=$(grep -cE '\*\*\*Skipped|Not Run' "$log")
total=${total:-0}; failed=${failed:-0}
passed=$((total - failed - skipped))
if [ "$skipped" -gt 0 ]; then
  echo "Skipped tests (reason printed by each test above):"
  grep -E '\*\*\*Skipped' "$log" | sed 's/^/  /'
fi
echo "summary: $passed passed, $failed failed, $skipped skipped"
exit "$rc"
