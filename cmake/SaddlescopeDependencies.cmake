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
if(SADDLESCOPE_BUILD_TESTS)
  saddlescope_require(GTest libgtest-dev)
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
