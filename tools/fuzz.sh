#!/usr/bin/env bash
# Builds (clang 14, preset `fuzz`: build-fuzz/) and runs one libFuzzer target for SECONDS seconds.
# Usage: tools/fuzz.sh TARGET SECONDS [extra libFuzzer flags]
#   TARGET: checkpoint | model_spec | problem_spec | onnx     (tests/fuzz/fuzz_TARGET.cc)
# Needs Debian's clang-14 and libclang-rt-14-dev (libFuzzer and the sanitizer runtimes).
# The seed corpus tests/fuzz/corpus/TARGET is read; new inputs go to build-fuzz/corpus/TARGET (not
# committed). A crash is written to build-fuzz/artifacts/TARGET/crash-*: fix it, then copy the file into
# tests/fuzz/corpus/TARGET/ so the normal suite (test_hardening, FuzzCorpus) replays it for ever.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:?usage: tools/fuzz.sh TARGET SECONDS}"
seconds="${2:?usage: tools/fuzz.sh TARGET SECONDS}"
shift 2
case "$target" in checkpoint|model_spec|problem_spec|onnx) ;; *) echo "fuzz.sh: unknown target '$target'" >&2; exit 2 ;; esac
if [ ! -f build-fuzz/CMakeCache.txt ]; then cmake --preset fuzz >/dev/null; fi
cmake --build --preset fuzz --target "fuzz_$target" -j "$(nproc)"
mkdir -p "build-fuzz/corpus/$target" "build-fuzz/artifacts/$target"
# Leaks: malloc is unwound slowly (full stacks through libhdf5, which has no frame pointers), so the
# suppressions in tests/fuzz/lsan.supp — leaks inside libhdf5 on corrupt files, named by the libhdf5
# function that leaks — match exactly those and never hide a leak whose stack passes through our code.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:fast_unwind_on_malloc=0}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# The checkpoint target reads through the HDF5 guard (lib/io/guard.h), whose watchdog must end a hang
# in libhdf5 well before libFuzzer's own -timeout=10 calls the input a hang of the target.
export SADDLESCOPE_HDF5_GUARD_TIMEOUT="${SADDLESCOPE_HDF5_GUARD_TIMEOUT:-3}"
exec "build-fuzz/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -artifact_prefix="build-fuzz/artifacts/$target/" "$@" "build-fuzz/corpus/$target" "tests/fuzz/corpus/$target"
