#pragma once
// The command-line contract every tool shares (DESIGN.md): --help, --version, --json, --seed,
// --threads, and one place that maps exceptions to exit codes:
//   0 success; 1 the computation failed (did not converge, diverged); 2 usage error (bad flag or
//   value: CLI::ParseError, std::invalid_argument); 3 unreadable or invalid input file (io::FileError).
// Errors are one line on stderr: "<tool>: error: <what>".
#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include <hdf5.h>

#include "io/provenance.h"
#include "problem/problem.h"

namespace saddlescope::cli {

enum ExitCode : int { kSuccess = 0, kComputationFailed = 1, kUsageError = 2, kBadInputFile = 3 };

struct CommonOptions {
  bool json = false;          // one JSON object on stdout, nothing else there
  std::uint64_t seed = 0;     // root seed of every random stream
  int threads = 1;            // worker threads (Eigen/OpenMP); results do not depend on it
};

// Adds --json, --seed and --threads to `app`.
void add_common_options(CLI::App& app, CommonOptions& options);

// Where a tool's objective and point come from — the one command-line language of every tool that
// takes a problem: a checkpoint (positional), or --problem SPEC with --at x1,x2,...|start.
// add_problem_options wires the options and their rules; load_problem reads the checkpoint once and
// builds the Problem (io::FileError for a bad checkpoint, std::invalid_argument for bad flags or when
// neither source is given). Workers get their own objectives from Problem::factory. `data_parallel`:
// under mpirun, a checkpoint's objective over data is split by rows, each rank reading its shard
// (problem::load_checkpoint_problem; docs/distributed.md); tools whose work items each need the whole
// objective (find-critical, loss-slice) leave it off.
struct ProblemOptions {
  std::string checkpoint;
  std::string problem;
  std::string at;
  std::string x0;  // the old spelling of --at (run-optimizer), kept as an alias
  bool data_parallel = false;  // under mpirun: shard the data set over the ranks (not a flag)
};
struct ProblemFlags {
  // kRequired: --problem needs --at (the point is the question). kOptional: without --at the test
  // function's default start; with a checkpoint, --at replaces its parameters (run-optimizer's
  // starting point). kAbsent: no --at (find-critical samples its own starts).
  enum class At { kRequired, kOptional, kAbsent } at = At::kRequired;
  // run-optimizer's earlier spellings, documented as aliases: --checkpoint FILE for the positional
  // checkpoint, --x0 for --at.
  bool old_aliases = false;
};
void add_problem_options(CLI::App& app, ProblemOptions& options, const std::string& problem_example,
                         ProblemFlags flags = {});
problem::Problem load_problem(const ProblemOptions& options);

// Runs `parse` (which parses the value of `flag`) and rethrows its std::invalid_argument prefixed with
// "<flag>: ", so every refused value names its flag: "--schedule: unknown schedule 'x' (known: ...)".
template <class Parse>
auto parse_flag(const std::string& flag, Parse&& parse) -> decltype(parse()) {
  try {
    return parse();
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    if (what.rfind(flag, 0) == 0) throw;  // already names the flag
    throw std::invalid_argument(flag + ": " + what);
  }
}

// The values given, strictly (run_tool calls it after parsing): an empty value is refused (never read
// as "not given": --out '' is an error), integers are whole-string integers of their type (no
// saturation: --steps 99999999999999999999 and --seed -1 are refused, where CLI11 alone would give
// INT64_MAX and 2^64 - 1), numbers are whole-string numbers. std::invalid_argument naming the option.
void check_given_values(const CLI::App& app);

// Applies --threads to Eigen, OpenMP and OpenBLAS, capped at the available cores with a warning on
// stderr when it caps (cli/threads.h says why).
void apply_threads(int threads);

// Parses argv with `app` (after adding --version), then calls `run`. Every exception is turned
// into its exit code and one line on stderr. `run` returns the exit code of a completed run.
// Under an MPI launcher it also starts MPI (parallel::initialize) and finalizes it on return; ranks
// other than 0 print nothing on stdout, and an exception on any rank prints one line naming that rank
// and ends the job with the exit code (parallel::abort_job).
int run_tool(CLI::App& app, int argc, char** argv, const std::function<int()>& run);

// Prints a JSON object on stdout (indented, one trailing newline).
void print_json(const nlohmann::json& object);

// The provenance of the running tool, with seeds filled in.
io::Provenance provenance(const std::string& tool, int argc, char** argv, const nlohmann::json& seeds);

// Whether this process writes files: rank 0 under MPI, always otherwise.
bool writes_files();
// This rank's part of a data set in a data-parallel run (the whole data set with one process).
io::RowShard data_shard();

// Writes `out` atomically as a result file of `tool` (on rank 0 only, after every rank arrived): the provenance (argv, seed), the header of
// io::write_result_header (the input file and its SHA-256 when `input_path` is not empty, the
// summary), then whatever `body` adds. Any HDF5 failure becomes io::FileError naming `out`.
void write_result_file(const std::string& out, const std::string& tool, int argc, char** argv, std::uint64_t seed,
                       const std::string& input_path, const nlohmann::json& summary,
                       const std::function<void(hid_t)>& body);

}  // namespace saddlescope::cli
