// run-optimizer --optimizer kfac (issue #16 item 2): the field-table flags, the K-FAC step through the
// Optimizer adapter, and its state in checkpoints (a resumed run continues bit for bit). The step's
// arithmetic against an independent dense solve is pinned in tests/optim/kfac_test.cpp; here the tool.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "io/checkpoint.h"
#include "support/process.h"
#include "support/tool_runs.h"

namespace sc = saddlescope;
using sc::testing::run_command;
using sc::testing::TempDir;

namespace {

const std::string kTool = sc::testing::tool_path("run-optimizer");
const std::string kIris = std::string(SADDLESCOPE_SOURCE_DIR) + "/data/examples/iris_mlp_minimum.h5";

}  // namespace

TEST(KfacOptimizerTool, DescendsAndResumesBitForBit) {
  TempDir dir;
  // A point away from the minimum: the iris MLP [4, 8, 3] from a Xavier start (seed 3).
  const std::string start = sc::testing::iris_mlp_checkpoint(dir.file("start.h5"), "[4,8,3]", "0.01", "--seed 3");
  // factor_interval 2 and inverse_interval 3 put the resume point (step 5) between refreshes and
  // inversions, so the saved running averages and the averages of the current inverse both matter.
  const std::string settings =
      " --optimizer kfac --lr 0.1 --damping 0.01 --factor-decay 0.9 --factor-interval 2 --inverse-interval 3 --fisher sampled";
  const auto runs = sc::testing::run_straight_and_resumed(start, settings, 5, dir);
  ASSERT_FALSE(runs.summary.is_null());
  EXPECT_LT(runs.summary["final_loss"].get<double>(), runs.summary["initial_loss"].get<double>());
  const auto& a = runs.straight;
  const auto& b = runs.resumed;
  ASSERT_TRUE(a.optimizer_state.has_value());
  ASSERT_TRUE(b.optimizer_state.has_value());
  EXPECT_EQ(a.optimizer_state->step, 10);
  EXPECT_EQ(b.optimizer_state->step, 10);
  EXPECT_EQ(a.optimizer_state->buffers.count("kfac.layer1.A"), 1u);
  EXPECT_EQ(a.optimizer_state->buffers.count("kfac.refreshes"), 1u);
  EXPECT_EQ(a.optimizer_state->config["fisher"], "sampled");
  EXPECT_TRUE(a.params == b.params) << (a.params - b.params).norm();
}

TEST(KfacOptimizerTool, RefusesBadSettingsAndObjectivesWithoutLayers) {
  EXPECT_EQ(run_command(kTool + " " + kIris + " --optimizer kfac --damping 0 --steps 1").exit_code, 2);
  EXPECT_EQ(run_command(kTool + " " + kIris + " --optimizer kfac --factor-decay 1 --steps 1").exit_code, 2);
  EXPECT_EQ(run_command(kTool + " " + kIris + " --optimizer kfac --fisher nosuch --steps 1").exit_code, 2);
  const auto r = run_command(kTool + " --problem himmelblau --at 0,0 --optimizer kfac --steps 1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("Kronecker"), std::string::npos) << r.err;
}
