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
// checkpoint's folder and read with io::read_data_file.
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

// Builds an independent objective (for one worker thread).
using ObjectiveFactory = std::function<std::unique_ptr<objective::Objective>()>;

// An objective and the point it is to be looked at, with where they came from: the one problem source
// of every tool that takes a problem. The checkpoint (and its data file) is read once, on the calling
// thread; everything after works from memory.
struct Problem {
  std::unique_ptr<objective::Objective> objective;
  objective::Vector point;
  std::string source;      // "checkpoint <path>" or "problem <spec>"
  std::string input_path;  // the checkpoint's path, empty for --problem
  // The checkpoint as read (a referenced data set loaded into `data`, `data_file` kept), for what a
  // tool takes from it besides the objective (optimizer state, the data reference); null for --problem.
  std::shared_ptr<const io::Checkpoint> checkpoint;
  // Builds an objective equal to `objective` from memory, touching no file, so workers may call it at
  // the same time: libhdf5 (Debian's serial build) is not thread-safe, and io's guard forks a child
  // per file read, which must not happen while other threads run.
  ObjectiveFactory factory;
};

// From a checkpoint: reads and validates it, resolves a referenced data file, builds the objective and
// checks that the parameter vector has the objective's dimension. Every failure is io::FileError
// (exit code 3) naming the file. With a `shard` of P > 1 parts (data-parallel MPI runs: part = rank,
// parts = ranks), an objective over data is built from that part's rows only and wrapped in
// parallel::DataParallelObjective, which sums over the ranks; objectives without data are unchanged.
Problem load_checkpoint_problem(const std::string& path, const io::RowShard& shard = {});

// From `--problem SPEC --at x1,x2,...`. SPEC is a test-function spec string or (starting with '{') an
// objective spec in JSON that needs no data. `at` = "start" (or empty) takes the test function's
// documented default start. Throws std::invalid_argument (exit code 2) naming the flag (`at_flag`).
Problem make_spec_problem(const std::string& spec, const std::string& at, const std::string& at_flag = "--at");

// Parses "x1,x2,..." into a vector of exactly `expected` finite numbers.
objective::Vector parse_point(const std::string& text, objective::Index expected, const std::string& flag);

}  // namespace saddlescope::problem
