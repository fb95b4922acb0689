// rmt: ensembles, Monte Carlo with exact intervals, subset simulation and the exact GOE values,
// checked against closed forms and against each other.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>

#include "cli/k_list.h"
#include "rmt/check.h"
#include "rmt/ensemble.h"
#include "rmt/exact.h"
#include "rmt/montecarlo.h"
#include "rmt/splitting.h"

namespace sc = saddlescope;
using sc::rmt::EnsembleKind;

namespace {

sc::rmt::Ensemble make(EnsembleKind kind, int k, double shift = 0.0) {
  sc::rmt::EnsembleOptions o;
  o.kind = kind;
  o.shift = shift;
  return sc::rmt::Ensemble(o, k);
}

// Tests use 99.9% Clopper–Pearson intervals: a correct sampler lands outside with probability ≤ 1e-3
// per check, so the dozen checks below would fail by chance with probability ≈ 1% for a random seed
// (the seeds are fixed, so the outcome is deterministic).
sc::rmt::MonteCarloResult mc(const sc::rmt::Ensemble& e, std::int64_t n, sc::rmt::Sampler sampler, std::uint64_t seed = 1) {
  sc::rmt::MonteCarloOptions o;
  o.samples = n;
  o.sampler = sampler;
  o.confidence = 0.999;
  return sc::rmt::monte_carlo(e, o, seed, 7);
}

}  // namespace

TEST(RmtExact, ClosedFormsForKOneAndTwo) {
  // k = 1: a single N(0, 1) is positive with probability ½. k = 2: (2 − √2)/4, derived in rmt/exact.h
  // (and directly: for the 2×2 GOE, λ_min > 0 ⇔ h₁₁ + h₂₂ > √((h₁₁ − h₂₂)² + 4h₁₂²); with u = (h₁₁ + h₂₂)/√2
  // ~ N(0,1) and the radius r² = ((h₁₁−h₂₂)² + 4h₁₂²)/2 ~ χ²₂ independent of u, P(u > r) = ∫ e^{−r²/2} r ·
  // Φ̄(r) dr = ½ − 1/(2√2) = (2 − √2)/4). Tolerance: 400-digit arithmetic, so only the final rounding to
  // double remains.
  const auto one = sc::rmt::goe_positive_probability_exact(1);
  ASSERT_TRUE(one.available);
  EXPECT_NEAR(one.p, 0.5, 1e-15);
  const auto two = sc::rmt::goe_positive_probability_exact(2);
  EXPECT_NEAR(two.p, (2.0 - std::sqrt(2.0)) / 4.0, 1e-15);
  EXPECT_FALSE(sc::rmt::goe_positive_probability_exact(0).available);
}

TEST(RmtExact, DecaysLikeDeanMajumdar) {
  // Successive second differences of ln P_k approach −2θ = −ln 3/2 (Dean & Majumdar 2006); at k = 40
  // the finite-size correction is below 1% (observed 0.2%; we allow 2%).
  const double l38 = sc::rmt::goe_positive_probability_exact(38).log_p;
  const double l39 = sc::rmt::goe_positive_probability_exact(39).log_p;
  const double l40 = sc::rmt::goe_positive_probability_exact(40).log_p;
  const double theta = -(l40 - 2 * l39 + l38) / 2;
  EXPECT_NEAR(theta, std::log(3.0) / 4, 0.02 * std::log(3.0) / 4);
}

TEST(RmtMonteCarlo, GoeKOneIsOneHalfWithBothSamplers) {
  for (auto sampler : {sc::rmt::Sampler::kDense, sc::rmt::Sampler::kTridiagonal}) {
    const auto r = mc(make(EnsembleKind::kGoe, 1), 100000, sampler);
    EXPECT_LE(r.ci_low, 0.5);
    EXPECT_GE(r.ci_high, 0.5);
  }
}

TEST(RmtMonteCarlo, GoeTwoByTwoMatchesClosedForm) {
  const double want = (2.0 - std::sqrt(2.0)) / 4.0;
  for (auto sampler : {sc::rmt::Sampler::kDense, sc::rmt::Sampler::kTridiagonal}) {
    const auto r = mc(make(EnsembleKind::kGoe, 2), 200000, sampler);
    EXPECT_LE(r.ci_low, want) << sc::rmt::to_string(sampler);
    EXPECT_GE(r.ci_high, want) << sc::rmt::to_string(sampler);
  }
}

TEST(RmtMonteCarlo, GoeMatchesExactForSmallK) {
  // Dense LDLᵀ sampler and the tridiagonal model against de Bruijn's Pfaffian, k = 3…6.
  for (int k = 3; k <= 6; ++k) {
    const double want = sc::rmt::goe_positive_probability_exact(k).p;
    for (auto sampler : {sc::rmt::Sampler::kDense, sc::rmt::Sampler::kTridiagonal}) {
      const std::int64_t n = sampler == sc::rmt::Sampler::kDense ? 100000 : 400000;
      const auto r = mc(make(EnsembleKind::kGoe, k), n, sampler, 100 + static_cast<std::uint64_t>(k));
      EXPECT_LE(r.ci_low, want) << "k " << k << " " << sc::rmt::to_string(sampler);
      EXPECT_GE(r.ci_high, want) << "k " << k << " " << sc::rmt::to_string(sampler);
    }
  }
}

TEST(RmtMonteCarlo, DiagonalEnsembleGivesHalfPowerAndBinomialIndex) {
  for (int k : {1, 2, 3, 5, 8}) {
    const auto r = mc(make(EnsembleKind::kDiagonal, k), 200000, sc::rmt::Sampler::kDense, 200 + static_cast<std::uint64_t>(k));
    EXPECT_LE(r.ci_low, std::pow(0.5, k)) << k;
    EXPECT_GE(r.ci_high, std::pow(0.5, k)) << k;
    // Index ~ Binomial(k, ½): mean k/2, variance k/4; the sample mean's standard error is √(k/4/n), and
    // 4 standard errors bound a chance failure by 1e-4.
    EXPECT_NEAR(r.index_mean, k / 2.0, 4 * std::sqrt(k / 4.0 / 200000)) << k;
    EXPECT_NEAR(r.index_variance, k / 4.0, 0.02 * k / 4.0 + 0.01) << k;  // var of s² ≈ 2σ⁴/n: 0.3% rel. at n=2e5
  }
}

TEST(RmtMonteCarlo, GoeIndexMeanIsHalfK) {
  // H and −H have the same law, so the index has mean k/2 exactly; the sample mean's spread is below
  // √(k/4/n) (the GOE index variance is far below the binomial k/4), so 4 such errors are a safe bound.
  for (int k : {4, 9}) {
    const auto r = mc(make(EnsembleKind::kGoe, k), 100000, sc::rmt::Sampler::kTridiagonal, 300);
    EXPECT_NEAR(r.index_mean, k / 2.0, 4 * std::sqrt(k / 4.0 / 100000));
    EXPECT_LT(r.index_variance, k / 4.0);  // level repulsion: far below independent signs
  }
}

TEST(RmtMonteCarlo, WishartIsPositiveDefinite) {
  const auto r = mc(make(EnsembleKind::kWishart, 6), 20000, sc::rmt::Sampler::kDense);
  EXPECT_EQ(r.hits, r.samples);
}

TEST(RmtMonteCarlo, HessianOfQuadraticOnAllDirectionsHasItsIndex) {
  // Restricted to k = n orthonormal directions, QᵀAQ is similar to A: the index is exactly `negative`.
  sc::rmt::EnsembleOptions o;
  o.kind = EnsembleKind::kHessian;
  o.objective = "quadratic:n=6,kappa=10,negative=2,seed=3";
  const auto r = mc(sc::rmt::Ensemble(o, 6), 2000, sc::rmt::Sampler::kDense);
  EXPECT_EQ(r.index_histogram[2], r.samples);
  // On 3 random directions of a positive-definite quadratic: every restriction is positive definite.
  o.objective = "quadratic:n=10,kappa=10,negative=0,seed=3";
  const auto q = mc(sc::rmt::Ensemble(o, 3), 2000, sc::rmt::Sampler::kDense);
  EXPECT_EQ(q.hits, q.samples);
}

TEST(RmtMonteCarlo, ShiftedGoeMovesTheIndex) {
  // GOE + μI with μ far above the semicircle edge √(2k) is positive definite in practice; far below, never.
  EXPECT_EQ(mc(make(EnsembleKind::kGoeShift, 5, 20.0), 5000, sc::rmt::Sampler::kTridiagonal).hits, 5000);
  EXPECT_EQ(mc(make(EnsembleKind::kGoeShift, 5, -20.0), 5000, sc::rmt::Sampler::kDense).hits, 0);
}

TEST(RmtSplitting, MatrixPcnAgreesWithExactAndMonteCarlo) {
  sc::rmt::SplittingOptions o;
  o.moves = sc::rmt::SplittingMoves::kMatrixPcn;
  o.population = 500;
  o.repetitions = 8;
  for (int k : {3, 6, 10}) {
    const auto exact = sc::rmt::goe_positive_probability_exact(k);
    const auto s = sc::rmt::subset_simulation(make(EnsembleKind::kGoe, k), o, 5, 9);
    ASSERT_EQ(s.status, sc::rmt::SplittingStatus::kConverged);
    // 4 measured standard errors (relative) on the log scale: a chance failure has probability
    // ~1e-3 even with the t-distribution of 7 degrees of freedom.
    EXPECT_NEAR(s.log_p, exact.log_p, 4 * s.relative_error) << "k " << k;
    EXPECT_LT(s.relative_error, 0.5) << "k " << k;
    if (k == 3) {
      const auto m = mc(make(EnsembleKind::kGoe, k), 200000, sc::rmt::Sampler::kTridiagonal, 3);
      const double mc_rel = std::sqrt((1 - m.p) / (m.p * m.samples));
      EXPECT_NEAR(s.log_p, std::log(m.p), 4 * std::hypot(s.relative_error, mc_rel));
    }
  }
}

TEST(RmtSplitting, EigenvalueGasAgreesWithExactFarInTheTail) {
  // k = 16: P ≈ 5.5e-34 (exact Pfaffian), past 1e-30, where the matrix-space pCN chains begin to freeze.
  sc::rmt::SplittingOptions o;
  o.moves = sc::rmt::SplittingMoves::kEigenvalueGas;
  o.population = 400;
  for (int k : {4, 16}) {
    const auto exact = sc::rmt::goe_positive_probability_exact(k);
    const auto s = sc::rmt::subset_simulation(make(EnsembleKind::kGoe, k), o, 8, 3);
    ASSERT_EQ(s.status, sc::rmt::SplittingStatus::kConverged);
    EXPECT_NEAR(s.log_p, exact.log_p, 4 * s.relative_error) << "k " << k;  // 4 measured standard errors
    EXPECT_LT(s.relative_error, 0.5) << "k " << k;
  }
}

TEST(RmtSplitting, DiagonalEnsembleGivesHalfPower) {
  sc::rmt::SplittingOptions o;
  o.population = 500;
  const int k = 20;  // 0.5^20 ≈ 1e-6: 20 levels' worth of chains on independent coordinates
  const auto s = sc::rmt::subset_simulation(make(EnsembleKind::kDiagonal, k), o, 6, 1);
  EXPECT_NEAR(s.log_p, k * std::log(0.5), 4 * s.relative_error);
}

TEST(RmtCheck, SameBitsForOneAndTwoThreads) {
  sc::rmt::CheckOptions o;
  o.ks = {2, 7};
  o.monte_carlo.samples = 30000;
  o.monte_carlo.sampler = sc::rmt::Sampler::kDense;
  o.min_hits = 1000000;  // force splitting after MC at every k
  o.splitting.population = 200;
  o.splitting.repetitions = 3;
  for (auto moves : {sc::rmt::SplittingMoves::kMatrixPcn, sc::rmt::SplittingMoves::kEigenvalueGas}) {
  o.splitting.moves = moves;
  omp_set_num_threads(1);
  const auto a = sc::rmt::run_check(o, 42);
  omp_set_num_threads(2);
  const auto b = sc::rmt::run_check(o, 42);
  ASSERT_EQ(a.results.size(), b.results.size());
  for (std::size_t i = 0; i < a.results.size(); ++i) {
    EXPECT_EQ(a.results[i].monte_carlo.hits, b.results[i].monte_carlo.hits);
    EXPECT_EQ(a.results[i].monte_carlo.index_histogram, b.results[i].monte_carlo.index_histogram);
    EXPECT_EQ(a.results[i].splitting.run_log_estimates, b.results[i].splitting.run_log_estimates);  // bitwise
    EXPECT_EQ(a.results[i].p, b.results[i].p);
  }
  }
  omp_set_num_threads(1);
}

TEST(RmtCheck, ParsesKListsAndRejectsBadOnes) {
  EXPECT_EQ(sc::cli::parse_k_list("1:4"), (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(sc::cli::parse_k_list("2:10:4"), (std::vector<int>{2, 6, 10}));
  EXPECT_EQ(sc::cli::parse_k_list("3,5"), (std::vector<int>{3, 5}));
  EXPECT_THROW(sc::cli::parse_k_list("-3"), std::invalid_argument);
  EXPECT_THROW(sc::cli::parse_k_list("0:4"), std::invalid_argument);
  EXPECT_THROW(sc::cli::parse_k_list("a"), std::invalid_argument);
  EXPECT_THROW(sc::rmt::kEnsembleNames.parse("gue"), std::invalid_argument);
}

TEST(RmtCheck, FitRecoversThetaFromExactValues) {
  // The fit machinery on the exact values over k = 1…30 (pure arithmetic): the quadratic coefficient
  // is within 0.5% of ln 3/4 (the finite-size terms a + bk absorb most of the correction).
  sc::rmt::CheckOptions o;
  o.ks = sc::cli::parse_k_list("1:30");
  o.method = sc::rmt::Method::kMonteCarlo;
  o.monte_carlo.samples = 1;
  const auto r = sc::rmt::run_check(o, 1);
  ASSERT_TRUE(r.fit.has_theta_exact);
  EXPECT_NEAR(r.fit.theta_exact, std::log(3.0) / 4, 0.005 * std::log(3.0) / 4);
}
