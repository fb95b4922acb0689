// The tools under `mpirun -n 2` and `mpirun -n 3 --oversubscribe` against one plain process
// (docs/distributed.md): work-parallel sweeps give the same bits (their JSON is compared as text, with
// wall-clock fields removed); data-parallel objectives agree to 1e-12 (reduction order); a rank that
// fails ends the job with its message and leaves no result file. Skipped, with the reason, when the
// library was built without MPI or mpirun is missing.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "io/checkpoint.h"
#include "parallel/parallel.h"
#include "support/process.h"

namespace sc = saddlescope;
using sc::testing::run_command;
using sc::testing::TempDir;

namespace {

// As root Open MPI refuses to start without these; more ranks than cores need --oversubscribe.
std::string mpirun(int ranks) {
  return "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_base_warn_component_unused=0 "
         "mpirun --oversubscribe -n " +
         std::to_string(ranks) + " ";
}

#define SKIP_WITHOUT_MPI()                                                                                   \
  do {                                                                                                       \
    if (!sc::parallel::built_with_mpi())                                                                     \
      GTEST_SKIP() << "built with SADDLESCOPE_MPI=OFF (no Open MPI at configure time): nothing to run";   \
    if (run_command("command -v mpirun").exit_code != 0)                                                     \
      GTEST_SKIP() << "mpirun is not on PATH (install openmpi-bin)";                                         \
  } while (0)

// Removes wall-clock fields ("seconds", "monte_carlo_seconds", "samples_per_second", ...): the only parts
// of a result that may differ between runs.
void strip_timings(nlohmann::json& j) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end();) {
      const std::string& key = it.key();
      auto ends_with = [&](const std::string& tail) {
        return key.size() >= tail.size() && key.compare(key.size() - tail.size(), tail.size(), tail) == 0;
      };
      if (ends_with("seconds") || ends_with("per_second")) {
        it = j.erase(it);
      } else {
        strip_timings(*it);
        ++it;
      }
    }
  } else if (j.is_array()) {
    for (auto& e : j) strip_timings(e);
  }
}

nlohmann::json run_json(const std::string& launcher, const std::string& tool, const std::string& args) {
  const auto r = run_command(launcher + sc::testing::tool_path(tool) + " " + args + " --json");
  EXPECT_EQ(r.exit_code, 0) << launcher << tool << " " << args << "\nstderr: " << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "stdout is not one JSON object:\n" << r.out;
  strip_timings(j);
  return j;
}

// Work-parallel: the JSON of 2 and 3 ranks is the JSON of one process, character for character
// (nlohmann prints doubles with 17 significant digits, which round-trip: equal text, equal bits).
void expect_bitwise(const std::string& tool, const std::string& args) {
  const std::string one = run_json("", tool, args).dump();
  for (int ranks : {2, 3}) EXPECT_EQ(run_json(mpirun(ranks), tool, args).dump(), one) << tool << " on " << ranks << " ranks";
}

// Data-parallel: every number within 1e-12 of one process's, relative to max(1, |value|): the P partial
// sums of a product round differently from one sum over N (a few ulps of O(1) terms), and the solvers
// on top are backward stable, so their outputs move by the same order. Strings and counts must match.
void expect_close(const nlohmann::json& a, const nlohmann::json& b, const std::string& where) {
  if (a.is_number_float() || b.is_number_float()) {
    ASSERT_TRUE(a.is_number() && b.is_number()) << where;
    const double x = a.get<double>(), y = b.get<double>();
    EXPECT_LE(std::abs(x - y), 1e-12 * std::max({1.0, std::abs(x), std::abs(y)})) << where << ": " << x << " vs " << y;
  } else if (a.is_object()) {
    ASSERT_TRUE(b.is_object()) << where;
    EXPECT_EQ(a.size(), b.size()) << where;
    for (auto it = a.begin(); it != a.end(); ++it) {
      ASSERT_TRUE(b.contains(it.key())) << where << "/" << it.key();
      expect_close(*it, b[it.key()], where + "/" + it.key());
    }
  } else if (a.is_array()) {
    ASSERT_TRUE(b.is_array()) << where;
    ASSERT_EQ(a.size(), b.size()) << where;
    for (std::size_t i = 0; i < a.size(); ++i) expect_close(a[i], b[i], where + "/" + std::to_string(i));
  } else {
    EXPECT_EQ(a, b) << where;
  }
}

void expect_data_parallel(const std::string& tool, const std::string& args) {
  const nlohmann::json one = run_json("", tool, args);
  for (int ranks : {2, 3}) expect_close(run_json(mpirun(ranks), tool, args), one, tool + " on " + std::to_string(ranks) + " ranks");
}

class MpiTools : public ::testing::Test {
 protected:
  // An MLP over 301 samples (3 ranks get 100, 100, 101 rows) with weight decay, so the regulariser
  // must be counted once.
  void make_mlp_checkpoint() {
    const auto r = run_command(
        sc::testing::tool_path("make-checkpoint") +
        " --model '{\"kind\":\"mlp\",\"widths\":[4,12,3],\"activation\":\"tanh\",\"loss\":\"cross_entropy\","
        "\"weight_decay\":0.001}' --data mixture:n=301,classes=3,dim=4,seed=2 --init xavier --seed 3 --out " +
        checkpoint_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  TempDir dir_;
  std::string checkpoint_ = dir_.file("mlp.h5");
};

TEST_F(MpiTools, RmtCheckIsBitwiseIdenticalOnAnyNumberOfRanks) {
  SKIP_WITHOUT_MPI();
  // Monte Carlo blocks and splitting repetitions are the work items.
  expect_bitwise("rmt-check", "--ensemble goe --k 1:4 --samples 6000 --method auto --min-hits 2000 --seed 11");
}

// Thermodynamic integration's (repetition, node) chains and endpoint samples are work items dealt out over
// the ranks (and the threads); two k values at once, so their items share one sequence (docs/distributed.md).
TEST_F(MpiTools, RmtCheckIntegrationIsBitwiseIdenticalOnAnyNumberOfRanks) {
  SKIP_WITHOUT_MPI();
  expect_bitwise("rmt-check",
                 "--ensemble goe --k 4,7 --method integration --nodes 5 --sweeps 200 --burn-in 100 "
                 "--endpoint-samples 2000 --repetitions 3 --no-exact --seed 8 --threads 2");
}

// k values are dealt out with their items: one Monte Carlo block per k (fewer items per k than ranks), and
// under auto the k with few hits go on to integration (goe) in a second stage, again across k.
TEST_F(MpiTools, RmtCheckDealsTheItemsOfAllKValuesOutTogether) {
  SKIP_WITHOUT_MPI();
  expect_bitwise("rmt-check",
                 "--ensemble goe --k 1:7 --samples 3000 --method auto --min-hits 300 --nodes 4 --sweeps 150 "
                 "--burn-in 100 --endpoint-samples 1500 --repetitions 2 --no-exact --seed 12");
  expect_bitwise("rmt-check",
                 "--ensemble diagonal --k 1:5 --samples 3000 --method auto --min-hits 300 --repetitions 2 --seed 13");
}

TEST_F(MpiTools, FindCriticalIsBitwiseIdenticalOnAnyNumberOfRanks) {
  SKIP_WITHOUT_MPI();
  expect_bitwise("find-critical", "--problem himmelblau --starts 25 --box=-5,5 --seed 5 --threads 2");
}

TEST_F(MpiTools, LossSliceIsBitwiseIdenticalOnAnyNumberOfRanks) {
  SKIP_WITHOUT_MPI();
  expect_bitwise("loss-slice", "--problem rosenbrock:n=6 --at start --dims 2 --grid 9,7 --curvature --chunk 7 --seed 2 --threads 2");
}

// loss-slice --resume under mpirun: rank 0 reads the partial file and hands the other ranks the plan and the
// done points (docs/distributed.md). The resumed grid is the uninterrupted one-process grid, bit for bit,
// whichever number of ranks wrote the first part and resumes it.
TEST_F(MpiTools, LossSliceResumedOnSeveralRanksIsBitwiseTheUninterruptedRun) {
  SKIP_WITHOUT_MPI();
  const std::string args = "--problem rosenbrock:n=6 --at start --dims 2 --grid 9,7 --curvature --chunk 7 --seed 2";
  nlohmann::json whole = run_json("", "loss-slice", args);
  // Only these differ between a resumed and an uninterrupted run: how the points were split over runs.
  auto drop_run_split = [](nlohmann::json& j) {
    j.erase("points_computed_now");
    j.erase("points_done_before");
  };
  drop_run_split(whole);
  for (const auto& [first, resume] : std::vector<std::pair<int, int>>{{1, 2}, {1, 3}, {3, 2}}) {
    const std::string out = dir_.file("slice_" + std::to_string(first) + "_" + std::to_string(resume) + ".h5");
    const std::string launcher = first == 1 ? std::string() : mpirun(first);
    const auto partial = run_command(launcher + sc::testing::tool_path("loss-slice") + " " + args + " --out " + out +
                                     " --max-points 20");
    ASSERT_EQ(partial.exit_code, 0) << partial.err;
    nlohmann::json resumed = run_json(mpirun(resume), "loss-slice", args + " --out " + out + " --resume");
    EXPECT_EQ(resumed["points_done_before"], 20) << first << " then " << resume << " ranks";
    drop_run_split(resumed);
    EXPECT_EQ(resumed.dump(), whole.dump()) << "written on " << first << " ranks, resumed on " << resume;
  }
}

// A partial file whose settings differ from the resuming run's is refused by rank 0, which ends the job.
TEST_F(MpiTools, LossSliceResumeOfAMismatchedFileOnSeveralRanksEndsTheJob) {
  SKIP_WITHOUT_MPI();
  const std::string out = dir_.file("slice.h5");
  const std::string tool = sc::testing::tool_path("loss-slice") + " --problem rosenbrock:n=6 --at start --grid 9 --out " + out;
  ASSERT_EQ(run_command(tool + " --seed 2 --max-points 3").exit_code, 0);
  const auto r = run_command(mpirun(2) + tool + " --seed 3 --resume");
  EXPECT_NE(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("[rank 0 of 2]"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("seed"), std::string::npos) << "the message names the setting that differs:\n" << r.err;
}

// Regression: an SLQ inside the classification at one grid point (a sweep nested in a work item, on a
// worker thread) must run whole on that rank; dealt out again, it would wait in collectives the other
// ranks, busy with their own points, never join.
TEST_F(MpiTools, NestedSweepInsideAWorkItemIsNotDealtOutAgain) {
  SKIP_WITHOUT_MPI();
  expect_bitwise("loss-slice", "--problem rosenbrock:n=6 --at start --grid 9 --curvature --method lanczos --chunk 4 --threads 2");
}

TEST_F(MpiTools, HessianSpectrumSlqProbesAreBitwiseIdenticalOnAnyNumberOfRanks) {
  SKIP_WITHOUT_MPI();
  expect_bitwise("hessian-spectrum",
                 "--problem rosenbrock:n=60 --at start --method lanczos --top 2 --bottom 2 --density-probes 7 "
                 "--density-steps 20 --seed 4");
}

TEST_F(MpiTools, ClassifyCriticalOnAShardedDataSetAgreesWithOneProcess) {
  SKIP_WITHOUT_MPI();
  make_mlp_checkpoint();
  expect_data_parallel("classify-critical", checkpoint_ + " --method dense");
  expect_data_parallel("classify-critical", checkpoint_ + " --method lanczos --density-probes 3 --density-steps 15");
}

TEST_F(MpiTools, HessianSpectrumOnAShardedDataSetAgreesWithOneProcess) {
  SKIP_WITHOUT_MPI();
  make_mlp_checkpoint();
  expect_data_parallel("hessian-spectrum", checkpoint_ +
                                               " --method lanczos --top 3 --bottom 2 --density-probes 4 "
                                               "--density-steps 20 --trace-samples 8 --seed 1");
  expect_data_parallel("hessian-spectrum", checkpoint_ + " --curvature ggn --method lanczos --top 2 --bottom 0 --density-probes 0 --seed 1");
}

TEST_F(MpiTools, RunOptimizerOnAShardedDataSetAgreesWithOneProcess) {
  SKIP_WITHOUT_MPI();
  make_mlp_checkpoint();
  expect_data_parallel("run-optimizer", "--checkpoint " + checkpoint_ + " --optimizer adam --lr 0.01 --steps 40");
  // Mini-batches name global samples; each rank evaluates those in its shard.
  expect_data_parallel("run-optimizer",
                       "--checkpoint " + checkpoint_ + " --optimizer sgd --lr 0.1 --batch-size 32 --steps 30 --seed 6");
}

TEST_F(MpiTools, AFailingRankEndsTheJobWithItsMessageAndNoResultFile) {
  SKIP_WITHOUT_MPI();
  make_mlp_checkpoint();
  // A NaN in the last sample: only the last rank's shard holds it.
  sc::io::Checkpoint c = sc::io::read_checkpoint(checkpoint_);
  c.data->X(300, 1) = std::nan("");
  const std::string bad = dir_.file("bad.h5");
  sc::io::write_checkpoint(bad, c, sc::io::Provenance::capture("test", 0, nullptr));
  const std::string out = dir_.file("result.h5");
  const auto r = run_command(mpirun(3) + sc::testing::tool_path("classify-critical") + " " + bad + " --out " + out);
  EXPECT_NE(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("classify-critical: error: [rank 2 of 3]"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("contains NaN or Inf"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("[rank 0 of 3]"), std::string::npos) << "only the failing rank reports:\n" << r.err;
  // Nothing in the directory but the two checkpoints: no result, no temporary.
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(out.substr(0, out.rfind('/'))))
    files.push_back(entry.path().filename().string());
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"bad.h5", "mlp.h5"}));
}

TEST_F(MpiTools, OneRankUnderMpirunIsTheSameAsAPlainProcess) {
  SKIP_WITHOUT_MPI();
  make_mlp_checkpoint();
  const std::string args = checkpoint_ + " --method lanczos --top 2 --bottom 1 --seed 1";
  EXPECT_EQ(run_json(mpirun(1), "hessian-spectrum", args).dump(), run_json("", "hessian-spectrum", args).dump());
}

}  // namespace
