#pragma once
// Building an Objective from a description: a test-function spec string (`--problem`), or the JSON
// spec stored in a checkpoint's /objective.
//
// JSON spec kinds:
//   {"kind": "function", "function": "<test-function spec string>"}   objective/test_functions.h
//   {"kind": "mlp" | "deep_linear" | "linear_regression" | "logistic_regression", ...}
//                                                                       models/spec.h (need data)
//   {"kind": "graph", ...}   models/spec.h; only from a checkpoint, which holds the ONNX model
//                            (/objective/onnx) and buffers (/buffers) beside the spec (docs/graph.md)
// A checkpoint's network spec is checked against the length of /params before anything else is
// allocated; a data reference (/data attributes data_file, data_group) is resolved relative to the
// checkpoint's folder and read with models::read_data_file.
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "io/checkpoint.h"
#include "objective/objective.h"

namespace saddlescope::problem {

// Throws std::invalid_argument with one line naming the problem when the spec is not valid.
// `data` is the data set for objectives over data (nullptr for those without).
std::unique_ptr<objective::Objective> make_objective(const nlohmann::json& spec, const io::DataArrays* data);

// An objective and the point it is to be looked at, with where they came from.
struct Problem {
  std::unique_ptr<objective::Objective> objective;
  objective::Vector point;
  std::string source;      // "checkpoint <path>" or "problem <spec>"
  std::string input_path;  // the checkpoint's path, empty for --problem
};

// From a checkpoint: reads and validates it, resolves a referenced data file, builds the objective and
// checks that the parameter vector has the objective's dimension. Every failure is io::FileError
// (exit code 3) naming the file.
Problem load_checkpoint_problem(const std::string& path);

// For tools that build one objective per worker thread (find-critical, loss-slice): reads the checkpoint
// (and its data file) once, on the calling thread, and returns a factory that builds an independent
// objective from the copy in memory. The factory touches no file, so workers may call it at the same
// time: libhdf5 (Debian's serial build) is not thread-safe, and io's guard forks a child per file read,
// which must not happen while other threads run.
std::function<std::unique_ptr<objective::Objective>()> checkpoint_objective_factory(const std::string& path);

// From `--problem SPEC --at x1,x2,...`; `at` = "start" takes the test function's documented default
// start. Throws std::invalid_argument (exit code 2) naming the flag.
Problem make_spec_problem(const std::string& spec, const std::string& at);

// Parses "x1,x2,..." into a vector of exactly `expected` finite numbers.
objective::Vector parse_point(const std::string& text, objective::Index expected, const std::string& flag);

}  // namespace saddlescope::problem
