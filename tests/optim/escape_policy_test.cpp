// The saddle-escape policies (optim/escape_policy.h) after the refactor that moved them out of the
// trainer loop (issue #12, item 4): the same runs give the same bits as before.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>
#include <vector>

#include "support/process.h"

namespace {

struct PinnedRun {
  std::string args;
  std::vector<double> final_point;
  std::int64_t perturbations;
  std::int64_t negative_curvature_steps;
  std::int64_t function_evaluations;
};

}  // namespace

// The final points below were printed (--json, which round-trips doubles exactly) by run-optimizer
// built from commit aa6e207, before the escape strategies became policy objects; the hex literals are
// those doubles. The runs cover both policies with their state across many firings: perturbed GD that
// perturbs 25 times (f_thres checks, the perturbation stream), perturbed Adam (optimizer state across
// perturbations), and negative-curvature steps from the exact saddle (0, 0) of the six-hump camel with
// GD and with heavy-ball SGD (the probe stream, the estimated rho). Bitwise equality is the contract:
// the refactor moved code, not arithmetic.
TEST(EscapePolicies, TrajectoriesMatchThePreRefactorBinary) {
  const std::vector<PinnedRun> runs = {
      {"--problem himmelblau --x0 0.5,0.5 --optimizer gd --lr 0.01 --escape perturb --perturb-t-thres 10 "
       "--perturb-g-thres 1e-2 --steps 300 --seed 5",
       {0x1.7fffffffee0c2p+1, 0x1.000000002b576p+1}, 25, 0, 326},
      {"--problem rosenbrock:n=4 --optimizer adam --lr 0.01 --escape perturb --perturb-t-thres 7 --perturb-g-thres 3 "
       "--perturb-radius 0.05 --steps 600 --seed 11",
       {-0x1.3d85a301f72d6p-2, 0x1.b973f244e8d15p-4, 0x1.7574982cfb7f2p-5, -0x1.d254b144d6351p-7}, 7, 0, 608},
      {"--problem six_hump_camel --x0 0,0 --optimizer gd --lr 0.01 --escape negative_curvature --steps 200",
       {-0x1.6ffe2d96fede3p-4, 0x1.6ce14ccfe979bp-1}, 0, 1, 201},
      {"--problem six_hump_camel --x0 0,0 --optimizer sgd --lr 0.01 --momentum 0.9 --escape negative_curvature "
       "--nc-grad-threshold 0.5 --steps 300",
       {-0x1.6ffe2d18a075fp-4, 0x1.6ce14c78db2a2p-1}, 0, 1, 301},
  };
  for (const auto& run : runs) {
    const auto r = saddlescope::testing::run_command(saddlescope::testing::tool_path("run-optimizer") + " " + run.args +
                                                     " --json");
    ASSERT_EQ(r.exit_code, 0) << run.args << "\n" << r.err;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j["final_point"].size(), run.final_point.size()) << run.args;
    for (std::size_t i = 0; i < run.final_point.size(); ++i) {
#if defined(__FMA__)
      // The pins were printed by the default (-march=native, FMA) release build: bit for bit there.
      EXPECT_EQ(j["final_point"][i].get<double>(), run.final_point[i]) << run.args << ", coordinate " << i;
#else
      // Builds without FMA (the sanitizer preset is not -march=native) round each a·b + c twice instead
      // of once, so the same arithmetic differs in the last bits: measured ≤ 2.2e-16 relative in the asan
      // preset. The runs end at minima, where the iteration contracts and rounding does not grow; 1e-12
      // leaves four orders of margin, while a changed step would be O(1). Event counts stay exact below.
      EXPECT_NEAR(j["final_point"][i].get<double>(), run.final_point[i],
                  1e-12 * std::max(1.0, std::abs(run.final_point[i])))
          << run.args << ", coordinate " << i;
#endif
    }
    EXPECT_EQ(j["perturbations"], run.perturbations) << run.args;
    EXPECT_EQ(j["negative_curvature_steps"], run.negative_curvature_steps) << run.args;
    EXPECT_EQ(j["function_evaluations"], run.function_evaluations) << run.args;
  }
}
