#!/usr/bin/env bash
# Configures and builds veil in build/ (or $BUILD_DIR). Builds are serialised with a lock so that
# two builds never run at once on a small machine.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}
exec 9>/tmp/veil-build.lock
flock 9
if [ ! -f "$build_dir/Makefile" ]; then
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" ${CMAKE_ARGS:-} >/dev/null
fi
# Arguments are target names (none: everything).
if [ $# -gt 0 ]; then
  cmake --build "$build_dir" -j "$jobs" --target "$@"
else
  cmake --build "$build_dir" -j "$jobs"
fi
