// Tool tests: the real hessian-spectrum and classify-critical executables, their exit codes, --json
// output and result files.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "io/checkpoint.h"
#include "io/hdf5.h"
#include "random/random.h"
#include "objective/test_functions.h"

namespace sc = saddlescope;

namespace {

struct ToolRun {
  int exit_code = -1;
  std::string out;
};

ToolRun run(const std::string& tool, const std::string& args) {
  const std::string command = std::string(SADDLESCOPE_BIN_DIR) + "/" + tool + " " + args + " 2>/dev/null";
  ToolRun r;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buffer{};
  std::size_t got = 0;
  while ((got = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) r.out.append(buffer.data(), got);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("saddlescope_curvature_" + name)).string();
}

std::vector<double> sorted_spectrum(const std::string& spec, Eigen::Index n, double kappa, Eigen::Index neg, Eigen::Index zero) {
  (void)spec;
  Eigen::VectorXd s = sc::objective::quadratic_spectrum(n, kappa, neg, zero);
  std::vector<double> v(s.data(), s.data() + s.size());
  std::sort(v.begin(), v.end());
  return v;
}

TEST(HessianSpectrumTool, LanczosAgreesWithDenseAndWritesResult) {
  // quadratic:n=300 — exact spectrum known (quadratic_spectrum); both paths must reproduce it.
  const std::string problem = "--problem quadratic:n=300,kappa=1000,negative=4,zero=10,seed=2 --at start";
  const auto exact = sorted_spectrum("", 300, 1000.0, 4, 10);
  const std::string out = temp_path("spectrum.h5");
  const ToolRun lz = run("hessian-spectrum", problem + " --method lanczos --top 3 --bottom 6 --density-probes 4 "
                                                   "--density-steps 30 --trace-samples 12 --json --eigenvectors --out " + out);
  ASSERT_EQ(lz.exit_code, 0) << lz.out;
  const auto j = nlohmann::json::parse(lz.out);
  EXPECT_EQ(j["method"], "lanczos");
  ASSERT_EQ(j["eigenvalues_bottom"].size(), 6u);
  ASSERT_EQ(j["eigenvalues_top"].size(), 3u);
  const double norm = 1000.0;
  // Agreement to 1e-8 relative (tol = 1e-8 bounds each residual by 1e-8·|H|, and |θ − λ| ≤ residual).
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_NEAR(j["eigenvalues_bottom"][i].get<double>(), exact[i], 1e-8 * norm);
    EXPECT_LE(j["residuals_bottom"][i].get<double>(), 1.01e-8 * norm);
  }
  for (std::size_t i = 0; i < 3; ++i) EXPECT_NEAR(j["eigenvalues_top"][i].get<double>(), exact[297 + i], 1e-8 * norm);
  // Trace: Hutchinson estimate within 4 standard errors of the exact sum.
  double trace = 0.0;
  for (double l : exact) trace += l;
  EXPECT_NEAR(j["trace"].get<double>(), trace, 4.0 * j["trace_stderr"].get<double>());
  // HVPs: the reported count includes Lanczos, SLQ (4·30) and trace (12) products.
  EXPECT_GE(j["hvp_count"].get<long>(), 4 * 30 + 12);

  namespace h5 = sc::io::h5;
  h5::Handle file = h5::open_file(out);
  EXPECT_EQ(h5::read_string_attribute(file.get(), "format"), "saddlescope-result");
  const Eigen::MatrixXd vecs = h5::read_matrix(file.get(), "eigenpairs/bottom_eigenvectors", 1 << 20);
  EXPECT_EQ(vecs.rows(), 300);
  EXPECT_EQ(vecs.cols(), 6);
  const Eigen::MatrixXd nodes = h5::read_matrix(file.get(), "density/nodes", 1 << 20);
  EXPECT_EQ(nodes.cols(), 4);
  EXPECT_EQ(h5::read_vector(file.get(), "diagonal/estimate", 1 << 20).size(), 300);
  std::filesystem::remove(out);

  // The dense path on the same point: the same extremes, exact trace.
  const ToolRun dn = run("hessian-spectrum", problem + " --method dense --top 3 --bottom 6 --json");
  ASSERT_EQ(dn.exit_code, 0) << dn.out;
  const auto d = nlohmann::json::parse(dn.out);
  EXPECT_EQ(d["method"], "dense");
  for (std::size_t i = 0; i < 6; ++i)
    EXPECT_NEAR(d["eigenvalues_bottom"][i].get<double>(), j["eigenvalues_bottom"][i].get<double>(), 2e-8 * norm);
  EXPECT_NEAR(d["trace"].get<double>(), trace, 1e-10 * norm * 300);
  EXPECT_EQ(d["trace_stderr"].get<double>(), 0.0);
  EXPECT_NEAR(d["index_fraction"].get<double>(), 4.0 / 300.0, 1e-15);
}

TEST(HessianSpectrumTool, RosenbrockFarAboveTheDenseThreshold) {
  // rosenbrock:n=20000 at a seeded random point in [-1, 1]^n, from a checkpoint; auto picks Lanczos.
  // Checked against exact inequalities: λ_max ≤ Gershgorin's bound max_i (H_ii + Σ_{j≠i}|H_ij|), and
  // λ_min ≤ min_i H_ii ≤ max_i H_ii ≤ λ_max (Rayleigh quotients of unit vectors). The tridiagonal
  // Hessian is assembled from its HVP with three interleaved comb vectors (columns i ≡ c mod 3 do not
  // overlap in a tridiagonal matrix).
  const Eigen::Index n = 20000;
  auto f = sc::objective::make_test_function("rosenbrock:n=20000");
  sc::random::Rng rng(8, 0);
  sc::io::Checkpoint cp;
  cp.params.resize(n);
  for (Eigen::Index i = 0; i < n; ++i) cp.params(i) = 2.0 * rng.uniform() - 1.0;
  cp.spec = f->spec();
  const std::string path = temp_path("rosenbrock.h5");
  sc::io::Provenance p;
  p.tool = "test_curvature";
  sc::io::write_checkpoint(path, cp, p);
  const ToolRun r = run("hessian-spectrum", path + " --top 2 --bottom 2 --density-probes 0 --trace-samples 0 --json");
  std::filesystem::remove(path);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["method"], "lanczos");
  EXPECT_EQ(j["trace"], nullptr);
  Eigen::MatrixXd E = Eigen::MatrixXd::Zero(n, 3), HE;
  for (Eigen::Index i = 0; i < n; ++i) E(i, i % 3) = 1.0;
  f->hessian_vector_product(cp.params, E, HE);
  double gersh = -1e300, min_diag = 1e300, max_diag = -1e300;
  for (Eigen::Index i = 0; i < n; ++i) {
    const int c = static_cast<int>(i % 3);
    const double d = HE(i, c);
    const double off = (i > 0 ? std::abs(HE(i, (i - 1) % 3)) : 0.0) + (i + 1 < n ? std::abs(HE(i, (i + 1) % 3)) : 0.0);
    gersh = std::max(gersh, d + off);
    min_diag = std::min(min_diag, d);
    max_diag = std::max(max_diag, d);
  }
  const double lmax = j["eigenvalues_top"][1].get<double>(), lmin = j["eigenvalues_bottom"][0].get<double>();
  EXPECT_LE(lmax, gersh * (1 + 1e-12));
  EXPECT_GE(lmax + j["residuals_top"][1].get<double>(), max_diag);
  EXPECT_LE(lmin, min_diag);
}

TEST(HessianSpectrumTool, BadInputIsOneLineAndExitTwo) {
  EXPECT_EQ(run("hessian-spectrum", "--problem rosenbrock:n=10 --at start --method magic").exit_code, 2);
  EXPECT_EQ(run("hessian-spectrum", "--problem rosenbrock:n=10 --at start --curvature ggn --json").exit_code, 2);
  EXPECT_EQ(run("hessian-spectrum", "--problem rosenbrock:n=10 --at start --top 20 --json").exit_code, 2);
  EXPECT_EQ(run("hessian-spectrum", "/nonexistent/file.h5").exit_code, 3);
}

TEST(ClassifyCriticalTool, LanczosPathAgreesWithDense) {
  // A strict saddle of index 3 at the origin of quadratic:n=400 (critical: gradient 0).
  const std::string problem = "--problem quadratic:n=400,kappa=100,negative=3,seed=1 --at " + [] {
    std::string at = "0";
    for (int i = 1; i < 400; ++i) at += ",0";
    return at;
  }();
  const ToolRun lz = run("classify-critical", problem + " --method lanczos --show 4 --density-probes 8 --density-steps 40 --json");
  ASSERT_EQ(lz.exit_code, 0) << lz.out;
  const auto j = nlohmann::json::parse(lz.out);
  EXPECT_EQ(j["verdict"], "strict_saddle");
  EXPECT_EQ(j["method"], "lanczos");
  EXPECT_EQ(j["uncertain"], false);
  EXPECT_EQ(j["n"], 400);
  EXPECT_EQ(j["index"], 3);  // lower bound from the 4 smallest Ritz values: exactly 3 are negative
  const ToolRun dn = run("classify-critical", problem + " --method dense --json");
  ASSERT_EQ(dn.exit_code, 0) << dn.out;
  const auto d = nlohmann::json::parse(dn.out);
  EXPECT_EQ(d["verdict"], "strict_saddle");
  EXPECT_NEAR(j["lambda_min"].get<double>(), d["lambda_min"].get<double>(), 1e-8 * 100.0);
  EXPECT_NEAR(j["lambda_max"].get<double>(), d["lambda_max"].get<double>(), 1e-8 * 100.0);
  // Index estimate 3/400 within its statistical error bar plus quadrature resolution (slq.h).
  EXPECT_NEAR(j["index_fraction"].get<double>(), 3.0 / 400.0,
              4.0 * j["index_fraction_stderr"].get<double>() + j["index_fraction_resolution"].get<double>());
}

TEST(ClassifyCriticalTool, UncertainWhenLambdaMinIsWithinItsErrorBarOfZero) {
  // Positive definite quadratic (λ_min = 1, λ_max = 1e4) with a Lanczos tolerance so loose (0.3) that
  // λ_min's error bar (up to 0.3·1e4) covers zero: the tool must say uncertain, not local_minimum; with
  // the default tolerance the verdict is local_minimum.
  std::string at = "0";
  for (int i = 1; i < 300; ++i) at += ",0";
  const std::string problem = "--problem quadratic:n=300,kappa=10000,seed=5 --at " + at;
  const ToolRun loose = run("classify-critical", problem + " --method lanczos --tol 0.3 --max-iterations 1 --density-probes 0 --json");
  const auto j = nlohmann::json::parse(loose.out);
  EXPECT_EQ(j["verdict"], "uncertain") << j["decided_by"];
  EXPECT_EQ(j["uncertain"], true);
  // --show 1: only λ_min and λ_max to tolerance (the 5 smallest of this geometric spectrum sit in a
  // cluster of relative width 1e-5 and need thousands of products).
  const ToolRun tight = run("classify-critical", problem + " --method lanczos --show 1 --density-probes 0 --json");
  ASSERT_EQ(tight.exit_code, 0);
  const auto t = nlohmann::json::parse(tight.out);
  EXPECT_EQ(t["verdict"], "local_minimum") << t["decided_by"];
  EXPECT_NEAR(t["condition_number"].get<double>(), 1e4, 1e4 * 2e-8);  // κ = λ_max/λ_min = kappa exactly
}

}  // namespace
