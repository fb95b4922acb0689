// rmt-check on the wishart ensemble: thermodynamic integration end to end (the per-node fields in JSON
// and HDF5, values carried in log space below double's range), auto's choice, the exact value, and
// refused flag combinations (exit 2, one line naming the problem).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "io/hdf5.h"
#include "rmt/exact_wishart.h"
#include "support/process.h"
#include "support/refusal.h"

namespace st = saddlescope::testing;

TEST(RmtCheckWishartTool, IntegrationEndToEndInLogSpace) {
  // k = 40, m = 41 (a = 0: the integrand is constant, so a tiny run is exact) at μ = −1: c₀ = 41,
  // ln P = −kc₀/2 = −820, below double's range (p = 0): log_p, the interval and the exact value must be
  // carried as logs. The per-node fields are the GOE integration's.
  const auto path = std::filesystem::temp_directory_path() / "rmt_check_wishart_tool_test.h5";
  std::filesystem::remove(path);
  const auto r = st::run_command(st::tool_path("rmt-check") +
                                 " --ensemble wishart --wishart-dof 41 --shift=-1 --k 40 --method integration --nodes 4"
                                 " --sweeps 100 --burn-in 100 --repetitions 2 --json --out " +
                                 path.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const auto& row = j["results"][0];
  EXPECT_EQ(row["method"], "integration");
  EXPECT_NEAR(row["log_p"].get<double>() / -820.0, 1.0, 1e-12);
  EXPECT_NEAR(row["exact"]["log_p"].get<double>() / -820.0, 1.0, 1e-13);
  const auto& g = row["integration"];
  EXPECT_NEAR(g["log_p"].get<double>() / -820.0, 1.0, 1e-12);
  EXPECT_EQ(g["status"], "converged");
  ASSERT_EQ(g["nodes"].size(), 4u);
  for (const auto& node : g["nodes"])
    for (const char* key : {"shift", "weight", "mean_trace", "trace_variance", "tau_int", "tau_int_max", "acceptance"})
      EXPECT_TRUE(node.contains(key)) << key;
  EXPECT_DOUBLE_EQ(g["nodes"][0]["mean_trace"].get<double>(), -20.0);  // −k/2 in every state
  namespace h5 = saddlescope::io::h5;
  h5::silence_errors();
  auto file = h5::open_file(path.string());
  auto group = h5::open_group(file.get(), "k_40");
  EXPECT_NEAR(h5::read_double_attribute(group.get(), "integration_log_p") / -820.0, 1.0, 1e-12);
  EXPECT_TRUE(h5::exists(group.get(), "integration_node_shift"));
  EXPECT_TRUE(h5::exists(group.get(), "integration_node_tau_int"));
  std::filesystem::remove(path);
}

TEST(RmtCheckWishartTool, AutoSwitchesToIntegrationWhenHitsAreFew) {
  // k = 12, m = 12 at μ = −0.5 (c₀ = 6): P ≈ 1e-17, so 2000 plain samples see no hit and auto must use
  // thermodynamic integration (wishart with m ≥ k has the Laguerre density), not splitting.
  const auto r = st::run_command(st::tool_path("rmt-check") +
                                 " --ensemble wishart --shift=-0.5 --k 12 --samples 2000 --sweeps 200 --burn-in 200"
                                 " --nodes 8 --repetitions 3 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto row = nlohmann::json::parse(r.out)["results"][0];
  EXPECT_EQ(row["method"], "integration");
  EXPECT_TRUE(row.contains("monte_carlo"));
  EXPECT_TRUE(row.contains("exact"));
}

TEST(RmtCheckWishartTool, CalibrateRunsAgainstTheExactValue) {
  const auto r = st::run_command(st::tool_path("rmt-check") +
                                 " --ensemble wishart --shift=-0.3 --k 4 --calibrate 2 --sweeps 100 --burn-in 100"
                                 " --nodes 4 --repetitions 3 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["rows"].size(), 1u);
  EXPECT_EQ(j["rows"][0]["method"], "integration");
  // The row's target is the Laguerre Pfaffian at c = −μm/s = 1.2.
  EXPECT_EQ(j["rows"][0]["exact_log_p"].get<double>(),
            saddlescope::rmt::wishart_min_eigenvalue_exceeds_exact(4, 4, 1.2).log_p);
  EXPECT_EQ(j["rows"][0]["runs"], 2);
}

TEST(RmtCheckWishartTool, RefusesIntegrationWithoutTheLaguerreDensity) {
  st::expect_refusal("rmt-check", "--ensemble wishart --wishart-dof 3 --k 5 --shift=-0.1 --method integration",
                     {"wishart_dof", "k = 5"});
  st::expect_refusal("rmt-check", "--ensemble hessian --k 3 --method integration", {"integration", "hessian"});
}

// Regression (session 4): an impossible event (k = 3 directions of a Hessian with 2 positive eigenvalues:
// λ_min = −1 for every Q, Cauchy interlacing) gave P = 1.4e-3495 with a zero-width interval and exit 0.
// Now: the run stalls, the JSON carries status "stalled" and no lower end, and the tool exits 1 with one line.
TEST(RmtCheckSplittingTool, AnImpossibleEventExitsOneWithAnUpperBound) {
  const auto r = st::run_command(st::tool_path("rmt-check") +
                                 " --ensemble hessian --objective quadratic:n=10,kappa=1,negative=8 --k 3"
                                 " --method splitting --population 20 --repetitions 2 --moves 1 --json");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("k = 3: splitting stalled before reaching the event"), std::string::npos) << r.err;
  const auto row = nlohmann::json::parse(r.out)["results"][0];
  EXPECT_EQ(row["splitting"]["status"], "stalled");
  EXPECT_TRUE(row["log_ci_low"].is_null());  // −∞: nothing below the upper end is excluded
}
