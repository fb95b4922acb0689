#include <gtest/gtest.h>

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>

#include "curvature/lanczos.h"
#include "curvature/slq.h"
#include "curvature/trace.h"
#include "objective/test_functions.h"
#include "support.h"

namespace sc = saddlescope;
using sc::curvature::MatrixOperator;
using sc::curvature::SlqOptions;
using sc::curvature::SlqResult;
using sc::curvature::testing::random_symmetric;
using sc::curvature::testing::with_spectrum;

namespace {

double trapezoid(const Eigen::VectorXd& x, const Eigen::VectorXd& y) {
  double s = 0.0;
  for (Eigen::Index i = 1; i < x.size(); ++i) s += 0.5 * (x(i) - x(i - 1)) * (y(i) + y(i - 1));
  return s;
}

// Statistical checks use 4 standard errors: a correct unbiased estimator fails one with probability
// ~6e-5 (normal approximation); the seeds are fixed, so each test is deterministic.
constexpr double kSigmas = 4.0;

// SLQ on `A` with `probes` probes of `steps` Lanczos steps, the other options at their defaults.
SlqResult slq(const sc::curvature::SymmetricOperator& A, Eigen::Index probes, Eigen::Index steps) {
  SlqOptions o;
  o.probes = probes;
  o.steps = steps;
  return sc::curvature::stochastic_lanczos_quadrature(A, o);
}

TEST(Slq, DensityIntegratesToOneAndMomentsMatchTraces) {
  const Eigen::MatrixXd A = random_symmetric(400, 12);
  const double n = 400.0;
  const double tr1 = A.trace() / n, tr2 = (A * A).trace() / n;  // tr(A)/n and tr(A²)/n, densely
  SlqOptions o;
  o.probes = 20;
  o.steps = 40;
  const SlqResult r = sc::curvature::stochastic_lanczos_quadrature(MatrixOperator(A), o);
  // Each probe's weights sum to 1 (first components of an orthogonal matrix), to rounding.
  for (Eigen::Index j = 0; j < o.probes; ++j) EXPECT_NEAR(r.weights.col(j).sum(), 1.0, 1e-12);
  // The smoothed density: mass 1 up to the tails outside ±6σ (< 2e-9) and trapezoid error (grid step
  // ≈ 0.11σ: exponentially small for Gaussians).
  EXPECT_NEAR(trapezoid(r.grid, r.density), 1.0, 1e-7);
  // Broadening preserves the mean and adds σ² to the second moment (exact identities of the mixture).
  const Eigen::VectorXd t = r.grid;
  const double mean = trapezoid(t, t.cwiseProduct(r.density));
  const double second = trapezoid(t, t.cwiseProduct(t).cwiseProduct(r.density));
  EXPECT_NEAR(mean, r.trace / n, 1e-6 * std::sqrt(tr2));
  EXPECT_NEAR(second, r.second_moment + r.sigma_absolute * r.sigma_absolute, 1e-6 * tr2);
  // Unbiased estimates of tr(A)/n and tr(A²)/n (quadrature exact for degree ≤ 2·steps−1).
  EXPECT_NEAR(r.trace / n, tr1, kSigmas * r.trace_stderr / n);
  EXPECT_NEAR(r.second_moment, tr2, kSigmas * r.second_moment_stderr);
  EXPECT_EQ(r.hvp_count, o.probes * o.steps);
}

TEST(Slq, FullKrylovSpaceGivesTheExactEigenvalues) {
  // steps = n: each probe's Krylov space is all of R^n (its components on every eigenvector are
  // nonzero with probability 1), so its nodes are the eigenvalues (up to rounding of the tridiagonal).
  const Eigen::MatrixXd A = random_symmetric(30, 2);
  const Eigen::VectorXd exact = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(A).eigenvalues();
  const SlqResult r = slq(MatrixOperator(A), 3, 30);
  for (Eigen::Index j = 0; j < 3; ++j) {
    ASSERT_EQ(r.steps_taken(j), 30);
    for (Eigen::Index i = 0; i < 30; ++i) EXPECT_NEAR(r.nodes(i, j), exact(i), 1e-10 * exact.cwiseAbs().maxCoeff());
  }
}

TEST(Slq, DegenerateSpectrumBreaksDownEarlyAndExactly) {
  // 3 distinct eigenvalues (0 with multiplicity 90, 1 and 5): every Krylov space has dimension 3, so the
  // recurrence must stop after 3 steps with the exact measure.
  Eigen::VectorXd lambda = Eigen::VectorXd::Zero(100);
  lambda.segment(90, 5).setConstant(1.0);
  lambda.segment(95, 5).setConstant(5.0);
  const Eigen::MatrixXd A = with_spectrum(lambda, 3);
  const SlqResult r = slq(MatrixOperator(A), 4, 50);
  for (Eigen::Index j = 0; j < 4; ++j) {
    EXPECT_EQ(r.steps_taken(j), 3);
    EXPECT_NEAR(r.nodes(0, j), 0.0, 1e-10);
    EXPECT_NEAR(r.nodes(1, j), 1.0, 1e-10);
    EXPECT_NEAR(r.nodes(2, j), 5.0, 1e-10);
  }
  EXPECT_EQ(r.hvp_count, 4 * 3);
  EXPECT_EQ(r.index_fraction, 0.0);
}

TEST(Slq, IndexFractionWithinItsErrorBar) {
  // 100 of 400 eigenvalues negative (exact fraction 0.25 by construction of quadratic:...).
  auto f = sc::objective::make_test_function("quadratic:n=400,kappa=50,negative=100,seed=3");
  const Eigen::VectorXd x = Eigen::VectorXd::Zero(400);
  const sc::curvature::ObjectiveOperator H(*f, x, sc::curvature::Curvature::hessian);
  SlqOptions o;
  o.probes = 16;
  o.steps = 60;
  const SlqResult r = sc::curvature::stochastic_lanczos_quadrature(H, o);
  EXPECT_NEAR(r.index_fraction, 0.25, kSigmas * r.index_fraction_stderr + r.index_fraction_resolution);
  EXPECT_GT(r.index_fraction_stderr, 0.0);
  // Grouping changes which products share a pass, not the probes: same quadrature up to rounding.
  SlqOptions o1 = o;
  o1.probe_block = 1;
  const SlqResult r1 = sc::curvature::stochastic_lanczos_quadrature(H, o1);
  EXPECT_NEAR(r1.index_fraction, r.index_fraction, 1e-9);
  EXPECT_NEAR(r1.trace, r.trace, 1e-9 * std::abs(r.trace) + 1e-9);
}

TEST(Trace, HutchinsonUnbiasedWithinStandardErrorAndDiagonal) {
  const Eigen::MatrixXd A = random_symmetric(200, 5) + 3.0 * Eigen::MatrixXd::Identity(200, 200);
  const auto r = sc::curvature::hutchinson(MatrixOperator(A), 300, 17);
  EXPECT_EQ(r.trace.hvp_count, 300);
  EXPECT_NEAR(r.trace.trace, A.trace(), kSigmas * r.trace.stderr_);
  // The standard error estimates the true one: per-sample variance 2(‖A‖_F² − Σ A_ii²) (Hutchinson 1990).
  const double exact_sd = std::sqrt(2.0 * (A.squaredNorm() - A.diagonal().squaredNorm()) / 300.0);
  EXPECT_NEAR(r.trace.stderr_, exact_sd, 0.25 * exact_sd);  // sd of a 300-sample sd estimate ≈ 4%
  Eigen::Index outside = 0;
  for (Eigen::Index i = 0; i < 200; ++i)
    if (std::abs(r.diagonal(i) - A(i, i)) > kSigmas * r.diagonal_stderr(i)) ++outside;
  EXPECT_LE(outside, 1);  // expected 200·6e-5 ≈ 0.01 entries
}

TEST(Trace, DiagonalOperatorIsExact) {
  // Rastrigin's Hessian is diagonal: z ⊙ Hz = diag(H) for every Rademacher z, so one sample is exact.
  auto f = sc::objective::make_test_function("rastrigin:n=50");
  Eigen::VectorXd x = Eigen::VectorXd::LinSpaced(50, -1.0, 1.0);
  Eigen::MatrixXd H;
  f->hessian(x, H);
  const sc::curvature::ObjectiveOperator op(*f, x, sc::curvature::Curvature::hessian);
  const auto r = sc::curvature::hutchinson(op, 4, 1);
  EXPECT_LE((r.diagonal - H.diagonal()).cwiseAbs().maxCoeff(), 1e-12 * H.diagonal().cwiseAbs().maxCoeff());
  EXPECT_NEAR(r.trace.trace, H.trace(), 1e-10 * std::abs(H.trace()));
}

TEST(Trace, HutchPlusPlusExactForLowRankAndUnbiased) {
  // Rank 5 ≤ products/3 = 10: Q spans the range of A, the remainder is zero, the estimate exact.
  Eigen::VectorXd lambda = Eigen::VectorXd::Zero(120);
  lambda.tail(5) << 1.0, 2.0, 3.0, -4.0, 50.0;
  const Eigen::MatrixXd L = with_spectrum(lambda, 4);
  const auto exact = sc::curvature::hutch_plus_plus(MatrixOperator(L), 30, 2);
  EXPECT_NEAR(exact.trace, 52.0, 1e-10 * 50.0);
  EXPECT_EQ(exact.hvp_count, 30);
  const Eigen::MatrixXd A = random_symmetric(150, 8);
  const auto r = sc::curvature::hutch_plus_plus(MatrixOperator(A), 300, 3);
  EXPECT_NEAR(r.trace, A.trace(), kSigmas * r.stderr_);
  EXPECT_THROW(sc::curvature::hutch_plus_plus(MatrixOperator(A), 31, 3), std::invalid_argument);
}

// Linear least squares f(x) = (1/2N) Σ (m_iᵀx − y_i)², written by hand: the Hessian product uses the
// Gram matrix MᵀM/N, the Gauss–Newton product the Jacobian route Jᵀ(H_loss(Jv)) sample by sample, the
// Fisher product (1/N) Σ g_i g_iᵀ v with per-sample gradients g_i = m_i(m_iᵀx − y_i).
class LinearLeastSquares final : public sc::objective::Objective {
 public:
  LinearLeastSquares(Eigen::MatrixXd M, Eigen::VectorXd y)
      : M_(std::move(M)), y_(std::move(y)), gram_(M_.transpose() * M_ / static_cast<double>(M_.rows())) {}
  Eigen::Index dim() const override { return M_.cols(); }
  double value(const Eigen::VectorXd& x) const override { return 0.5 * (M_ * x - y_).squaredNorm() / N(); }
  double gradient(const Eigen::VectorXd& x, Eigen::VectorXd& g) const override {
    g = M_.transpose() * (M_ * x - y_) / N();
    return value(x);
  }
  void hessian_vector_product(const Eigen::VectorXd&, const Eigen::MatrixXd& V, Eigen::MatrixXd& HV) const override {
    HV = gram_ * V;
  }
  bool has_gauss_newton() const override { return true; }
  void gauss_newton_vector_product(const Eigen::VectorXd&, const Eigen::MatrixXd& V, Eigen::MatrixXd& GV) const override {
    GV.setZero(dim(), V.cols());
    for (Eigen::Index i = 0; i < M_.rows(); ++i) GV += M_.row(i).transpose() * ((M_.row(i) * V) / N());
  }
  void fisher_vector_product(const Eigen::VectorXd& x, const Eigen::MatrixXd& V, Eigen::MatrixXd& FV) const override {
    FV.setZero(dim(), V.cols());
    for (Eigen::Index i = 0; i < M_.rows(); ++i) {
      const Eigen::VectorXd g = M_.row(i).transpose() * (M_.row(i).dot(x) - y_(i));
      FV += g * (g.transpose() * V) / N();
    }
  }
  nlohmann::json spec() const override { return {{"kind", "test-linear-least-squares"}}; }
  std::string description() const override { return "linear least squares (test)"; }

 private:
  double N() const { return static_cast<double>(M_.rows()); }
  Eigen::MatrixXd M_;
  Eigen::VectorXd y_;
  Eigen::MatrixXd gram_;
};

TEST(Curvature, GaussNewtonEqualsHessianForLinearLeastSquares) {
  sc::random::Rng rng(4, 0);
  Eigen::MatrixXd M(80, 30);
  Eigen::VectorXd y(80), x(30);
  for (Eigen::Index i = 0; i < M.size(); ++i) M.data()[i] = rng.normal();
  for (Eigen::Index i = 0; i < 80; ++i) y(i) = rng.normal();
  for (Eigen::Index i = 0; i < 30; ++i) x(i) = rng.normal();
  const LinearLeastSquares f(M, y);
  using sc::curvature::Curvature;
  const Eigen::MatrixXd H = sc::curvature::ObjectiveOperator(f, x, Curvature::hessian).dense();
  const Eigen::MatrixXd G = sc::curvature::ObjectiveOperator(f, x, Curvature::ggn).dense();
  const Eigen::MatrixXd F = sc::curvature::ObjectiveOperator(f, x, Curvature::fisher).dense();
  // Same matrix by two summation orders: equal to rounding (1e-13 relative).
  EXPECT_LE((G - H).cwiseAbs().maxCoeff(), 1e-13 * H.cwiseAbs().maxCoeff());
  // Fisher is PSD, and its Lanczos λ_min agrees with the dense one through the same operator interface.
  const Eigen::VectorXd fe = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(F).eigenvalues();
  EXPECT_GE(fe(0), -1e-12 * fe(fe.size() - 1));
  // GGN through the operator interface in the eigensolver: matches the Hessian's extremes.
  sc::curvature::EigenpairOptions o;
  o.k = 2;
  o.which = sc::curvature::Which::both_ends;
  o.ncv = 20;  // < n = 30 so the iterative path runs
  const sc::curvature::ObjectiveOperator gop(f, x, Curvature::ggn);
  const auto r = sc::curvature::extreme_eigenpairs(gop, o);
  const Eigen::VectorXd he = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(H).eigenvalues();
  ASSERT_TRUE(r.converged) << r.message;
  EXPECT_NEAR(r.eigenvalues(0), he(0), 1e-8 * he(29));
  EXPECT_NEAR(r.eigenvalues(3), he(29), 1e-8 * he(29));
}

TEST(Curvature, TestFunctionsRefuseGaussNewton) {
  auto f = sc::objective::make_test_function("rosenbrock:n=4");
  const Eigen::VectorXd x = Eigen::VectorXd::Zero(4);
  EXPECT_THROW(sc::curvature::ObjectiveOperator(*f, x, sc::curvature::Curvature::ggn), std::invalid_argument);
  EXPECT_EQ(sc::curvature::kCurvatureNames.find("fisher"), sc::curvature::Curvature::fisher);
  EXPECT_FALSE(sc::curvature::kCurvatureNames.find("hessain").has_value());
}

}  // namespace
