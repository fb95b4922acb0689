// Faults against the real run-optimizer (issue #8): SIGKILL at 20 seeded random moments, and the disk
// filling up while a checkpoint is written. Divergence (status `diverged`, exit 1, log intact), a single
// SIGKILL after many flushes, SIGINT/SIGTERM and a reader following a live log are covered in
// tests/optim/run_optimizer_tool_test.cpp and not repeated here.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "io/checkpoint.h"
#include "io/error.h"
#include "io/hdf5.h"
#include "io/provenance.h"
#include "io/run_log.h"
#include "random/random.h"
#include "support/process.h"

extern char** environ;

namespace sc = saddlescope;
namespace h5 = sc::io::h5;
namespace fs = std::filesystem;
using sc::testing::line_count;
using sc::testing::run_command;
using sc::testing::TempDir;
using sc::testing::tool_path;

namespace {

pid_t spawn_tool(const std::string& tool, std::vector<std::string> args) {
  return sc::testing::spawn_discarding_output(tool_path(tool), std::move(args));
}

// run-optimizer logging every step of a long run under a 1 MiB file-size limit (`ulimit -f 2048`,
// 512-byte blocks), so the disk "fills" while the run log is being written; `extra` adds flags.
sc::testing::ProcessResult log_until_the_disk_is_full(const std::string& log, const std::string& extra) {
  return run_command("ulimit -f 2048; exec " + tool_path("run-optimizer") +
                     " --problem rosenbrock:n=200 --optimizer sgd --lr 1e-6 --steps 100000 --trajectory-every 1" +
                     extra + " --flush-every 100 --log " + log);
}

// The log's contract after any death (io/run_log.h): it opens in SWMR-read mode, every /steps column
// has the same length T, and /steps/step is 0, 1, ..., T-1. Returns T.
hsize_t check_log(const std::string& path) {
  h5::Handle f = h5::open_file(path, false, /*swmr_read=*/true);
  const auto lengths = sc::io::run_log_step_lengths(f.get());
  EXPECT_FALSE(lengths.empty());
  if (lengths.empty()) return 0;
  const hsize_t T = lengths.front().second;
  for (const auto& [name, length] : lengths) EXPECT_EQ(length, T) << path << ": column " << name;
  h5::Handle steps = h5::open_group(f.get(), "steps");
  const auto step = h5::read_int_vector(steps.get(), "step", std::uint64_t{1} << 30);
  for (std::size_t i = 0; i < step.size(); ++i) {
    if (step[i] != static_cast<std::int64_t>(i)) {
      ADD_FAILURE() << path << ": step[" << i << "] = " << step[i];
      break;
    }
  }
  return T;
}

// Waits until the log holds at least one flushed row (SWMR read), up to 60 s (a loaded machine).
bool wait_for_rows(const std::string& path) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(path)) {
      try {
        h5::Handle f = h5::open_file(path, false, /*swmr_read=*/true);
        const auto lengths = sc::io::run_log_step_lengths(f.get());
        if (!lengths.empty() && lengths.front().second > 0) return true;
      } catch (const std::exception&) {  // not yet in SWMR mode
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

// SIGKILL at 20 moments drawn from Rng(seed 8, stream 0): 6 uniform over the first 0.3 s after the
// start (before the log exists, during its creation and the switch to SWMR mode), 14 uniform over the
// 0.6 s after the first flushed row (steady flushing with trajectory rows and periodic checkpoints).
// Every log that exists must satisfy check_log, every checkpoint that exists must read back, and h5py
// must open every log with swmr=True.
TEST(Faults, SigkillAtTwentySeededMomentsLeavesReadableLogsAndCheckpoints) {
  TempDir dir;
  sc::random::Rng rng(8, 0);
  std::vector<std::string> logs;
  int logs_with_rows = 0;
  for (int i = 0; i < 20; ++i) {
    const std::string log = dir.file("killed" + std::to_string(i) + ".h5");
    const std::string out = dir.file("final" + std::to_string(i) + ".h5");
    const bool early = i < 6;
    const auto delay = std::chrono::microseconds(static_cast<long>(rng.uniform() * (early ? 0.3e6 : 0.6e6)));
    const pid_t pid = spawn_tool("run-optimizer", {"--problem", "rosenbrock:n=8", "--optimizer", "sgd", "--lr", "1e-5",
                                                   "--steps", "1000000000", "--log", log, "--out", out,
                                                   "--flush-every", "293", "--flush-seconds", "0.005",
                                                   "--trajectory-every", "7", "--checkpoint-every", "5000"});
    if (!early) {
      EXPECT_TRUE(wait_for_rows(log)) << "no row flushed within 60 s";
    }
    std::this_thread::sleep_for(delay);
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    int status = 0;
    waitpid(pid, &status, 0);
    SCOPED_TRACE("kill " + std::to_string(i) + " after " + std::to_string(delay.count()) + " us");
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the run ended before the kill";
    if (fs::exists(log)) {
      try {
        logs_with_rows += check_log(log) > 0;
        logs.push_back(log);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "the killed run's log does not open: " << e.what();
      }
    }
    // Periodic checkpoints sit next to --out; whichever exist must be whole.
    for (const auto& entry : fs::directory_iterator(dir.file(""))) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("final" + std::to_string(i) + ".", 0) != 0 && name.rfind("final" + std::to_string(i) + "_", 0) != 0) continue;
      if (name.find(".tmp-") != std::string::npos) continue;  // a temporary the kill interrupted
      EXPECT_NO_THROW((void)sc::io::read_checkpoint(entry.path().string())) << name;
    }
  }
  EXPECT_GE(logs_with_rows, 14);  // every late kill found flushed rows
  if (std::system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") == 0 && !logs.empty()) {
    std::string py = "/usr/bin/python3 -c \"import h5py,sys\nfor p in sys.argv[1:]:\n  f=h5py.File(p,'r',swmr=True)\n"
                     "  n={len(f['steps'][k]) for k in f['steps']}\n  assert len(n)==1, (p, n)\n\"";
    for (const auto& l : logs) py += " " + l;
    EXPECT_EQ(std::system(py.c_str()), 0) << "h5py could not open a killed run's log";
  }
}

// The disk fills up while the final checkpoint is written: RLIMIT_FSIZE (`ulimit -f`, 512-byte blocks
// in /bin/sh = dash) of 256 KiB, a checkpoint of 100000 float64 (800 kB). The tool must end with one
// line on stderr and a non-zero exit code < 128 (not killed by SIGXFSZ), the previous checkpoint at
// --out must be unchanged and no temporary may be left behind.
TEST(Faults, DiskFullKeepsThePreviousCheckpoint) {
  TempDir dir;
  const std::string out = dir.file("model.h5");
  auto made = run_command(tool_path("make-checkpoint") + " --problem rosenbrock:n=3 --at 0.5,0.25,2 --out " + out);
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const auto before = sc::io::read_checkpoint(out).params;
  const auto r = run_command("ulimit -f 512; exec " + tool_path("run-optimizer") +
                             " --problem rosenbrock:n=100000 --optimizer sgd --lr 1e-6 --steps 2 --out " + out);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_LT(r.exit_code, 128) << "killed by a signal (SIGXFSZ = 25 -> 153)";
  EXPECT_EQ(line_count(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(out), std::string::npos) << r.err;
  EXPECT_EQ(sc::io::read_checkpoint(out).params, before) << "the previous checkpoint changed";
  for (const auto& entry : fs::directory_iterator(dir.file("")))
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << "left behind: " << entry.path();
}

// The same limit hit by the run log: a clear error, non-zero exit below 128, and the log as far as it
// was flushed still satisfies check_log.
TEST(Faults, DiskFullWhileLoggingEndsWithAnErrorAndAReadableLog) {
  TempDir dir;
  const std::string log = dir.file("run.h5");
  const auto r = log_until_the_disk_is_full(log, "");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_LT(r.exit_code, 128) << "killed by a signal (SIGXFSZ = 25 -> 153)";
  EXPECT_EQ(line_count(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(log), std::string::npos) << r.err;
  ASSERT_TRUE(fs::exists(log));
  EXPECT_NO_THROW(check_log(log));
  // The root `status` says the run failed and reads back, in our reader and in h5py. Before: rewriting
  // the variable-length string needed a new global-heap object past the limit, and the attribute was
  // left pointing at it (h5py: "len not positive after adjustment for EOA"); it is now a fixed-length
  // string rewritten in place (io/run_log.h).
  {
    h5::Handle f = h5::open_file(log, false, /*swmr_read=*/true);
    EXPECT_EQ(h5::read_string_attribute(f.get(), "status"), "failed");
  }
  if (std::system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") == 0) {
    const std::string py = "/usr/bin/python3 -c \"import h5py,sys\nf=h5py.File(sys.argv[1],'r',swmr=True)\n"
                           "sys.exit(0 if f.attrs['status']==b'failed' else 1)\" '" + log + "'";
    EXPECT_EQ(std::system(py.c_str()), 0) << "h5py does not read status 'failed'";
  }
}

// Regression (issue #17, item 4): the disk fills during a flush. Before, the failed flush's rows were
// visible as zeros in /trajectory and /curvature (their extents had reached the disk, their data had
// not) while /steps was right. Now every table is rolled back to the last complete flush: /trajectory
// holds the parameters of steps 0..P-1 (--trajectory-every 1: P = T, and Rosenbrock's start has no
// zero coordinate, so a row of zeros is a row never written) and /curvature the probes of steps
// 0, 5, 10, ... (--curvature-every 5).
TEST(Faults, RegressionDiskFullFlushLeavesNoRowsOfZeros) {
  TempDir dir;
  const std::string log = dir.file("run.h5");
  const auto r = log_until_the_disk_is_full(log, " --curvature-every 5");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_LT(r.exit_code, 128) << r.err;
  const hsize_t T = check_log(log);
  ASSERT_GT(T, 0u);
  h5::Handle f = h5::open_file(log, false, /*swmr_read=*/true);
  const auto trajectory_step = h5::read_int_vector(f.get(), "trajectory/step", std::uint64_t{1} << 30);
  const Eigen::MatrixXd params = h5::read_matrix(f.get(), "trajectory/params", std::uint64_t{1} << 30);
  const auto curvature_step = h5::read_int_vector(f.get(), "curvature/step", std::uint64_t{1} << 30);
  EXPECT_EQ(trajectory_step.size(), T) << "one trajectory row per step";
  for (std::size_t i = 0; i < trajectory_step.size(); ++i) {
    ASSERT_EQ(trajectory_step[i], static_cast<std::int64_t>(i)) << "trajectory row " << i;
    ASSERT_GT(params.row(static_cast<Eigen::Index>(i)).cwiseAbs().sum(), 0.0) << "trajectory row " << i << " is zeros";
  }
  EXPECT_EQ(curvature_step.size(), (T + 4) / 5) << "one probe every 5 steps";
  for (std::size_t i = 0; i < curvature_step.size(); ++i)
    ASSERT_EQ(curvature_step[i], static_cast<std::int64_t>(5 * i)) << "curvature row " << i;
}

}  // namespace
