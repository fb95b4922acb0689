// rmt/exact_jacobi.h: the two-level Hessian's exact P(H > 0) through the real Jacobi ensemble, against the
// beta distribution (k = 1), symmetry, Selberg's integral, and plain Monte Carlo of the `hessian` ensemble.
#include <gtest/gtest.h>

#include <boost/math/special_functions/beta.hpp>
#include <cmath>

#include "rmt/check.h"
#include "rmt/exact_jacobi.h"
#include "rmt/montecarlo.h"

namespace sc = saddlescope;

namespace {

sc::rmt::EnsembleOptions two_level(int n, int negative, double shift = 0.0) {
  sc::rmt::EnsembleOptions e;
  e.kind = sc::rmt::EnsembleKind::kHessian;
  e.objective = "quadratic:n=" + std::to_string(n) + ",kappa=1,negative=" + std::to_string(negative) + ",seed=4";
  e.shift = shift;
  return e;
}

}  // namespace

TEST(RmtExactJacobi, KOneIsTheBetaTail) {
  // k = 1: U = w₋/(w₊ + w₋) with w₋ ~ χ²_q, w₊ ~ χ²_p is Beta(q/2, p/2), so P = I_u(q/2, p/2), u = (1 + t)/2.
  // The Pfaffian side is exact to 400 digits; Boost's double ibeta is accurate to a few ulp (its docs:
  // max error < 1e-14 relative on this range), hence 1e-13 relative. p = 122 is β = 60, the supported
  // bound, where the alternating binomial sums cancel most.
  for (auto [p, q] : {std::pair{2L, 2L}, {6L, 4L}, {10L, 20L}, {122L, 40L}, {40L, 122L}})
    for (double t : {-0.8, -0.3, 0.0, 0.54}) {
      const auto e = sc::rmt::two_level_positive_probability_exact(1, p, q, t);
      ASSERT_TRUE(e.available) << p << " " << q;
      const double expected = boost::math::ibeta(q / 2.0, p / 2.0, (1 + t) / 2);
      EXPECT_NEAR(e.p / expected, 1.0, 1e-13) << p << " " << q << " " << t;
      EXPECT_NEAR(e.log_p, std::log(expected), 1e-13) << p << " " << q << " " << t;
    }
}

TEST(RmtExactJacobi, KOneEqualSignsAtZeroShiftIsOneHalf) {
  // p = q, t = 0: W₊ and W₋ are exchangeable scalars, so P(w₊ > w₋) = ½ exactly.
  for (long p : {2L, 4L, 10L, 30L}) EXPECT_NEAR(sc::rmt::two_level_positive_probability_exact(1, p, p, 0.0).p, 0.5, 1e-15);
}

TEST(RmtExactJacobi, NormalisationIsSelbergsIntegral) {
  // Z(1), ordered, is Selberg's integral with a = α + 1, b = β + 1, γ = ½, over k!:
  //   Π_{j<k} Γ(a + j/2) Γ(b + j/2) Γ(1 + (j + 1)/2) / (Γ(a + b + (k + j − 1)/2) Γ(3/2)).
  // An independent closed form of the whole Pfaffian construction at u = 1; lgamma's rounding over ≤ 4k
  // terms of size ≤ 300 is below 1e-12 absolute in the log.
  for (int k : {2, 3, 5, 8, 13})
    for (auto [alpha, beta] : {std::pair{0, 0}, {1, 3}, {5, 2}, {12, 0}}) {
      double selberg = -std::lgamma(k + 1.0);
      for (int j = 0; j < k; ++j)
        selberg += std::lgamma(alpha + 1 + j / 2.0) + std::lgamma(beta + 1 + j / 2.0) + std::lgamma(1 + (j + 1) / 2.0) -
                   std::lgamma(alpha + beta + 2 + (k + j - 1) / 2.0) - std::lgamma(1.5);
      EXPECT_NEAR(sc::rmt::jacobi_log_normalisation(k, alpha, beta), selberg, 1e-12) << k << " " << alpha << " " << beta;
    }
}

TEST(RmtExactJacobi, FlatWeightScalesAsAPowerAtAnyDepth) {
  // α = β = 0 (p = q = k + 1): the density Π|x_i − x_j| on [0, u]^k scales as u^{k + k(k−1)/2}, so
  // P = u^{k(k+1)/2} exactly — a closed form at every depth, which checks the Pfaffian's 400 digits where the
  // cancellation is worst (k = 99: ln P ≈ −3400 at t = 0). The log is exact to the rounding of the result.
  for (int k : {1, 2, 7, 20, 41, 99})
    for (double t : {-0.5, 0.0, 0.3}) {
      if (k == 99 && t != 0.0) continue;  // 2 s per Pfaffian pair at k = 99: one depth is enough there
      const auto e = sc::rmt::two_level_positive_probability_exact(k, k + 1, k + 1, t);
      ASSERT_TRUE(e.available) << k;
      const double expected = 0.5 * k * (k + 1) * std::log((1 + t) / 2);
      EXPECT_NEAR(e.log_p / expected, 1.0, 1e-13) << k << " " << t;
    }
}

TEST(RmtExactJacobi, AgreesWithMonteCarloOfTheHessianEnsemble) {
  // The tool's own ensemble (Householder Q, s·QᵀAQ + μI, dense inertia) sampled directly, against the exact
  // value through check.h's exact_value (the kHessian case): within the 99.9% Clopper–Pearson interval of
  // 100 000 draws (a chance miss has probability 1e-3 per cell). Cells: p = q (α = β = 1) at μ = 0 and a
  // positive shift, an unequal split (α = 1, β = 3) at a negative shift, and p < q (α = 2, β = 1) at a scale s = 2 (t = μ/s).
  struct Cell {
    int n, negative, k;
    double shift, scale;
  };
  for (const Cell c : {Cell{12, 6, 3, 0.0, 1.0}, Cell{12, 6, 3, 0.4, 1.0}, Cell{16, 6, 3, -0.2, 1.0}, Cell{12, 7, 2, 0.6, 2.0}}) {
    sc::rmt::EnsembleOptions e = two_level(c.n, c.negative, c.shift);
    e.scale = c.scale;
    e.point_scale = 3.0;  // the point does not matter for a quadratic
    const auto exact = sc::rmt::exact_value(e, c.k);
    ASSERT_TRUE(exact.available) << c.n << " " << c.k;
    sc::rmt::MonteCarloOptions o;
    o.samples = 100000;
    o.sampler = sc::rmt::Sampler::kDense;
    o.confidence = 0.999;
    const auto m = sc::rmt::monte_carlo(sc::rmt::Ensemble(e, c.k), o, 17, 3);
    EXPECT_GE(exact.p, m.ci_low) << c.n << " " << c.shift;
    EXPECT_LE(exact.p, m.ci_high) << c.n << " " << c.shift;
  }
}

TEST(RmtExactJacobi, OnlyTwoLevelQuadraticsWithIntegerExponentsHaveAValue) {
  EXPECT_TRUE(sc::rmt::exact_value(two_level(12, 6), 3).available);
  EXPECT_FALSE(sc::rmt::exact_value(two_level(12, 6), 4).available);  // α = β = ½: half-integer, not done
  EXPECT_FALSE(sc::rmt::exact_value(two_level(12, 6), 7).available);  // k > min(p, q)
  sc::rmt::EnsembleOptions e = two_level(12, 6);
  e.objective = "quadratic:n=12,kappa=10,negative=6,seed=4";  // not two-level
  EXPECT_FALSE(sc::rmt::exact_value(e, 3).available);
  e.objective = "quadratic:n=12,kappa=1,negative=5,zero=1,seed=4";  // a zero eigenvalue: not two-level
  EXPECT_FALSE(sc::rmt::exact_value(e, 3).available);
  e.objective = "rosenbrock:n=12";
  EXPECT_FALSE(sc::rmt::exact_value(e, 3).available);
  // Beyond |t| = 1 one side of (1 + t)W₊ − (1 − t)W₋ has a fixed sign.
  EXPECT_EQ(sc::rmt::exact_value(two_level(12, 6, 1.5), 3).p, 1.0);
  EXPECT_EQ(sc::rmt::exact_value(two_level(12, 6, -1.0), 3).p, 0.0);
}
