#include "curvature/lanczos.h"

#include <gtest/gtest.h>

#include <Eigen/Eigenvalues>
#include <algorithm>

#include "curvature/dense.h"
#include "objective/test_functions.h"
#include "support.h"
#include "support/options.h"

namespace sc = saddlescope;
using sc::curvature::EigenpairOptions;
using sc::curvature::EigenpairResult;
using sc::curvature::MatrixOperator;
using sc::curvature::Which;
using sc::curvature::testing::dense_eigenvalues;
using sc::curvature::testing::random_symmetric;
using sc::curvature::testing::with_spectrum;

namespace {

// Options for the k extreme eigenpairs at `which` end(s), every other option at its default.
EigenpairOptions wanted(Eigen::Index k, Which which) {
  EigenpairOptions o;
  o.k = k;
  o.which = which;
  return o;
}

// The eigenvalues `which` asks for, from the exact (dense) spectrum, in the solver's order.
Eigen::VectorXd expected(const Eigen::VectorXd& all, Which which, Eigen::Index k) {
  if (which == Which::smallest) return all.head(k);
  if (which == Which::largest) return all.tail(k);
  Eigen::VectorXd out(2 * k);
  out << all.head(k), all.tail(k);
  return out;
}

// Checks a converged result against the exact spectrum. Every bound is a theorem, not a fit:
//  * each reported residual r_j = ‖Av−θv‖ ≤ tol·‖A‖_est (the stopping rule) up to the rounding of the
//    final explicit product (≤ 1e-13·‖A‖ at these sizes);
//  * |θ_j − λ_j| ≤ r_j (Weyl: the Ritz value is within its residual of an eigenvalue; at the extremes,
//    with the wanted ones found, it is the j-th one), plus rounding 1e-12·‖A‖;
//  * hence the agreement to 1e-8 relative to ‖A‖ that the issue asks for, when tol ≤ 1e-8;
//  * eigenvectors orthonormal to 1e-10 (full reorthogonalisation keeps the basis orthonormal to
//    ~1e-15·√ncv; 1e-10 leaves room for clustered eigenvalues, where Ritz vectors rotate within the cluster).
void check_against(const EigenpairResult& r, const Eigen::VectorXd& all, Which which, Eigen::Index k, double tol) {
  ASSERT_TRUE(r.converged) << r.message;
  const Eigen::VectorXd want = expected(all, which, k);
  ASSERT_EQ(r.eigenvalues.size(), want.size());
  const double norm = all.cwiseAbs().maxCoeff();
  for (Eigen::Index j = 0; j < want.size(); ++j) {
    EXPECT_LE(r.residuals(j), tol * norm + 1e-13 * norm) << "pair " << j;
    EXPECT_NEAR(r.eigenvalues(j), want(j), r.residuals(j) + 1e-12 * norm) << "pair " << j;
    EXPECT_NEAR(r.eigenvalues(j), want(j), 1e-8 * norm) << "pair " << j;
  }
  const Eigen::MatrixXd gram = r.eigenvectors.transpose() * r.eigenvectors;
  EXPECT_LE((gram - Eigen::MatrixXd::Identity(gram.rows(), gram.cols())).cwiseAbs().maxCoeff(), 1e-10);
  for (Eigen::Index j = 1; j < r.eigenvalues.size(); ++j)
    if (which != Which::both_ends || j != k) {
      EXPECT_LE(r.eigenvalues(j - 1), r.eigenvalues(j));
    }
}

TEST(Lanczos, RandomSymmetricMatricesAgreeWithDense) {
  for (std::uint64_t seed : {1, 2, 3}) {
    const Eigen::MatrixXd A = random_symmetric(300, seed);
    const Eigen::VectorXd all = dense_eigenvalues(A);
    const MatrixOperator op(A);
    for (Which which : {Which::smallest, Which::largest, Which::both_ends}) {
      EigenpairOptions o = wanted(4, which);
      o.seed = seed;
      const EigenpairResult r = sc::curvature::extreme_eigenpairs(op, o);
      SCOPED_TRACE(std::string(sc::curvature::to_string(which)) + " seed " + std::to_string(seed));
      check_against(r, all, which, o.k, o.tol);
    }
  }
}

TEST(Lanczos, QuadraticWithPrescribedIndefiniteDegenerateSpectrum) {
  // quadratic_spectrum gives the exact eigenvalues; 3 negative, 20 zero, 177 positive over kappa = 100.
  auto f = sc::objective::make_test_function("quadratic:n=200,kappa=100,negative=3,zero=20,seed=4");
  const Eigen::VectorXd x = Eigen::VectorXd::Zero(200);
  Eigen::VectorXd all = sc::objective::quadratic_spectrum(200, 100.0, 3, 20);
  std::sort(all.data(), all.data() + all.size());
  for (Which which : {Which::smallest, Which::largest, Which::both_ends}) {
    EigenpairOptions o;
    o.k = 6;  // smallest 6: the 3 negative eigenvalues and 3 of the 20 zeros
    o.which = which;
    const EigenpairResult r = sc::curvature::extreme_eigenpairs(*f, x, o);
    SCOPED_TRACE(std::string(sc::curvature::to_string(which)));
    check_against(r, all, which, o.k, o.tol);
  }
}

TEST(Lanczos, ManyZeroEigenvaluesAllCopiesFound) {
  // A PSD Hessian with a 60-dimensional null space (as network symmetries produce): the 8 smallest are
  // all exactly 0, and 8 orthonormal null vectors must come back — a single-vector Krylov method would
  // see only one copy.
  Eigen::VectorXd lambda = Eigen::VectorXd::Zero(100);
  for (Eigen::Index i = 60; i < 100; ++i) lambda(i) = 1.0 + static_cast<double>(i - 60);
  const Eigen::MatrixXd A = with_spectrum(lambda, 5);
  Eigen::VectorXd all = lambda;
  std::sort(all.data(), all.data() + all.size());
  EigenpairOptions o = wanted(8, Which::smallest);
  o.block_size = 8;  // a block at least as wide as the multiplicity wanted
  const EigenpairResult r = sc::curvature::extreme_eigenpairs(MatrixOperator(A), o);
  check_against(r, all, Which::smallest, 8, o.tol);
  // The null space found is really null: ‖A V‖ small for all 8 columns at once.
  EXPECT_LE((A * r.eigenvectors).norm(), 1e-7 * all.maxCoeff());
}

TEST(Lanczos, StartBlockInsideAnInvariantSubspaceRegression) {
  // Regression for the Spectra 1.0.1 failure mode (start vector in the null space, Krylov space
  // invariant after one step): A = u uᵀ has rank 1; every Krylov space breaks down at once.
  Eigen::VectorXd u = Eigen::VectorXd::LinSpaced(50, 1.0, 2.0);
  const Eigen::MatrixXd A = u * u.transpose();
  const double top = u.squaredNorm();  // the one nonzero eigenvalue
  EigenpairOptions o = wanted(3, Which::both_ends);
  o.block_size = 3;  // 0 has multiplicity 49: three copies wanted
  const EigenpairResult r = sc::curvature::extreme_eigenpairs(MatrixOperator(A), o);
  ASSERT_TRUE(r.converged) << r.message;
  for (Eigen::Index j = 0; j < 5; ++j) EXPECT_NEAR(r.eigenvalues(j), 0.0, 1e-8 * top);
  EXPECT_NEAR(r.eigenvalues(5), top, 1e-8 * top);
  // The zero operator: every product vanishes.
  const EigenpairResult z = sc::curvature::extreme_eigenpairs(MatrixOperator(Eigen::MatrixXd::Zero(40, 40)), o);
  ASSERT_TRUE(z.converged) << z.message;
  EXPECT_EQ(z.eigenvalues.cwiseAbs().maxCoeff(), 0.0);
}

TEST(Lanczos, ClusteredTopEigenvalues) {
  // Three eigenvalues within 2e-6 of each other at the top, the rest spread in [-1, 1].
  Eigen::VectorXd lambda = Eigen::VectorXd::LinSpaced(150, -1.0, 1.0);
  lambda(147) = 10.0 - 2e-6;
  lambda(148) = 10.0 - 1e-6;
  lambda(149) = 10.0;
  const Eigen::MatrixXd A = with_spectrum(lambda, 8);
  EigenpairOptions o = wanted(3, Which::largest);
  o.tol = 1e-10;
  o.block_size = 3;
  const EigenpairResult r = sc::curvature::extreme_eigenpairs(MatrixOperator(A), o);
  check_against(r, lambda, Which::largest, 3, o.tol);
}

TEST(Lanczos, TestFunctionHessiansAgreeWithDense) {
  // Rosenbrock (tridiagonal HVP), Rastrigin and Styblinski–Tang (diagonal HVPs) at seeded random points.
  for (const char* spec : {"rosenbrock:n=400", "rastrigin:n=300", "styblinski_tang:n=300"}) {
    auto f = sc::objective::make_test_function(spec);
    sc::random::Rng rng(21, 0);
    Eigen::VectorXd x(f->dim());
    for (Eigen::Index i = 0; i < x.size(); ++i) x(i) = 2.0 * rng.uniform() - 1.0;
    Eigen::MatrixXd H;
    f->hessian(x, H);
    const Eigen::VectorXd all = dense_eigenvalues(H);
    for (Which which : {Which::smallest, Which::largest}) {
      EigenpairOptions o = wanted(3, which);
      const EigenpairResult r = sc::curvature::extreme_eigenpairs(*f, x, o);
      SCOPED_TRACE(std::string(spec) + " " + std::string(sc::curvature::to_string(which)));
      check_against(r, all, which, 3, o.tol);
    }
  }
}

TEST(Lanczos, AgreesWithSpectra) {
  // Two independent implementations (ours: block thick restart; Spectra: implicitly restarted Lanczos).
  const Eigen::MatrixXd A = random_symmetric(200, 9);
  const MatrixOperator op(A);
  EigenpairOptions o = wanted(3, Which::largest);
  o.tol = 1e-10;
  const EigenpairResult ours = sc::curvature::extreme_eigenpairs(op, o);
  const EigenpairResult theirs = sc::curvature::spectra_extreme_eigenpairs(op, o);
  ASSERT_TRUE(ours.converged && theirs.converged);
  const double norm = ours.norm_estimate;
  // Both within their residuals of the same eigenvalues: the difference is bounded by the sum.
  for (Eigen::Index j = 0; j < 3; ++j)
    EXPECT_NEAR(ours.eigenvalues(j), theirs.eigenvalues(j), ours.residuals(j) + theirs.residuals(j) + 1e-12 * norm);
}

TEST(Lanczos, DeterministicAndCounted) {
  const Eigen::MatrixXd A = random_symmetric(120, 3);
  const MatrixOperator op(A);
  EigenpairOptions o = wanted(2, Which::both_ends);
  o.seed = 42;
  const EigenpairResult a = sc::curvature::extreme_eigenpairs(op, o);
  const std::int64_t after_first = op.product_count();
  const EigenpairResult b = sc::curvature::extreme_eigenpairs(op, o);
  EXPECT_EQ(a.hvp_count, after_first);  // every product the operator saw is in the count
  EXPECT_EQ(a.hvp_count, b.hvp_count);
  for (Eigen::Index j = 0; j < a.eigenvalues.size(); ++j) EXPECT_EQ(a.eigenvalues(j), b.eigenvalues(j));
  EXPECT_EQ((a.eigenvectors - b.eigenvectors).cwiseAbs().maxCoeff(), 0.0);
  // Block size changes the path but not the answer (within the residual bounds).
  EigenpairOptions o1 = o;
  o1.block_size = 2;
  const EigenpairResult c = sc::curvature::extreme_eigenpairs(op, o1);
  for (Eigen::Index j = 0; j < a.eigenvalues.size(); ++j)
    EXPECT_NEAR(a.eigenvalues(j), c.eigenvalues(j), a.residuals(j) + c.residuals(j) + 1e-12 * a.norm_estimate);
}

TEST(Lanczos, SmallOperatorUsesTheDensePath) {
  const Eigen::MatrixXd A = random_symmetric(12, 4);
  EigenpairOptions o = wanted(2, Which::both_ends);
  const EigenpairResult r = sc::curvature::extreme_eigenpairs(MatrixOperator(A), o);
  EXPECT_TRUE(r.dense);
  check_against(r, dense_eigenvalues(A), Which::both_ends, 2, 1e-12);
}

TEST(Lanczos, NotConvergingIsAStatusNotAnException) {
  const Eigen::MatrixXd A = random_symmetric(400, 6);
  EigenpairOptions o;
  o.k = 1;
  o.max_iterations = 1;
  o.tol = 1e-14;
  const EigenpairResult r = sc::curvature::extreme_eigenpairs(MatrixOperator(A), o);
  EXPECT_FALSE(r.converged);
  EXPECT_NE(r.message.find("not converged"), std::string::npos);
  EXPECT_EQ(r.eigenvalues.size(), 1);
}

TEST(Lanczos, InvalidOptionsNameTheField) {
  EigenpairOptions o;
  o.k = 0;
  sc::testing::expect_invalid(o, "'k'");
  o = EigenpairOptions{};
  o.tol = 0.0;
  sc::testing::expect_invalid(o, "'tol'");
  o = EigenpairOptions{};
  o.k = 5;
  o.ncv = 5;  // < k_total + b = 6
  sc::testing::expect_invalid(o, "'ncv'");
  o = EigenpairOptions{};
  o.k = 30;
  o.which = Which::both_ends;
  EXPECT_THROW(sc::curvature::extreme_eigenpairs(MatrixOperator(random_symmetric(40, 1)), o), std::invalid_argument);
  EXPECT_EQ(sc::curvature::kWhichNames.find("both_ends"), Which::both_ends);
  EXPECT_FALSE(sc::curvature::kWhichNames.find("middle").has_value());
}

}  // namespace
