// Command-line defects found by the hostile test run of 0.1.0 (issue #17, items 6, 9, 15-20), each
// pinned by a test named after it that runs the real tool and checks the exit code and the one line
// on stderr. The inputs are built at run time (flags, small JSON/TOML files, checkpoints written by
// run-optimizer and then damaged through the HDF5 C API).
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/process.h"

namespace sc = saddlescope;
using sc::testing::line_count;
using sc::testing::run_command;
using sc::testing::TempDir;
using sc::testing::tool_path;

namespace {

// `tool args` under a 2 GiB address-space limit and a 60 s timeout (none under sanitizers, whose
// shadow memory needs more); returns what happened.
sc::testing::ProcessResult run_limited(const std::string& tool, const std::string& args) {
#if defined(__SANITIZE_ADDRESS__)
  const std::string limit;
#else
  const std::string limit = "ulimit -v 2097152; ";
#endif
  return run_command("(" + limit + "exec timeout 60 " + tool_path(tool) + " " + args + ")");
}

// The refusal contract: exit code `code`, exactly one line on stderr naming every `mention`.
void expect_one_line_error(const std::string& tool, const std::string& args, int code,
                           const std::vector<std::string>& mentions) {
  SCOPED_TRACE(tool + " " + args);
  const auto r = run_limited(tool, args);
  EXPECT_EQ(r.exit_code, code) << "stderr: " << r.err;
  EXPECT_EQ(line_count(r.err), 1) << "stderr: " << r.err;
  for (const auto& m : mentions) EXPECT_NE(r.err.find(m), std::string::npos) << "'" << m << "' not in: " << r.err;
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// A checkpoint with optimizer state: `optimizer` run for 3 steps on rosenbrock:n=`n`.
std::string checkpoint_after_three_steps(const TempDir& dir, const std::string& optimizer, int n,
                                         const std::string& name) {
  const std::string path = dir.file(name);
  const auto r = run_command(tool_path("run-optimizer") + " --problem rosenbrock:n=" + std::to_string(n) +
                             " --optimizer " + optimizer + " --lr 1e-3 --steps 3 --out " + path + " --json");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return path;
}

// Opens `path` for writing, calls `damage(file)`, closes it.
template <class Damage>
void damage_file(const std::string& path, Damage&& damage) {
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0) << path;
  damage(f);
  H5Fclose(f);
}

void overwrite_vector(hid_t f, const std::string& dataset, const std::vector<double>& values) {
  const hid_t d = H5Dopen2(f, dataset.c_str(), H5P_DEFAULT);
  ASSERT_GE(d, 0) << dataset;
  ASSERT_GE(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
  H5Dclose(d);
}

// Replaces the checkpoint's /objective spec attribute by `spec`.
void rewrite_spec(const std::string& path, const std::string& spec) {
  damage_file(path, [&](hid_t f) {
    const hid_t g = H5Gopen2(f, "objective", H5P_DEFAULT);
    H5Adelete(g, "spec");
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    const hid_t space = H5Screate(H5S_SCALAR);
    const hid_t a = H5Acreate2(g, "spec", type, space, H5P_DEFAULT, H5P_DEFAULT);
    const char* text = spec.c_str();
    H5Awrite(a, type, &text);
    H5Aclose(a), H5Sclose(space), H5Tclose(type), H5Gclose(g);
  });
}

}  // namespace

// #17 item 9: a --config file nested 10^5 levels deep crashed run-optimizer (stack overflow, SIGSEGV).
TEST(CliRegressions, DeeplyNestedConfigIsAUsageErrorNotACrash) {
  TempDir dir;
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "{\"a\":";
  deep += "1";
  deep += std::string(100000, '}');
  write_text(dir.file("deep.json"), deep);
  expect_one_line_error("run-optimizer", "--problem rosenbrock --config " + dir.file("deep.json"), 2,
                        {"--config", "nested deeper than 64"});
  // The same in --problem JSON, 1000 levels deep (an argument is limited to 128 KiB).
  std::string deep_problem;
  for (int i = 0; i < 1000; ++i) deep_problem += "{\"a\":";
  deep_problem += "1" + std::string(1000, '}');
  write_text(dir.file("deep_problem.json"), deep_problem);
  expect_one_line_error("run-optimizer", "--problem \"$(cat " + dir.file("deep_problem.json") + ")\"", 2,
                        {"--problem", "nested deeper"});
}

// #17 item 17: unknown keys in --config were ignored (a typo silently changed nothing).
TEST(CliRegressions, UnknownConfigKeysAreRefused) {
  TempDir dir;
  write_text(dir.file("typo.json"), R"({"optimiser": "adam", "steps": 3})");
  expect_one_line_error("run-optimizer", "--problem rosenbrock --config " + dir.file("typo.json"), 2, {"optimiser"});
  write_text(dir.file("typo.toml"), "optimizer = \"adam\"\nstepz = 3\n");
  expect_one_line_error("run-optimizer", "--problem rosenbrock --config " + dir.file("typo.toml"), 2, {"stepz"});
}

// #17 item 16: empty values meant "not given" (--out '' ran without writing the checkpoint asked for).
TEST(CliRegressions, EmptyValuesAreRefused) {
  expect_one_line_error("run-optimizer", "--problem rosenbrock --steps 2 --out ''", 2, {"--out", "empty"});
  expect_one_line_error("run-optimizer", "--problem rosenbrock --steps 2 --log ''", 2, {"--log", "empty"});
  expect_one_line_error("run-optimizer", "--problem rosenbrock --steps 2 --x0 ''", 2, {"--x0", "empty"});
  expect_one_line_error("classify-critical", "--problem rosenbrock --at start --out ''", 2, {"--out", "empty"});
}

// #17 item 18: out-of-range integers saturated (--seed -1 and 2^64 became 2^64 - 1, --steps 10^20
// became INT64_MAX) and malformed number lists were accepted.
TEST(CliRegressions, StrictNumbersNameTheFlag) {
  expect_one_line_error("run-optimizer", "--problem rosenbrock --steps 2 --seed -1", 2, {"--seed"});
  expect_one_line_error("run-optimizer", "--problem rosenbrock --steps 2 --seed 18446744073709551616", 2, {"--seed"});
  expect_one_line_error("run-optimizer", "--problem rosenbrock --steps 99999999999999999999", 2, {"--steps"});
  expect_one_line_error("run-optimizer", "--problem rosenbrock --optimizer adam --steps 2 --betas 0.9x,0.99y", 2,
                        {"--betas"});
  expect_one_line_error("run-optimizer", "--problem rosenbrock --optimizer adam --steps 2 --betas 0.9,0.99,0.5", 2,
                        {"--betas", "exactly two"});
  expect_one_line_error("run-optimizer", "--problem rosenbrock --steps 2 --grad-noise 0.01junk,0.55junk", 2,
                        {"--grad-noise"});
  expect_one_line_error("run-optimizer", "--problem rosenbrock --steps 2 --lr 0.1x", 2, {"--lr"});
  expect_one_line_error("rmt-check", "--k 3 --samples 1e20", 2, {"--samples"});
  // The largest seed is still a seed.
  EXPECT_EQ(run_limited("run-optimizer", "--problem rosenbrock --steps 2 --seed 18446744073709551615").exit_code, 0);
}

// #12 item 5 / #17: boolean hyper-parameters are bare flags; =true and =false are accepted too.
TEST(CliRegressions, BooleanHyperParametersAreBareFlags) {
  const std::string base = "--problem rosenbrock --optimizer sgd --momentum 0.9 --steps 2 --json ";
  for (const auto& [flag, expected] : std::vector<std::pair<std::string, bool>>{
           {"--nesterov", true}, {"--nesterov=true", true}, {"--nesterov=false", false}, {"", false}}) {
    const auto r = run_limited("run-optimizer", base + flag);
    ASSERT_EQ(r.exit_code, 0) << flag << ": " << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["optimizer"]["nesterov"], expected) << flag;
  }
  expect_one_line_error("run-optimizer", base + "--nesterov=maybe", 2, {"nesterov"});
  // Every boolean field of the table is a flag.
  for (const std::string flag : {"--amsgrad", "--maximize"}) {
    const auto r = run_limited("run-optimizer", "--problem rosenbrock --optimizer adam --steps 2 --json " + flag);
    ASSERT_EQ(r.exit_code, 0) << flag << ": " << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["optimizer"][flag.substr(2)], true) << flag;
  }
  const auto centered = run_limited("run-optimizer", "--problem rosenbrock --optimizer rmsprop --steps 2 --json --centered");
  ASSERT_EQ(centered.exit_code, 0) << centered.err;
  EXPECT_EQ(nlohmann::json::parse(centered.out)["optimizer"]["centered"], true);
}

// #12 item 3: a checkpoint's test-function spec ignored keys it did not know:
// {"function": "himmelblau", "n": 10^12} loaded as Himmelblau. The command-line spec parser now reads
// those keys too, so they are refused (unknown for himmelblau, out of range for rosenbrock).
TEST(CliRegressions, CheckpointSpecKeysAreParsedLikeTheCommandLine) {
  TempDir dir;
  const std::string path = dir.file("ck.h5");
  ASSERT_EQ(run_command(tool_path("make-checkpoint") + " --problem himmelblau --at 1,2 --out " + path).exit_code, 0);
  rewrite_spec(path, R"({"kind":"function","function":"himmelblau","n":1000000000000})");
  expect_one_line_error("classify-critical", path, 3, {path, "unknown option 'n'"});
}

// #17 item 9: resuming an adam checkpoint whose /optimizer_state lacked exp_avg_sq crashed (SIGSEGV);
// item 15: NaN or negative moments and a negative step were accepted and the run diverged.
TEST(CliRegressions, DamagedOptimizerStateIsAFileError) {
  TempDir dir;
  struct Damage {
    std::string name;
    std::function<void(hid_t)> apply;
    std::string mention;
  };
  const std::vector<Damage> damages = {
      {"missing_exp_avg_sq", [](hid_t f) { H5Ldelete(f, "optimizer_state/exp_avg_sq", H5P_DEFAULT); }, "exp_avg_sq"},
      {"nan_exp_avg",
       [](hid_t f) { overwrite_vector(f, "optimizer_state/exp_avg", {std::nan(""), 0.0, 0.0}); }, "exp_avg"},
      {"negative_exp_avg_sq", [](hid_t f) { overwrite_vector(f, "optimizer_state/exp_avg_sq", {-1.0, 0.0, 0.0}); },
       "negative"},
      {"negative_step",
       [](hid_t f) {
         const hid_t g = H5Gopen2(f, "optimizer_state", H5P_DEFAULT);
         const hid_t a = H5Aopen(g, "step", H5P_DEFAULT);
         const std::int64_t step = -5;
         H5Awrite(a, H5T_NATIVE_INT64, &step);
         H5Aclose(a), H5Gclose(g);
       },
       "step"},
  };
  for (const auto& d : damages) {
    const std::string path = checkpoint_after_three_steps(dir, "adam", 3, d.name + ".h5");
    damage_file(path, d.apply);
    expect_one_line_error("run-optimizer", "--checkpoint " + path + " --optimizer adam --steps 2", 3,
                          {path, "optimizer_state", d.mention});
  }
}

// #17 item 6: every L-BFGS checkpoint with n != 3 was unreadable by every tool (its three scalars
// t, H_diag, n_iter were refused for not having n entries). For every optimizer at several n:
// save, load, resume, classify; and the resumed run (3 + 2 steps) gives the same bits as 5 steps in
// one run, so the state round trip is complete.
TEST(CliRegressions, EveryOptimizerCheckpointRoundTripsAtSeveralDimensions) {
  TempDir dir;
  for (const std::string optimizer : {"gd", "sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "newton",
                                      "saddle_free_newton", "lbfgs"}) {
    for (const int n : {2, 3, 5}) {
      SCOPED_TRACE(optimizer + " n=" + std::to_string(n));
      const std::string extra = optimizer == "sgd" ? " --momentum 0.9" : optimizer == "rmsprop" ? " --centered" : "";
      const std::string problem = "--problem rosenbrock:n=" + std::to_string(n) + " --optimizer " + optimizer + extra;
      const std::string first = dir.file(optimizer + std::to_string(n) + "_a.h5");
      const std::string second = dir.file(optimizer + std::to_string(n) + "_b.h5");
      ASSERT_EQ(run_command(tool_path("run-optimizer") + " " + problem + " --steps 3 --out " + first).exit_code, 0);
      const auto resumed = run_command(tool_path("run-optimizer") + " --checkpoint " + first + " --optimizer " + optimizer +
                                       extra + " --steps 2 --out " + second + " --json");
      ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
      const auto straight = run_command(tool_path("run-optimizer") + " " + problem + " --steps 5 --json");
      ASSERT_EQ(straight.exit_code, 0) << straight.err;
      EXPECT_EQ(nlohmann::json::parse(resumed.out)["final_point"], nlohmann::json::parse(straight.out)["final_point"]);
      for (const std::string& file : {first, second}) {
        const auto classify = run_command(tool_path("classify-critical") + " " + file + " --json");
        EXPECT_EQ(classify.exit_code, 0) << file << ": " << classify.err;
      }
    }
  }
}

// #17 item 9: rmt-check --k 100000 and --wishart-dof 1e9 ended in std::terminate (an allocation
// failing inside a parallel region); loss-slice --grid 1e8 too, and --grid 1e8,1e8 in a generic "out of
// memory". Sizes are now checked before anything is allocated.
TEST(CliRegressions, HugeSizesAreUsageErrorsBeforeAllocation) {
  expect_one_line_error("rmt-check", "--k 100000 --samples 10", 2, {"'k' = 100000"});
  expect_one_line_error("rmt-check", "--k 5 --ensemble wishart --wishart-dof 1000000000 --samples 10", 2,
                        {"wishart_dof"});
  expect_one_line_error("loss-slice", "--problem rosenbrock --at start --grid 100000000", 2, {"1e7 grid points"});
  expect_one_line_error("loss-slice", "--problem rosenbrock --at start --dims 2 --grid 1e8,1e8", 2,
                        {"1e7 grid points"});
}

// #17 items 9 and 20: --threads 1024 made libgomp print "Thread creation failed" and abort under an
// address-space limit. More threads than the machine has are capped with a one-line warning (cli/threads.h).
TEST(CliRegressions, MoreThreadsThanTheMachineHasAreCapped) {
  const auto r = run_limited("rmt-check", "--k 3 --samples 1000 --threads 1024 --json");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("libgomp"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("warning: --threads 1024 exceeds"), std::string::npos) << r.err;
  EXPECT_LE(line_count(r.err), 1) << r.err;
}

// #17 item 20: a NUL inside a quoted spec cut the error line at the NUL (what() is a C string), and a
// network spec's weight_decay of 1e308 overflowed the loss and failed naming neither file nor field.
TEST(CliRegressions, MessagesNameFileAndFieldAndSurviveANul) {
  TempDir dir;
  const std::string function = dir.file("nul.h5");
  ASSERT_EQ(run_command(tool_path("make-checkpoint") + " --problem himmelblau --at 1,2 --out " + function).exit_code, 0);
  // JSON's \u0000 puts a NUL into the parsed spec string.
  rewrite_spec(function, R"({"kind":"function","function":"himm\u0000elblau:n=3"})");
  expect_one_line_error("classify-critical", function, 3, {function, "himm\\x00elblau", "unknown function"});

  const std::string network = dir.file("wd.h5");
  ASSERT_EQ(run_command(tool_path("make-checkpoint") +
                        " --model '{\"kind\":\"linear_regression\",\"inputs\":2}' --data teacher:n=20,widths=2-1 --out " +
                        network)
                .exit_code,
            0);
  rewrite_spec(network, R"({"kind":"linear_regression","inputs":2,"weight_decay":1e308,"parameters":3})");
  expect_one_line_error("classify-critical", network, 3, {network, "weight_decay"});
}
