#!/usr/bin/env bash
# Configures, builds and tests saddlescope under AddressSanitizer + UndefinedBehaviorSanitizer
# (CMakePresets.json, preset `asan`: build-asan/, RelWithDebInfo, -fno-sanitize-recover). Any sanitizer
# report fails the test that triggered it. Prints the wall-clock time of each phase.
# Usage: tools/ci_sanitize.sh [JOBS]   (default: nproc)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${1:-$(nproc)}"
start=$(date +%s)
cmake --preset asan
cmake --build --preset asan -j "$jobs"
built=$(date +%s)
ctest --preset asan -j "$jobs"
done_at=$(date +%s)
echo "ci_sanitize: build $((built - start)) s, tests $((done_at - built)) s"
