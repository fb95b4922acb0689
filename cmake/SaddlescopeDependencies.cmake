# Every dependency comes from a Debian package; when one is missing we say which package to install.
function(saddlescope_require package debian_package)
  find_package(${package} ${ARGN} QUIET)
  if(NOT ${package}_FOUND)
    message(FATAL_ERROR "saddlescope needs ${package}: install the Debian package '${debian_package}' "
                        "(apt-get install ${debian_package}), or run tools/dev.sh, which installs what is missing.")
  endif()
endfunction()

saddlescope_require(Eigen3 libeigen3-dev 3.4 NO_MODULE)
saddlescope_require(Spectra libspectra-dev NO_MODULE)
saddlescope_require(Boost libboost-dev 1.74 CONFIG)
saddlescope_require(nlohmann_json nlohmann-json3-dev 3 NO_MODULE)
saddlescope_require(CLI11 libcli11-dev NO_MODULE)
saddlescope_require(OpenMP libgomp1)
# ONNX import (lib/models/graph/onnx_import.cpp): Debian's libonnx-dev ships a CMake config whose
# onnx_proto target links protobuf::libprotobuf, which FindProtobuf defines (libprotobuf-dev).
saddlescope_require(Protobuf libprotobuf-dev)
saddlescope_require(ONNX libonnx-dev CONFIG)
set(HDF5_PREFER_PARALLEL OFF)
find_package(HDF5 COMPONENTS C QUIET)
if(NOT HDF5_FOUND)
  message(FATAL_ERROR "saddlescope needs HDF5 (C library): install the Debian package 'libhdf5-dev'.")
endif()
# The dense path (dense eigenvalues, inertia) runs on LAPACK's blocked kernels over OpenBLAS: Debian's
# libopenblas-dev (libopenblas.so, which carries LAPACK too) and liblapacke-dev (the C interface).
find_library(SADDLESCOPE_OPENBLAS_LIBRARY NAMES openblas)
find_library(SADDLESCOPE_LAPACKE_LIBRARY NAMES lapacke)
find_path(SADDLESCOPE_LAPACKE_INCLUDE_DIR NAMES lapacke.h)
if(NOT SADDLESCOPE_OPENBLAS_LIBRARY)
  message(FATAL_ERROR "saddlescope needs OpenBLAS: install the Debian package 'libopenblas-dev' "
                      "(apt-get install libopenblas-dev), or run tools/dev.sh, which installs what is missing.")
endif()
if(NOT SADDLESCOPE_LAPACKE_LIBRARY OR NOT SADDLESCOPE_LAPACKE_INCLUDE_DIR)
  message(FATAL_ERROR "saddlescope needs LAPACKE: install the Debian package 'liblapacke-dev' "
                      "(apt-get install liblapacke-dev), or run tools/dev.sh, which installs what is missing.")
endif()
if(SADDLESCOPE_BUILD_TESTS)
  saddlescope_require(GTest libgtest-dev)
endif()
# MPI (docs/distributed.md): built when Debian's Open MPI is installed, unless switched off. The tools
# start MPI only when a launcher (mpirun, srun) started them, so a plain run does not touch it.
if(NOT DEFINED SADDLESCOPE_MPI OR SADDLESCOPE_MPI)
  find_package(MPI COMPONENTS C QUIET)
endif()
option(SADDLESCOPE_MPI "Build MPI support (data-parallel objectives, work-parallel sweeps)" ${MPI_C_FOUND})
if(SADDLESCOPE_MPI AND NOT MPI_C_FOUND)
  message(FATAL_ERROR "SADDLESCOPE_MPI is ON but no MPI was found: install the Debian packages 'libopenmpi-dev openmpi-bin', "
                      "or configure with -DSADDLESCOPE_MPI=OFF.")
endif()

# Warnings and machine flags for our own targets only (never global add_compile_options).
add_library(saddlescope_build_flags INTERFACE)
target_compile_options(saddlescope_build_flags INTERFACE -Wall -Wextra -Wpedantic)
if(SADDLESCOPE_NATIVE)
  # GCC 12's AVX-512 intrinsic headers trip -Wmaybe-uninitialized on '__Y' when Eigen's packet code
  # is inlined (GCC bug 105593, a false positive inside the compiler's own headers).
  target_compile_options(saddlescope_build_flags INTERFACE -march=native
                         $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>)
endif()
if(SADDLESCOPE_BUILD_FUZZERS)
  # Instrument everything of ours for libFuzzer's coverage feedback, with ASan + UBSan; the fuzz
  # executables add -fsanitize=fuzzer at link time (tests/fuzz/CMakeLists.txt).
  target_compile_options(saddlescope_build_flags INTERFACE -fsanitize=fuzzer-no-link,address,undefined
                         -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(saddlescope_build_flags INTERFACE -fsanitize=address,undefined)
endif()
if(SADDLESCOPE_SANITIZE)
  target_compile_options(saddlescope_build_flags INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(saddlescope_build_flags INTERFACE -fsanitize=address,undefined)
endif()
