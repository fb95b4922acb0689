// The dense path's inertia by LDLᵀ (curvature::inertia_ldlt_band, critical::decide(grad, H, λ, ...))
// against the count of computed eigenvalues outside/inside [−τ, τ]. Sylvester's law makes them equal in
// exact arithmetic; in floating point they can differ only when an eigenvalue lies within rounding
// (≈ n·ε·‖H‖ times pivot growth, ~1e-13·‖H‖ here) of ±τ. The matrices below keep every eigenvalue at
// least 1e-6·‖H‖ away from ±τ, seven orders above that, so equality is a theorem, not a hope.
#include <gtest/gtest.h>

#include <Eigen/Eigenvalues>

#include "critical/classify.h"
#include "curvature/dense.h"
#include "curvature/inertia.h"
#include "support.h"

namespace sc = saddlescope;
using sc::curvature::inertia_from_eigenvalues;
using sc::curvature::inertia_ldlt_band;
using sc::curvature::testing::dense_eigenvalues;
using sc::curvature::testing::random_symmetric;
using sc::curvature::testing::with_spectrum;

namespace {

void expect_same(const sc::curvature::Inertia& a, const sc::curvature::Inertia& b) {
  EXPECT_EQ(a.negative, b.negative);
  EXPECT_EQ(a.zero, b.zero);
  EXPECT_EQ(a.positive, b.positive);
}

TEST(InertiaBand, RandomMatricesAgreeWithEigenvalueCounts) {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    const Eigen::MatrixXd H = random_symmetric(60 + 20 * static_cast<Eigen::Index>(seed), seed);
    const Eigen::VectorXd lambda = dense_eigenvalues(H);
    // τ = 0 (pure sign count; a GOE matrix has no eigenvalue within 1e-6·‖H‖ of 0 at these seeds — checked)
    // and a τ between two eigenvalues, so the band holds a known number of them.
    const double norm = lambda.cwiseAbs().maxCoeff();
    ASSERT_GT(lambda.cwiseAbs().minCoeff(), 1e-6 * norm);
    expect_same(inertia_ldlt_band(H, 0.0), inertia_from_eigenvalues(lambda, 0.0));
    const Eigen::Index n = lambda.size();
    Eigen::Index j = n / 2;
    while (lambda(j) <= 0) ++j;
    const double tau = 0.5 * (lambda(j) + lambda(j + 1));  // mid-gap: far from every eigenvalue
    const auto band = inertia_ldlt_band(H, tau);
    expect_same(band, inertia_from_eigenvalues(lambda, tau));
    EXPECT_EQ(band.negative + band.zero + band.positive, n);
  }
}

TEST(InertiaBand, DegenerateSpectrumCountsTheZeroCluster) {
  // 7 exact zeros (rounding of the similarity transform makes them ~1e-15), 3 at ±1e-3 (inside the band
  // for τ = 1e-2, outside for τ = 1e-4), the rest of size 1..10 with both signs.
  Eigen::VectorXd lambda(40);
  for (Eigen::Index i = 0; i < 40; ++i) lambda(i) = (i % 2 == 0 ? 1.0 : -1.0) * (1.0 + 0.25 * static_cast<double>(i % 37));
  for (Eigen::Index i = 0; i < 7; ++i) lambda(i) = 0.0;
  lambda(7) = 1e-3;
  lambda(8) = -1e-3;
  lambda(9) = 1e-3;
  const Eigen::MatrixXd H = with_spectrum(lambda, 3);
  const Eigen::VectorXd computed = dense_eigenvalues(H);
  for (double tau : {1e-2, 1e-4, 1e-8}) {
    SCOPED_TRACE(tau);
    const auto band = inertia_ldlt_band(H, tau);
    expect_same(band, inertia_from_eigenvalues(computed, tau));
    expect_same(band, inertia_from_eigenvalues(lambda, tau));  // the prescribed spectrum itself
  }
  EXPECT_EQ(inertia_ldlt_band(H, 1e-8).zero, 7);
  EXPECT_EQ(inertia_ldlt_band(H, 1e-2).zero, 10);
}

TEST(InertiaBand, ZeroMatrixAndBadTau) {
  const auto in = inertia_ldlt_band(Eigen::MatrixXd::Zero(5, 5), 1e-10);
  EXPECT_EQ(in.zero, 5);
  EXPECT_THROW(inertia_ldlt_band(Eigen::MatrixXd::Zero(5, 5), -1.0), std::invalid_argument);
  EXPECT_THROW(inertia_ldlt_band(Eigen::MatrixXd::Zero(5, 4), 1.0), std::invalid_argument);
}

TEST(InertiaBand, DenseClassificationUsesLdltAndReportsADisagreement) {
  Eigen::VectorXd lambda(6);
  lambda << -2.0, -1.0, 0.0, 0.0, 3.0, 5.0;
  const Eigen::MatrixXd H = with_spectrum(lambda, 9);
  const Eigen::VectorXd computed = dense_eigenvalues(H);
  sc::critical::ClassifyOptions o;
  sc::critical::Classification c;
  sc::critical::decide(0.0, H, computed, o, c);
  EXPECT_EQ(c.inertia_method, "ldlt");
  EXPECT_FALSE(c.inertia_disagreement);
  EXPECT_EQ(c.index, 2);
  EXPECT_EQ(c.nullity, 2);
  EXPECT_EQ(c.positive, 2);
  EXPECT_EQ(c.verdict, sc::critical::Verdict::strict_saddle);
  // Eigenvalues that disagree with H (a zero moved outside the band): the counts come from the
  // factorisation of H, and the decision text says that the two counts differ.
  Eigen::VectorXd moved = computed;
  moved(2) = -0.5;
  sc::critical::Classification d;
  sc::critical::decide(0.0, H, moved, o, d);
  EXPECT_TRUE(d.inertia_disagreement);
  EXPECT_EQ(d.index, 2);
  EXPECT_EQ(d.eigenvalue_index, 3);
  EXPECT_NE(d.decided_by.find("differs from the eigenvalue count"), std::string::npos) << d.decided_by;
}

}  // namespace
