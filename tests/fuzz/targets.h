#pragma once
// The bodies of the fuzz targets (issue #8), shared by the libFuzzer entry points (tests/fuzz/*.cc,
// built with -DSADDLESCOPE_BUILD_FUZZERS=ON) and by the regression test in the normal suite
// (tests/hardening/fuzz_corpus_test.cpp), which replays every committed corpus file.
//
// Each body feeds the bytes to one parser. The documented failures are the only allowed outcome
// besides success: io::FileError for checkpoints, std::invalid_argument for specs. Anything else —
// another exception type, a crash, a sanitizer report, a leak — is a bug; other exceptions abort,
// so libFuzzer records the input.
#include <cctype>
#include <charconv>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <typeinfo>

#include "io/checkpoint.h"
#include "io/error.h"
#include "models/graph/engine.h"
#include "models/graph/onnx_import.h"
#include "objective/test_functions.h"
#include "io/json_text.h"
#include "problem/problem.h"

namespace saddlescope::fuzz {

[[noreturn]] inline void unexpected(const char* target, const std::exception& e) {
  std::fprintf(stderr, "%s: undocumented exception %s: %s\n", target, typeid(e).name(), e.what());
  std::abort();
}

// Evaluates a built objective once at a small point, so the parsed sizes are exercised too.
inline void touch(objective::Objective& f) {
  if (f.dim() <= 0 || f.dim() > 4096) return;
  const objective::Vector x = objective::Vector::Constant(f.dim(), 0.25);
  (void)f.value(x);
}

// Runs `body`; `Refusal` (the parser's documented refusal) ends it quietly, any other exception is a bug
// reported as `target`'s.
template <class Refusal, class Body>
void only_documented_refusals(const char* target, Body body) {
  try {
    body();
  } catch (const Refusal&) {
  } catch (const std::exception& e) {
    unexpected(target, e);
  }
}

// `quadratic:n=N` builds a dense random orthogonal basis: O(N^3) work, seconds under ASan for N in the
// hundreds (N = 822 took 12 s in the CI fuzz pass and tripped libFuzzer's 10 s timeout). Such inputs are
// valid and slow by design, not parser defects, so the spec targets skip them; the upper bound itself
// (n <= 16384, refused above) is tested with the real tools in tests/hardening.
inline bool costly_quadratic(const std::string& text) {
  if (text.find("quadratic") == std::string::npos) return false;
  for (std::size_t at = text.find("n="); at != std::string::npos; at = text.find("n=", at + 1)) {
    const char before = at > 0 ? text[at - 1] : ':';
    if (std::isalnum(static_cast<unsigned char>(before)) || before == '_') continue;  // e.g. "kappan="
    long long n = 0;
    const auto [end, ec] = std::from_chars(text.data() + at + 2, text.data() + text.size(), n);
    (void)end;
    if (ec == std::errc() && n > 256) return true;
  }
  // The same option as a JSON key beside the spec string: {"function": "quadratic", "n": 1000}.
  for (std::size_t at = text.find("\"n\":"); at != std::string::npos; at = text.find("\"n\":", at + 1)) {
    long long n = 0;
    const auto [end, ec] = std::from_chars(text.data() + at + 4, text.data() + text.size(), n);
    (void)end;
    if (ec == std::errc() && n > 256) return true;
  }
  return false;
}

// Bytes -> temporary file -> read_checkpoint and load_checkpoint_problem.
inline int checkpoint_target(const std::uint8_t* data, std::size_t size) {
  static const std::string path = (std::filesystem::temp_directory_path() /
                                   ("saddlescope_fuzz_ckpt_" + std::to_string(::getpid()) + ".h5")).string();
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  // read_checkpoint goes through the HDF5 guard (io/guard.h): a file that crashes or hangs libhdf5 is
  // read by a forked child first and refused with a FileError, so the fuzzer keeps running.
  try {
    (void)io::read_checkpoint(path);
  } catch (const io::FileError&) {
    return 0;  // load_checkpoint_problem starts with the same read_checkpoint and would refuse it again
  } catch (const std::exception& e) {
    unexpected("read_checkpoint", e);
  }
  only_documented_refusals<io::FileError>("load_checkpoint_problem", [&] {
    problem::Problem p = problem::load_checkpoint_problem(path);
    touch(*p.objective);
  });
  return 0;
}

// Arbitrary text -> JSON -> problem::make_objective, with a small data set for network kinds.
inline int model_spec_target(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // As the tools read JSON from outside (io/json_text.h): too deep a nesting is refused before parsing.
  const nlohmann::json spec = io::parse_json_bounded(text);
  if (spec.is_discarded()) return 0;  // not JSON: the JSON library's business, not ours
  if (costly_quadratic(spec.dump())) return 0;  // dump() undoes \u escapes
  io::DataArrays arrays;
  arrays.X = Eigen::MatrixXd::Constant(6, 4, 0.5);
  arrays.X(1, 2) = -1.0;
  arrays.y = Eigen::MatrixXd::Zero(6, 1);
  arrays.y(3, 0) = 1.0;
  only_documented_refusals<std::invalid_argument>("make_objective",
                                                  [&] { touch(*problem::make_objective(spec, &arrays)); });
  return 0;
}

// Arbitrary string -> objective::make_test_function.
inline int problem_spec_target(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (costly_quadratic(text)) return 0;
  only_documented_refusals<std::invalid_argument>("make_test_function",
                                                  [&] { touch(*objective::make_test_function(text)); });
  return 0;
}

// Arbitrary bytes -> models::graph::import_onnx (every float initializer a parameter), then, for graphs
// small enough to run, the engine compiled on two samples of zeros and evaluated once. The importer's
// and the engine's documented refusal is std::invalid_argument.
inline int onnx_target(const std::uint8_t* data, std::size_t size) {
  models::graph::GraphIR ir;
  try {
    ir = models::graph::import_onnx(std::string_view(reinterpret_cast<const char*>(data), size), {});
  } catch (const std::invalid_argument&) {
    return 0;
  } catch (const std::exception& e) {
    unexpected("import_onnx", e);
  }
  std::int64_t per_sample = 1;
  for (std::size_t i = 1; i < ir.input.shape.size(); ++i) per_sample *= ir.input.shape[i];  // bounded by the importer
  if (per_sample > 4096) return 0;
  io::DataArrays arrays;
  arrays.X = Eigen::MatrixXd::Zero(2, per_sample);
  arrays.y = Eigen::MatrixXd::Zero(2, 1);
  only_documented_refusals<std::invalid_argument>("GraphObjective", [&] {
    models::graph::GraphObjective f(std::move(ir), models::graph::GraphOptions{}, std::move(arrays));
    touch(f);
  });
  return 0;
}

}  // namespace saddlescope::fuzz
