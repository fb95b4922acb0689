// End-to-end tests of find-critical and loss-slice: the real executables, their JSON, their HDF5 files,
// resuming, and every error path with its exit code and one line on stderr.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "io/hdf5.h"
#include "problem/problem.h"
#include "support/process.h"
#include "support/tool_runs.h"

namespace sc = saddlescope;
using sc::testing::expect_error;
using sc::testing::run_json;
using sc::testing::TempDir;

namespace {

const std::string kFind = sc::testing::tool_path("find-critical");
const std::string kSlice = sc::testing::tool_path("loss-slice");
const std::string kMake = sc::testing::tool_path("make-checkpoint");

// An MLP [4, 3, 3] tanh cross-entropy checkpoint on the bundled iris data (150 samples), weight decay 0.1.
std::string iris_checkpoint(const TempDir& dir, int seed) {
  return sc::testing::iris_mlp_checkpoint(dir.file("iris_" + std::to_string(seed) + ".h5"), "[4,3,3]", "0.1",
                                          "--init xavier --seed " + std::to_string(seed));
}

double himmelblau(double x, double y) {
  const double a = x * x + y - 11, b = x + y * y - 7;
  return a * a + b * b;
}

TEST(FindCriticalTool, HimmelblauNinePointsWithVerdicts) {
  TempDir dir;
  const std::string out = dir.file("points.h5");
  const auto j = run_json(kFind + " --problem himmelblau --starts 60 --seed 1 --out " + out);
  ASSERT_EQ(j["points"].size(), 9u);
  EXPECT_EQ(j["unique_points"], 9);
  std::map<std::string, int> verdicts;
  for (const auto& p : j["points"]) {
    ++verdicts[p["verdict"]];
    for (const char* key : {"x", "value", "verdict", "index", "grad_norm", "lambda_min", "lambda_max"})
      EXPECT_TRUE(p.contains(key)) << key;
    // The JSON value is f at the JSON point (the tool's point, 17 significant digits).
    EXPECT_NEAR(p["value"].get<double>(), himmelblau(p["x"][0], p["x"][1]), 1e-12 * (1 + p["value"].get<double>()));
    if (p["verdict"] == "local_maximum") {
      // The maximum to the digits classify-critical's test pins (Newton's method; data/examples/README.md).
      EXPECT_NEAR(p["x"][0].get<double>(), -0.2708445906673476, 1e-9);
      EXPECT_NEAR(p["x"][1].get<double>(), -0.9230385564799815, 1e-9);
    }
  }
  EXPECT_EQ(verdicts["local_minimum"], 4);
  EXPECT_EQ(verdicts["local_maximum"], 1);
  EXPECT_EQ(verdicts["strict_saddle"], 4);
  EXPECT_EQ(j["converged"].get<int>() + j["not_converged"]["stalled"].get<int>() +
                j["not_converged"]["max_iterations"].get<int>() + j["not_converged"]["diverged"].get<int>(),
            60);
  // The file: result header, one row per point.
  sc::io::h5::Handle f = sc::io::h5::open_file(out);
  EXPECT_EQ(sc::io::h5::read_string_attribute(f.get(), "format"), "saddlescope-result");
  EXPECT_EQ(sc::io::h5::read_string_attribute(f.get(), "analysis"), "find-critical");
  const auto x = sc::io::h5::read_matrix(f.get(), "points/x", 100);
  EXPECT_EQ(x.rows(), 9);
  EXPECT_EQ(x.cols(), 2);
  EXPECT_EQ(sc::io::h5::read_vector(f.get(), "points/value", 100).size(), 9);
  EXPECT_EQ(sc::io::h5::read_int_vector(f.get(), "starts/point", 100).size(), 60u);
}

TEST(FindCriticalTool, SameResultForAnyThreadCount) {
  const auto a = run_json(kFind + " --problem six_hump_camel --box -2,2 --starts 40 --seed 7 --threads 1");
  const auto b = run_json(kFind + " --problem six_hump_camel --box -2,2 --starts 40 --seed 7 --threads 3");
  EXPECT_EQ(a["points"].dump(), b["points"].dump());
  EXPECT_EQ(a["converged"], b["converged"]);
}

TEST(FindCriticalTool, IndexRisesWithLossOnIris) {
  // Dauphin et al. (NeurIPS 2014, Fig. 1): critical points with higher loss have higher index. MLP
  // [4, 3, 3] tanh cross-entropy, weight decay 0.1 (λ/2‖θ‖², which lifts the softmax shift symmetry's
  // zero eigenvalues so Newton converges quadratically), all 150 iris samples, n = 27; 40 starts around
  // the Xavier initialisation (seed 1) with radius 1. The robust statement: a positive Spearman rank
  // correlation between loss and index over the points that are not minima, and the lowest-loss
  // saddle has a lower index than the highest-loss one.
  TempDir dir;
  const std::string a = iris_checkpoint(dir, 1);
  const auto j = run_json(kFind + " " + a + " --starts 40 --radius 1 --seed 1 --threads 2 --grad-tol 1e-7 --max-iterations 500");
  EXPECT_EQ(j["n"], 27);
  ASSERT_GE(j["unique_points"].get<int>(), 10);
  ASSERT_TRUE(j["index_loss_spearman"].is_number());
  EXPECT_GT(j["index_loss_spearman"].get<double>(), 0.0);
  const nlohmann::json* lowest = nullptr;
  const nlohmann::json* highest = nullptr;
  for (const auto& p : j["points"]) {
    if (p["verdict"] == "local_minimum") continue;
    if (lowest == nullptr || p["value"] < (*lowest)["value"]) lowest = &p;
    if (highest == nullptr || p["value"] > (*highest)["value"]) highest = &p;
  }
  ASSERT_NE(lowest, nullptr);
  EXPECT_LT((*lowest)["index"].get<int>(), (*highest)["index"].get<int>());
}

TEST(FindCriticalTool, PointsOmittedAboveXMaxDim) {
  const auto j = run_json(kFind + " --problem himmelblau --starts 10 --seed 1 --x-max-dim 1");
  ASSERT_FALSE(j["points"].empty());
  for (const auto& p : j["points"]) {
    EXPECT_FALSE(p.contains("x"));
    EXPECT_TRUE(p.contains("value"));
  }
}

TEST(LossSliceTool, SameBitsForAnyThreadCount) {
  const std::string args = " --problem rosenbrock:n=3 --at 0.1,0.2,0.3 --dims 2 --grid 4,4 --curvature --seed 4";
  const auto a = run_json(kSlice + args + " --threads 1");
  const auto b = run_json(kSlice + args + " --threads 3");
  EXPECT_EQ(a["loss"].dump(), b["loss"].dump());
  EXPECT_EQ(a["lambda_min"].dump(), b["lambda_min"].dump());
  EXPECT_EQ(a["lambda_max"].dump(), b["lambda_max"].dump());
}

TEST(LossSliceTool, ValuesEqualDirectEvaluation) {
  TempDir dir;
  const std::string out = dir.file("slice.h5");
  const auto j = run_json(kSlice + " --problem himmelblau --at 0.5,-1 --dims 2 --grid 5,4 --range -1,1,-2,2 --seed 3 --out " + out);
  EXPECT_EQ(j["status"], "complete");
  sc::io::h5::Handle f = sc::io::h5::open_file(out);
  const auto d1 = sc::io::h5::read_vector(f.get(), "directions/d1", 10), d2 = sc::io::h5::read_vector(f.get(), "directions/d2", 10);
  const auto alpha = sc::io::h5::read_vector(f.get(), "grid/alpha", 10), beta = sc::io::h5::read_vector(f.get(), "grid/beta", 10);
  const auto loss = sc::io::h5::read_matrix(f.get(), "loss", 100);
  ASSERT_EQ(loss.rows(), 5);
  ASSERT_EQ(loss.cols(), 4);
  EXPECT_EQ(alpha(0), -1.0);
  EXPECT_EQ(alpha(4), 1.0);
  EXPECT_EQ(beta(3), 2.0);
  for (int i = 0; i < 5; ++i)
    for (int k = 0; k < 4; ++k) {
      const double x = 0.5 + alpha(i) * d1(0) + beta(k) * d2(0), y = -1 + alpha(i) * d1(1) + beta(k) * d2(1);
      // Same point up to the rounding of the axpys (|x| ≲ 10, so ~1e-15 absolute), f's slope ≲ 1e3: 1e-10.
      EXPECT_NEAR(loss(i, k), himmelblau(x, y), 1e-10) << i << "," << k;
      EXPECT_EQ(j["loss"][i][k].get<double>(), loss(i, k));
    }
}

TEST(LossSliceTool, InterpolationHitsBothCheckpointsExactly) {
  TempDir dir;
  const std::string a = iris_checkpoint(dir, 1), b = iris_checkpoint(dir, 2);
  const auto j = run_json(kSlice + " " + a + " --to " + b + " --directions interpolate --grid 5 --curvature");
  const double fa = sc::problem::load_checkpoint_problem(a).objective->value(sc::problem::load_checkpoint_problem(a).point);
  const double fb = sc::problem::load_checkpoint_problem(b).objective->value(sc::problem::load_checkpoint_problem(b).point);
  EXPECT_EQ(j["loss"][0].get<double>(), fa);
  EXPECT_EQ(j["loss"][4].get<double>(), fb);
  EXPECT_NE(fa, fb);
  EXPECT_EQ(j["lambda_min"].size(), 5u);
  EXPECT_LE(j["lambda_min"][2].get<double>(), j["lambda_max"][2].get<double>());
}

TEST(LossSliceTool, FilterNormalisedRandomSliceOfANetwork) {
  TempDir dir;
  const std::string a = iris_checkpoint(dir, 1), out = dir.file("net.h5");
  run_json(kSlice + " " + a + " --grid 3 --seed 2 --out " + out);
  sc::io::h5::Handle f = sc::io::h5::open_file(out);
  const auto d1 = sc::io::h5::read_vector(f.get(), "directions/d1", 1000);
  const auto w = sc::io::h5::read_vector(f.get(), "origin", 1000);
  // Layer 1 weight rows (4 entries each) have the norms of w's rows; layer-1 biases (offset 12) are zero.
  for (int r = 0; r < 3; ++r) EXPECT_NEAR(d1.segment(4 * r, 4).norm(), w.segment(4 * r, 4).norm(), 1e-9);
  EXPECT_TRUE(d1.segment(12, 3).isZero(0.0));
  const auto settings = nlohmann::json::parse(sc::io::h5::read_string_attribute(f.get(), "settings"));
  EXPECT_EQ(settings["normalization"], "filter");
}

TEST(LossSliceTool, ResumeCompletesAnInterruptedSliceWithIdenticalValues) {
  TempDir dir;
  const std::string part = dir.file("part.h5"), full = dir.file("full.h5");
  const std::string args = " --problem rosenbrock:n=3 --at 0.1,0.2,0.3 --dims 2 --grid 6,5 --seed 9 --threads 2 --chunk 3";
  const auto first = run_json(kSlice + args + " --max-points 7 --out " + part);
  EXPECT_EQ(first["status"], "incomplete");
  EXPECT_EQ(first["points_done"], 7);
  {
    sc::io::h5::Handle f = sc::io::h5::open_file(part);
    EXPECT_EQ(sc::io::h5::read_string_attribute(f.get(), "status"), "incomplete");
    EXPECT_EQ(sc::io::h5::read_int_attribute(f.get(), "points_done"), 7);
  }
  const auto resumed = run_json(kSlice + args + " --resume --out " + part);
  EXPECT_EQ(resumed["status"], "complete");
  EXPECT_EQ(resumed["points_computed_now"], 30 - 7);
  const auto whole = run_json(kSlice + args + " --out " + full);
  EXPECT_EQ(resumed["loss"].dump(), whole["loss"].dump());
  // A second resume has nothing left to do.
  EXPECT_EQ(run_json(kSlice + args + " --resume --out " + part)["points_computed_now"], 0);
  // Other settings: refused, exit 2, naming the field.
  expect_error(kSlice, args + " --range -2,2,-1,1 --resume --out " + part, 2, "range");
}

TEST(ExploreTools, BadFlagsExitTwo) {
  expect_error(kFind, "--problem himmelblau --starts 0", 2, "--starts");
  expect_error(kFind, "--problem himmelblau --box 5,1", 2, "--box");
  expect_error(kFind, "", 2, "--problem");
  expect_error(kFind, "--problem nosuchfunction", 2, "nosuchfunction");
  expect_error(kSlice, "--problem himmelblau --at 0,0 --grid 0", 2, "--grid");
  expect_error(kSlice, "--problem himmelblau --at 0,0 --directions interpolate", 2, "--to");
  expect_error(kSlice, "--problem himmelblau --at 0,0 --directions extreme", 2, "dims");
  expect_error(kSlice, "--problem himmelblau --at 0,0 --resume", 2, "--out");
}

TEST(ExploreTools, BadFilesExitThree) {
  TempDir dir;
  const std::string text = dir.file("not.h5");
  std::ofstream(text) << "not an HDF5 file\n";
  expect_error(kFind, dir.file("missing.h5"), 3, "missing.h5");
  expect_error(kFind, text, 3, "not.h5");
  expect_error(kSlice, text, 3, "not.h5");
  expect_error(kSlice, "--problem himmelblau --at 0,0 --resume --out " + text, 3, "not.h5");
}

}  // namespace
