// The rmt-check executable: exit codes, the --json contract and the HDF5 result file.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "io/hdf5.h"

namespace {

struct Outcome {
  int code = -1;
  std::string out;
};

Outcome run(const std::string& args) {
  const std::string command = std::string(SADDLESCOPE_BIN_DIR) + "/rmt-check " + args + " 2>/dev/null";
  Outcome o;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return o;
  char buffer[4096];
  std::size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) o.out.append(buffer, n);
  const int status = pclose(pipe);
  o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return o;
}

}  // namespace

TEST(RmtCheckTool, JsonHasTheContractFields) {
  const auto o = run("--ensemble goe --k 1:4 --samples 20000 --method auto --json --seed 3");
  ASSERT_EQ(o.code, 0);
  const auto j = nlohmann::json::parse(o.out);
  ASSERT_EQ(j["results"].size(), 4u);
  for (const auto& r : j["results"]) {
    for (const char* key : {"k", "samples", "p", "ci_low", "ci_high", "method", "half_power"})
      EXPECT_TRUE(r.contains(key)) << key;
    EXPECT_LE(r["ci_low"].get<double>(), r["p"].get<double>());
    EXPECT_GE(r["ci_high"].get<double>(), r["p"].get<double>());
  }
  EXPECT_TRUE(j.contains("theta"));
  EXPECT_EQ(j["results"][0]["k"], 1);
  EXPECT_DOUBLE_EQ(j["results"][2]["half_power"].get<double>(), 0.125);
}

TEST(RmtCheckTool, AutoSwitchesToSplittingWhenHitsAreFew) {
  // diagonal, k = 24: P = 0.5^24 ≈ 6e-8, so 2000 plain samples see no hit and auto must use splitting
  // (the ensembles without an eigenvalue density: diagonal, wishart, hessian).
  const auto o = run("--ensemble diagonal --k 24 --samples 2000 --population 200 --repetitions 3 --json");
  ASSERT_EQ(o.code, 0);
  const auto j = nlohmann::json::parse(o.out);
  EXPECT_EQ(j["results"][0]["method"], "splitting");
  EXPECT_TRUE(j["results"][0].contains("monte_carlo"));
  EXPECT_GT(j["results"][0]["p"].get<double>(), 0.0);
}

TEST(RmtCheckTool, AutoSwitchesToIntegrationForGoeWhenHitsAreFew) {
  // GOE, k = 7: P ≈ 9e-8, so 2000 plain samples see no hit and auto must use thermodynamic integration.
  const auto o = run("--ensemble goe --k 7 --samples 2000 --sweeps 200 --burn-in 200 --nodes 8 --repetitions 3 --json");
  ASSERT_EQ(o.code, 0);
  const auto j = nlohmann::json::parse(o.out);
  EXPECT_EQ(j["results"][0]["method"], "integration");
  EXPECT_TRUE(j["results"][0].contains("monte_carlo"));
  EXPECT_GT(j["results"][0]["p"].get<double>(), 0.0);
}

TEST(RmtCheckTool, WritesAResultFile) {
  const auto path = std::filesystem::temp_directory_path() / "rmt_check_tool_test.h5";
  std::filesystem::remove(path);
  const auto o = run("--ensemble diagonal --k 1:3 --samples 5000 --out " + path.string());
  ASSERT_EQ(o.code, 0);
  namespace h5 = saddlescope::io::h5;
  h5::silence_errors();
  auto file = h5::open_file(path.string());
  EXPECT_EQ(h5::read_string_attribute(file.get(), "format"), "saddlescope-result");
  EXPECT_NE(h5::read_string_attribute(file.get(), "settings").find("\"diagonal\""), std::string::npos);
  auto g = h5::open_group(file.get(), "k_3");
  EXPECT_EQ(h5::read_int_attribute(g.get(), "samples"), 5000);
  EXPECT_DOUBLE_EQ(h5::read_double_attribute(g.get(), "half_power"), 0.125);
  EXPECT_DOUBLE_EQ(h5::read_double_attribute(g.get(), "exact_p"), 0.125);  // diagonal: 0.5^k exactly
  const auto hist = h5::read_int_vector(g.get(), "index_histogram", 100);
  ASSERT_EQ(hist.size(), 4u);
  EXPECT_EQ(hist[0] + hist[1] + hist[2] + hist[3], 5000);
  EXPECT_TRUE(h5::exists(file.get(), "fit"));
  std::filesystem::remove(path);
}

TEST(RmtCheckTool, BadFlagsExitTwo) {
  EXPECT_EQ(run("--k -3").code, 2);
  EXPECT_EQ(run("--k 0:5").code, 2);
  EXPECT_EQ(run("--ensemble gue").code, 2);
  EXPECT_EQ(run("--samples 0").code, 2);
  EXPECT_EQ(run("--samples -5").code, 2);
  EXPECT_EQ(run("--method magic").code, 2);
  EXPECT_EQ(run("--ensemble wishart --sampler tridiagonal").code, 2);
  EXPECT_EQ(run("--help").code, 0);
}

TEST(RmtCheckTool, TableIsMarkdown) {
  const auto o = run("--ensemble wishart --k 2:4 --samples 2000 --table");
  ASSERT_EQ(o.code, 0);
  EXPECT_NE(o.out.find("| k | method"), std::string::npos);
  EXPECT_NE(o.out.find("| 4 | mc | 1 |"), std::string::npos);  // the PSD control: every sample positive
}

TEST(RmtCheckTool, RepetitionsDefaultPerMethodAndFlagSetsBoth) {
  // Without --repetitions each method keeps its own default (integration 16, splitting 8: rmt/integration.h
  // says why); the flag sets both; 0 is refused naming the field (exit 2).
  const auto d = run("--ensemble goe --k 3 --samples 2000 --json");
  ASSERT_EQ(d.code, 0);
  const auto s = nlohmann::json::parse(d.out)["settings"];
  EXPECT_EQ(s["integration"]["repetitions"], 16);
  EXPECT_EQ(s["splitting"]["repetitions"], 8);
  const auto e = run("--ensemble goe --k 3 --samples 2000 --repetitions 5 --json");
  ASSERT_EQ(e.code, 0);
  const auto t = nlohmann::json::parse(e.out)["settings"];
  EXPECT_EQ(t["integration"]["repetitions"], 5);
  EXPECT_EQ(t["splitting"]["repetitions"], 5);
  EXPECT_EQ(run("--k 3 --repetitions 0").code, 2);
}

TEST(RmtCheckTool, CalibrationCarriesThePooledSummary) {
  // Two k, three seeds each: the pooled summary counts all six runs in JSON and HDF5; with 3 repetitions
  // (d = 2) E[z²] of a Student interval is infinite, so the expected value is null, not a number.
  const auto path = std::filesystem::temp_directory_path() / "rmt_check_tool_calibration_test.h5";
  std::filesystem::remove(path);
  const auto o = run("--ensemble goe --k 3,4 --method integration --calibrate 3 --sweeps 100 --burn-in 100 --nodes 4 "
                     "--repetitions 3 --endpoint-samples 1000 --json --out " + path.string());
  ASSERT_EQ(o.code, 0);
  const auto j = nlohmann::json::parse(o.out);
  ASSERT_EQ(j["rows"].size(), 2u);
  EXPECT_EQ(j["pooled"]["runs"], 6);
  EXPECT_EQ(j["pooled"]["covered"].get<int>(), j["rows"][0]["covered"].get<int>() + j["rows"][1]["covered"].get<int>());
  EXPECT_TRUE(j["pooled"]["expected_squared_z"].is_null());
  for (const auto& r : j["rows"]) EXPECT_GT(r["binomial_tail"].get<double>(), 0.0);
  namespace h5 = saddlescope::io::h5;
  h5::silence_errors();
  auto file = h5::open_file(path.string());
  auto g = h5::open_group(file.get(), "calibration");
  EXPECT_EQ(h5::read_int_attribute(g.get(), "pooled_runs"), 6);
  std::filesystem::remove(path);
}

TEST(RmtCheckTool, SliceMovesEndToEnd) {
  // --splitting-moves slice on a two-level Hessian (exact ln P = 21 ln ½): the JSON and the HDF5 file name the
  // moves, carry the exact value and the calibration label.
  const auto path = std::filesystem::temp_directory_path() / "rmt_check_tool_slice_test.h5";
  std::filesystem::remove(path);
  const auto o = run("--ensemble hessian --objective quadratic:n=14,kappa=1,negative=7 --k 6 --method splitting "
                     "--splitting-moves slice --population 200 --repetitions 3 --diagnostic-moves 20 --json --out " +
                     path.string());
  ASSERT_EQ(o.code, 0);
  const auto r = nlohmann::json::parse(o.out)["results"][0];
  EXPECT_EQ(r["splitting"]["moves"], "slice");
  EXPECT_NEAR(r["exact"]["log_p"].get<double>(), 21 * std::log(0.5), 1e-12);
  EXPECT_TRUE(r["splitting"]["within_calibration"].is_boolean());
  EXPECT_EQ(r["splitting"]["level_tau_int"].size(), 3u);
  namespace h5 = saddlescope::io::h5;
  h5::silence_errors();
  auto file = h5::open_file(path.string());
  auto g = h5::open_group(file.get(), "k_6");
  EXPECT_EQ(h5::read_string_attribute(g.get(), "splitting_moves"), "slice");
  EXPECT_TRUE(h5::exists(g.get(), "splitting_level_tau_int"));
  std::filesystem::remove(path);
}

TEST(RmtCheckTool, RowMovesEndToEnd) {
  // --splitting-moves rows on the same two-level Hessian: the estimate inside its interval around the exact
  // value (4 standard errors, as in tests/rmt/rows_test.cpp), and the moves named in the JSON.
  const auto o = run("--ensemble hessian --objective quadratic:n=14,kappa=1,negative=7 --k 6 --method splitting "
                     "--splitting-moves rows --population 200 --repetitions 4 --json");
  ASSERT_EQ(o.code, 0);
  const auto r = nlohmann::json::parse(o.out)["results"][0];
  EXPECT_EQ(r["splitting"]["moves"], "rows");
  EXPECT_NEAR(r["log_p"].get<double>(), 21 * std::log(0.5), 4 * r["relative_error"].get<double>());
}

TEST(RmtCheckTool, BadSplittingMovesAreRefusedWithOneLine) {
  for (const std::string args : {"--splitting-moves sliced", "--ensemble hessian --k 2 --splitting-moves eigenvalues",
                                 "--ensemble goe --k 2 --splitting-moves rows", "--diagnostic-moves -1"}) {
    const std::string command = std::string(SADDLESCOPE_BIN_DIR) + "/rmt-check " + args + " 2>&1 >/dev/null";
    FILE* pipe = popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string err;
    char buffer[1024];
    std::size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) err.append(buffer, n);
    const int status = pclose(pipe);
    EXPECT_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 2) << args;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << args << ": " << err;
  }
}
