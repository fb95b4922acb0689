// K-FAC on an exported CNN through the tools (issue #16 item 2): hessian-spectrum --curvature kfac and
// --compare-kfac, and run-optimizer --optimizer kfac, on tools/digits_cnn.py's DigitsCNN (conv–relu–pool–
// conv–relu–linear on the bundled 1×8×8 digits, exported from torch through ONNX). The factors' arithmetic
// is pinned in tests/graph/graph_kfac_test.cpp; here what the tools make of them. Skipped when
// /usr/bin/python3 cannot import torch, h5py and onnx (a failure under CI).
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "io/checkpoint.h"
#include "io/hdf5.h"
#include "support/process.h"
#include "support/tool_runs.h"

namespace sc = saddlescope;
using sc::testing::run_command;
using sc::testing::TempDir;

namespace {

class GraphKfacTool : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!sc::testing::python_can_import("torch, h5py, onnx")) {
      if (std::getenv("CI") != nullptr) FAIL() << "CI: /usr/bin/python3 cannot import torch, h5py, onnx";
      GTEST_SKIP() << "/usr/bin/python3 cannot import torch, h5py and onnx (the export of the CNN)";
    }
  }
  // DigitsCNN on `samples` digits from index `first`, exported by tools/digits_cnn.py.
  std::string cnn(const std::string& name, int samples, int first = 0, const std::string& extra = "") {
    const std::string path = dir_.file(name);
    const auto r = run_command("OMP_NUM_THREADS=1 /usr/bin/python3 " SADDLESCOPE_SOURCE_DIR "/tools/digits_cnn.py --out " + path +
                               " --samples " + std::to_string(samples) + " --first " + std::to_string(first) + " " + extra);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return path;
  }
  nlohmann::json spectrum(const std::string& args) {
    const auto r = run_command(sc::testing::tool_path("hessian-spectrum") + " " + args + " --json");
    EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
    return nlohmann::json::parse(r.out);
  }
  TempDir dir_;
};

}  // namespace

// One sample: the Linear layer has one position, so its A ⊗ G is the GGN block exactly
// (objective/kronecker.h) and --compare-kfac's relative Frobenius error is rounding (~1e-16; 1e-10 is
// far above rounding in a 330×330 block and far below any real discrepancy, which is O(1e-3) or more).
// The convolutions have 64 and 4 positions: there K-FAC is an approximation, and the error is reported.
// The closed-form trace of --curvature kfac (a sum over all eigenvalues α_i γ_j) equals the sum of the
// comparison's per-layer tr(A)·tr(G) (every parameter is in a layer): two routes, 1e-12 relative.
TEST_F(GraphKfacTool, CompareKfacOnOneSampleIsExactForTheLinearLayerAndTheTracesAgree) {
  const std::string one = cnn("one.h5", 1, 5);
  const std::string out = dir_.file("compare.h5");
  const auto j = spectrum(one + " --compare-kfac --out " + out);
  const auto& rows = j["kfac_comparison"];
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["name"], "conv1");
  EXPECT_EQ(rows[1]["name"], "conv2");
  EXPECT_EQ(rows[2]["name"], "fc");
  EXPECT_TRUE(rows[2]["frobenius_exact"].get<bool>());
  EXPECT_LT(rows[2]["relative_frobenius_error"].get<double>(), 1e-10);
  EXPECT_GT(rows[0]["relative_frobenius_error"].get<double>(), 1e-3);  // 64 positions: an approximation
  EXPECT_EQ(j["kfac_outside"]["parameters"], 0);
  double layer_traces = 0.0;
  for (const auto& row : rows) layer_traces += row["kfac_trace"].get<double>();
  const auto k = spectrum(one + " --curvature kfac");
  EXPECT_EQ(k["method"], "kfac-closed-form");
  EXPECT_EQ(k["n"], 666);
  EXPECT_NEAR(k["trace"].get<double>(), layer_traces, 1e-12 * layer_traces);
  const auto file = sc::io::h5::open_file(out);
  const auto group = sc::io::h5::open_group(file.get(), "kfac_comparison");
  EXPECT_EQ(sc::io::h5::read_int_attribute(group.get(), "outside_parameters"), 0);
}

// The same torch MLP exported as an MLP spec (models::Network) and, wrapped in a module, through ONNX as a
// graph (the engine): two independent implementations of the factors. K-FAC's closed-form spectrum
// (trace, extreme eigenvalues) and the per-layer traces agree for all three kinds (sampled: the same
// draws, Rng(seed, 0) in sample order) to rounding — 1e-12 relative for sums of a few hundred products.
TEST_F(GraphKfacTool, TorchMlpExportedAsGraphHasTheFactorsOfTheMlpPath) {
  const auto r = run_command("OMP_NUM_THREADS=1 /usr/bin/python3 " SADDLESCOPE_SOURCE_DIR "/tests/tools/kfac_mlp_pair.py " +
                             dir_.file(""));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const std::string fisher : {"exact", "sampled", "empirical"}) {
    SCOPED_TRACE(fisher);
    const std::string args = " --curvature kfac --compare-kfac --kfac-fisher " + fisher + " --seed 3 --bottom 2 --top 2";
    const auto mlp = spectrum(dir_.file("mlp.h5") + args), graph = spectrum(dir_.file("graph.h5") + args);
    EXPECT_NE(mlp["objective"], graph["objective"]);  // really the two engines
    EXPECT_NEAR(graph["trace"].get<double>(), mlp["trace"].get<double>(), 1e-12 * mlp["trace"].get<double>());
    for (const char* key : {"eigenvalues_top", "eigenvalues_bottom"})
      for (std::size_t i = 0; i < mlp[key].size(); ++i)
        EXPECT_NEAR(graph[key][i].get<double>(), mlp[key][i].get<double>(), 1e-12 * mlp["lambda_max"].get<double>()) << key;
    ASSERT_EQ(graph["kfac_comparison"].size(), 2u);
    for (std::size_t l = 0; l < 2; ++l) {
      const double a = mlp["kfac_comparison"][l]["kfac_trace"].get<double>(), b = graph["kfac_comparison"][l]["kfac_trace"].get<double>();
      EXPECT_NEAR(b, a, 1e-12 * a);
    }
  }
}

// With batch norm the scales and shifts are in no K-FAC layer: the tools name them and their count.
TEST_F(GraphKfacTool, BatchNormParametersAreReportedOutsideTheComparison) {
  const std::string bn = cnn("bn.h5", 16, 0, "--batch-norm");
  const auto j = spectrum(bn + " --compare-kfac");
  EXPECT_EQ(j["kfac_outside"]["parameters"], 24);  // γ and β of 4 + 8 channels
  EXPECT_EQ(j["kfac_outside"]["names"], nlohmann::json({"bn1.weight", "bn1.bias", "bn2.weight", "bn2.bias"}));
  EXPECT_EQ(j["kfac_comparison"].size(), 3u);
}

TEST_F(GraphKfacTool, KfacOptimizerTrainsTheCnnAndResumesBitForBit) {
  const std::string start = cnn("start.h5", 64);
  // Full batch: the trainer does not store its mini-batch sampler's position in a checkpoint, so only
  // full-batch runs resume bit for bit (any optimizer); the sampled targets are keyed by (seed, step).
  const std::string settings =
      " --optimizer kfac --lr 0.1 --damping 0.1 --factor-interval 2 --inverse-interval 3 --fisher sampled --seed 4";
  const auto runs = sc::testing::run_straight_and_resumed(start, settings, 5, dir_);
  ASSERT_FALSE(runs.summary.is_null());
  EXPECT_LT(runs.summary["final_loss"].get<double>(), runs.summary["initial_loss"].get<double>());
  const auto& a = runs.straight;
  const auto& b = runs.resumed;
  ASSERT_TRUE(a.optimizer_state.has_value());
  EXPECT_EQ(a.optimizer_state->buffers.count("kfac.conv1.A"), 1u);
  EXPECT_EQ(a.optimizer_state->buffers.count("kfac.fc.G"), 1u);
  EXPECT_TRUE(a.params == b.params) << (a.params - b.params).norm();
}

// Regression: the sampled targets were drawn from seed 0 whatever --seed said, so two full-batch runs
// with different seeds took identical steps. They are keyed by the run's seed and the step now.
TEST_F(GraphKfacTool, KfacSampledTargetsFollowTheRunSeed) {
  const std::string start = cnn("start.h5", 32);
  const std::string tool = sc::testing::tool_path("run-optimizer");
  const std::string settings = " --optimizer kfac --lr 0.1 --damping 0.1 --fisher sampled --steps 3";
  const std::string s1 = dir_.file("s1.h5"), s1again = dir_.file("s1again.h5"), s2 = dir_.file("s2.h5");
  ASSERT_EQ(run_command(tool + " " + start + settings + " --seed 1 --out " + s1).exit_code, 0);
  ASSERT_EQ(run_command(tool + " " + start + settings + " --seed 1 --out " + s1again).exit_code, 0);
  ASSERT_EQ(run_command(tool + " " + start + settings + " --seed 2 --out " + s2).exit_code, 0);
  const auto a = sc::io::read_checkpoint(s1), b = sc::io::read_checkpoint(s1again), c = sc::io::read_checkpoint(s2);
  EXPECT_TRUE(a.params == b.params);  // same seed, same bits
  EXPECT_GT((a.params - c.params).norm(), 1e-8);
}
