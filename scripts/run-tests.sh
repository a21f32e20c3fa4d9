#!/usr/bin/env bash
# Runs every test (unit and integration) with CTest, then the fuzz targets for a short fixed time
# (fuzz/run.sh), and prints one summary line:
#   "N passed, N failed, N skipped"
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
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
# The fuzz targets, a short fixed time each (make fuzz runs them longer): counted in the summary.
fuzz_log=$(mktemp)
(cd "$repo" && ./fuzz/run.sh --seconds "${FUZZ_SECONDS:-10}") 2>&1 | tee "$fuzz_log"
fuzz_rc=${PIPESTATUS[0]}
fp=$(grep -oE '^fuzz: [0-9]+ passed' "$fuzz_log" | grep -oE '[0-9]+' | tail -1)
ff=$(grep -oE '^fuzz: [0-9]+ passed, [0-9]+ failed' "$fuzz_log" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')
rm -f "$fuzz_log"
passed=$((passed + ${fp:-0}))
failed=$((failed + ${ff:-1}))
[ "$fuzz_rc" -ne 0 ] && rc=1
echo "summary: $passed passed, $failed failed, $skipped skipped"
exit "$rc"
