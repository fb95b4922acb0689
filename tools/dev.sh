#!/usr/bin/env bash
# The README's two commands:
#   bash tools/dev.sh example   install missing Debian packages, build, classify the bundled example
#   bash tools/dev.sh test      install missing Debian packages, build, run the whole test suite
# and CI's two further stages (.ci/run; docs/hardening.md):
#   bash tools/dev.sh sanitize  the whole suite under ASan + UBSan (preset asan, build-asan/)
#   bash tools/dev.sh fuzz      each libFuzzer target for SADDLESCOPE_FUZZ_SECONDS (default 60) s (build-fuzz/)
# Both are idempotent: packages already installed are not touched, and an up-to-date build is a no-op.
# SADDLESCOPE_BUILD names the build folder (default: build).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${SADDLESCOPE_BUILD:-build}
JOBS=$(nproc 2>/dev/null || echo 2)

BUILD_PACKAGES=(cmake make g++ pkg-config git libeigen3-dev libspectra-dev libboost-dev libhdf5-dev libcli11-dev
                nlohmann-json3-dev libgtest-dev hdf5-tools libopenblas-dev liblapacke-dev libonnx-dev libprotobuf-dev)
# OpenBLAS + LAPACKE: the dense path's blocked eigensolver and Bunch–Kaufman (docs/spectral.md).
# libonnx-dev + libprotobuf-dev: the ONNX importer of graph models (docs/graph.md).
# hdf5-tools gives h5clear, which clears the 'open for writing' mark a killed run leaves on its SWMR log.
# The test suite also cross-checks against PyTorch and executes notebooks with Debian's python3.
# OpenBLAS so that numpy and torch do not run on the reference BLAS. Open MPI: the MPI build and its
# tests under mpirun -n 2 / -n 3 (docs/distributed.md); installed before the first configure finds it.
TEST_PACKAGES=(python3 python3-numpy python3-scipy python3-h5py python3-torch python3-matplotlib python3-pandas
               python3-nbclient python3-nbformat python3-ipykernel python3-sklearn python3-onnx libopenblas0-pthread
               libopenmpi-dev openmpi-bin)
# libFuzzer and clang's sanitizer runtimes.
FUZZ_PACKAGES=(clang-14 libclang-rt-14-dev)

install_missing() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "dev.sh: installing missing Debian packages: ${missing[*]}" >&2
  local sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# build [TARGET...]: configure once, then build the named targets (all of them when none is named).
build() {
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >&2
  fi
  local targets=()
  [ $# -gt 0 ] && targets=(--target "$@")
  cmake --build "$BUILD_DIR" -j"$JOBS" "${targets[@]}" >&2
}

case "${1:-}" in
  example)
    install_missing "${BUILD_PACKAGES[@]}"
    # Only what the example runs: the library and one tool, not the test suite (`dev.sh test` builds
    # the rest), so a newcomer sees the verdict in a couple of minutes.
    build classify-critical
    "$BUILD_DIR/bin/classify-critical" data/examples/himmelblau_saddle.h5
    ;;
  test)
    install_missing "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
    build
    ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$JOBS"
    ;;
  sanitize)
    install_missing "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
    bash tools/ci_sanitize.sh "$JOBS"
    ;;
  fuzz)
    install_missing "${BUILD_PACKAGES[@]}" "${FUZZ_PACKAGES[@]}"
    seconds=${SADDLESCOPE_FUZZ_SECONDS:-60}
    for target in checkpoint model_spec problem_spec onnx; do
      start=$(date +%s)
      bash tools/fuzz.sh "$target" "$seconds" >&2
      echo "dev.sh fuzz: $target clean, $(( $(date +%s) - start )) s (build + ${seconds} s of fuzzing)" >&2
    done
    ;;
  *)
    echo "usage: bash tools/dev.sh example|test|sanitize|fuzz" >&2
    exit 2
    ;;
esac
