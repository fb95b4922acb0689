#include "cli/app.h"

#include <hdf5.h>
#include <signal.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <new>
#include <thread>

#include "cli/threads.h"
#include "io/build_info.h"
#include "io/atomic_file.h"
#include "io/error.h"
#include "io/hdf5.h"
#include "io/result.h"
#include "objective/spec_options.h"
#include "parallel/parallel.h"

namespace saddlescope::cli {

void add_common_options(CLI::App& app, CommonOptions& options) {
  app.add_flag("--json", options.json, "Print one JSON object on stdout instead of the summary");
  app.add_option("--seed", options.seed, "Root seed of every random stream")->capture_default_str();
  app.add_option("--threads", options.threads, "Worker threads (results do not depend on it)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
}

void add_problem_options(CLI::App& app, ProblemOptions& o, const std::string& problem_example, ProblemFlags flags) {
  using At = ProblemFlags::At;
  auto* checkpoint = app.add_option(flags.old_aliases ? "checkpoint,--checkpoint" : "checkpoint", o.checkpoint,
                                    "Checkpoint file (HDF5) holding the objective and the point" +
                                        std::string(flags.old_aliases ? " (--checkpoint FILE: the same)" : ""));
  auto* problem = app.add_option("--problem", o.problem, "Test function spec instead of a checkpoint, e.g. " + problem_example);
  problem->excludes(checkpoint);
  if (flags.at == At::kAbsent) return;
  auto* at = app.add_option("--at", o.at,
                            flags.at == At::kRequired
                                ? "Point for --problem: comma-separated coordinates, or 'start' for the function's default start"
                                : "Starting point: comma-separated coordinates, or 'start' (the default with --problem: the "
                                  "function's default start; with a checkpoint: its parameters)");
  if (flags.at == At::kRequired) {
    problem->needs(at);
    at->needs(problem);
  }
  if (flags.old_aliases) app.add_option("--x0", o.x0, "The same as --at (the earlier spelling)")->excludes(at);
}

problem::Problem load_problem(const ProblemOptions& o) {
  if (o.checkpoint.empty() && o.problem.empty())
    throw std::invalid_argument("give a checkpoint file, or --problem SPEC --at x1,x2,...|start");
  const std::string& at = o.x0.empty() ? o.at : o.x0;
  const std::string at_flag = o.x0.empty() ? "--at" : "--x0";
  if (o.checkpoint.empty()) return problem::make_spec_problem(o.problem, at, at_flag);
  problem::Problem p = problem::load_checkpoint_problem(o.checkpoint, o.data_parallel ? data_shard() : io::RowShard{});
  if (!at.empty() && at != "start") p.point = problem::parse_point(at, p.objective->dim(), at_flag);
  return p;
}

void apply_threads(int threads) {
  const ThreadSetting s = set_threads(threads);
  if (!s.note.empty()) std::cerr << "warning: " << s.note << std::endl;
}

namespace {

// The same option name as CLI11 prints it: "--seed", or the positional's name.
std::string option_name(const CLI::Option& option) {
  return option.get_lnames().empty() ? option.get_name() : "--" + option.get_lnames().front();
}

}  // namespace

void check_given_values(const CLI::App& app) {
  for (const CLI::Option* option : app.get_options()) {
    if (option->count() == 0 || option->get_expected_max() == 0) continue;  // not given, or a flag
    // CLI11 appends its validators' names ("INT:NONNEGATIVE"): the type is the first word.
    const std::string full_type = option->get_type_name();
    const std::string type = full_type.substr(0, full_type.find(':'));
    for (const std::string& value : option->results()) {
      if (value.empty())
        throw std::invalid_argument(option_name(*option) + ": an empty value is not allowed (leave the option out instead)");
      bool ok = true;
      if (type == "UINT") {
        std::uint64_t v = 0;
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
        ok = ec == std::errc() && end == value.data() + value.size();
      } else if (type == "INT") {
        ok = objective::parse_integer(value).has_value();
      } else if (type == "FLOAT") {
        double v = 0;
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
        ok = ec == std::errc() && end == value.data() + value.size();
      }
      if (!ok)
        throw std::invalid_argument(option_name(*option) + ": '" + value + "' is not " +
                                    (type == "UINT"  ? "an integer in [0, 2^64 - 1]"
                                     : type == "INT" ? "an integer in [-2^63, 2^63 - 1]"
                                                     : "a number"));
    }
  }
}

int run_tool(CLI::App& app, int argc, char** argv, const std::function<int()>& run) {
  const std::string tool = app.get_name();
  app.set_version_flag("--version", tool + " (saddlescope) " + io::library_version() + ", commit " + io::git_commit());
  // A file-size limit (ulimit -f) would otherwise kill the tool with SIGXFSZ and a core dump in the
  // middle of a write; ignored, the write fails with EFBIG and ends as one error line like a full disk.
  ::signal(SIGXFSZ, SIG_IGN);
  // HDF5 1.10's exit handler (H5_term_library) segfaults in H5F__close_cb on a file whose close failed
  // (a full disk while the metadata cache was written), turning a clean error into a crash after the
  // message. Every file of ours is closed by its RAII handle before run_tool returns, so the handler
  // has nothing to do: switch it off (must come before the first HDF5 call; harmless if too late).
  H5dont_atexit();
  // Under mpirun every rank runs the same tool; rank 0 alone prints and writes (docs/distributed.md).
  // Without a launcher this does nothing (MPI is not started).
  try {
    parallel::initialize(&argc, &argv);
  } catch (const std::exception& e) {
    std::cerr << tool << ": error: " << e.what() << std::endl;
    return kComputationFailed;
  }
  struct Finalize {
    ~Finalize() { parallel::finalize(); }
  } finalize_on_return;
  if (!parallel::is_root() && std::freopen("/dev/null", "w", stdout) == nullptr) std::fclose(stdout);
  auto fail = [&](int code, const std::string& message) {
    std::fflush(stdout);
    // One line whatever the message quotes (a spec or path from a hostile file may hold newlines or
    // terminal escapes): control characters are shown as \xNN.
    const std::string line = objective::printable(message);
    if (parallel::size() > 1) {
      // A failing rank cannot finish the collectives the others wait in: it names itself and ends the
      // whole job (MPI_Abort) with the exit code. No result file is half-written: rank 0 writes only
      // after every rank has reached the write (write_result_file).
      std::cerr << tool << ": error: [" << parallel::rank_label() << "] " << line << std::endl;
      parallel::abort_job(code);
    }
    std::cerr << tool << ": error: " << line << std::endl;
    return code;
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string message = e.what();
    if (message.empty()) message = e.get_name();
    // Every rank parses the same argv and fails the same way: rank 0 says it once, all exit with 2.
    if (parallel::size() > 1) {
      if (parallel::is_root()) std::cerr << tool << ": error: " << message << " (see --help)" << std::endl;
      return kUsageError;
    }
    return fail(kUsageError, message + " (see --help)");
  }
  try {
    check_given_values(app);
    return run();
  } catch (const io::FileError& e) {
    return fail(kBadInputFile, e.what());
  } catch (const std::invalid_argument& e) {
    return fail(kUsageError, e.what());
  } catch (const std::bad_alloc&) {
    return fail(kComputationFailed, "out of memory");
  } catch (const std::exception& e) {
    return fail(kComputationFailed, e.what());
  }
}

void print_json(const nlohmann::json& object) {
  // Non-finite numbers become null (JSON has no inf/nan); error_handler replace keeps invalid UTF-8
  // from aborting the dump.
  std::cout << object.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
}

io::Provenance provenance(const std::string& tool, int argc, char** argv, const nlohmann::json& seeds) {
  io::Provenance p = io::Provenance::capture(tool, argc, argv);
  p.seeds = seeds;
  return p;
}

bool writes_files() { return parallel::is_root(); }

io::RowShard data_shard() { return {parallel::rank(), parallel::size()}; }

void write_result_file(const std::string& out, const std::string& tool, int argc, char** argv, std::uint64_t seed,
                       const std::string& input_path, const nlohmann::json& summary,
                       const std::function<void(hid_t)>& body) {
  // Every rank comes here with the same result; rank 0 writes once all have arrived, so a rank that
  // failed earlier (and aborted the job) leaves no file, not even a temporary one.
  parallel::barrier();
  if (!parallel::is_root()) return;
  io::AtomicH5File file(out);
  try {
    io::write_result_header(file.get(), provenance(tool, argc, argv, {{"seed", seed}}), tool, input_path, summary);
    body(file.get());
  } catch (const io::h5::Hdf5Error& e) {
    throw io::FileError(out, std::string("cannot be written: ") + e.what());
  }
  file.commit();
}

}  // namespace saddlescope::cli
