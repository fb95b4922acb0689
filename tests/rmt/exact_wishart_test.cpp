// rmt/exact_wishart.h: P(λ_min(XXᵀ) > c) for the real Wishart, against three independent facts — the
// χ² tail at k = 1, the identity P = e^{−kc/2} at m = k + 1 at every depth, and plain Monte Carlo of the
// tool's own `wishart` ensemble at shallow depth for half-integer a (m − k even).
#include "rmt/exact_wishart.h"

#include <gtest/gtest.h>

#include <boost/math/special_functions/gamma.hpp>
#include <cmath>

#include "rmt/check.h"
#include "rmt/montecarlo.h"

namespace sc = saddlescope;

TEST(RmtExactWishart, KOneIsTheChiSquaredTail) {
  // k = 1: XXᵀ = Σ_j X_1j² ~ χ²_m, so P(χ²_m > c) = Q(m/2, c/2) (Boost's regularised upper incomplete Γ,
  // a few ulp in double). Both parities of m: integer a (m even) and half-integer a (m odd, the erfc
  // base). 400-digit arithmetic leaves only the rounding to double: 1e-13 relative covers Boost's error at
  // these arguments (its documented worst case for gamma_q is below 1e-13 relative at double).
  for (long m : {1L, 2L, 3L, 4L, 7L, 12L})
    for (double c : {0.01, 0.7, 3.0, 25.0, 150.0}) {
      const auto e = sc::rmt::wishart_min_eigenvalue_exceeds_exact(1, m, c);
      ASSERT_TRUE(e.available);
      EXPECT_NEAR(e.p / boost::math::gamma_q(m / 2.0, c / 2.0), 1.0, 1e-13) << "m " << m << " c " << c;
    }
}

TEST(RmtExactWishart, OneExtraDegreeOfFreedomIsExponentialAtEveryDepth) {
  // m = k + 1 (a = 0): substituting λ = x + c in Z(c) leaves Π|x_i − x_j| Π e^{−x_i/2} times e^{−kc/2},
  // so P(c) = e^{−kc/2} exactly. The same recursions and Pfaffian as every other a, so this pins the
  // construction at depth (down to ln P = −20000): ln P to 1e-13 relative (double rounding of a value
  // the 400-digit evaluation holds to ≥ 130 digits at the worst corner, k = 100, c = 400).
  for (int k : {2, 3, 8, 31})
    for (double c : {0.3, 4.0, 40.0, 400.0}) {
      const auto e = sc::rmt::wishart_min_eigenvalue_exceeds_exact(k, k + 1, c);
      ASSERT_TRUE(e.available);
      EXPECT_NEAR(e.log_p / (-0.5 * k * c), 1.0, 1e-13) << "k " << k << " c " << c;
    }
  // The corner of the supported range (2 s: two 100×100 Pfaffians in 400 digits).
  const auto corner = sc::rmt::wishart_min_eigenvalue_exceeds_exact(
      sc::rmt::kMaxExactWishartK, sc::rmt::kMaxExactWishartK + 1, sc::rmt::kMaxExactWishartThreshold);
  ASSERT_TRUE(corner.available);
  EXPECT_NEAR(corner.log_p / (-0.5 * sc::rmt::kMaxExactWishartK * sc::rmt::kMaxExactWishartThreshold), 1.0, 1e-13);
}

TEST(RmtExactWishart, HalfIntegerExponentAgreesWithMonteCarlo) {
  // m − k even (a = −½ at m = k, a = ½ at m = k + 2): the erfc base of the moment recursion. Plain
  // sampling of the tool's wishart ensemble H = XXᵀ/m + μI at μ = −c/m (so H > 0 ⇔ λ_min(XXᵀ) > c), with a
  // 99.9% Clopper–Pearson interval: a correct exact value lands outside with probability 1e-3 per check.
  for (long m : {3L, 5L}) {
    for (double c : {0.05, 0.3, 1.0}) {
      const auto e = sc::rmt::wishart_min_eigenvalue_exceeds_exact(3, m, c);
      ASSERT_TRUE(e.available);
      sc::rmt::EnsembleOptions options;
      options.kind = sc::rmt::EnsembleKind::kWishart;
      options.wishart_dof = m;
      options.shift = -c / static_cast<double>(m);
      sc::rmt::MonteCarloOptions mc;
      mc.samples = 100000;
      mc.confidence = 0.999;
      const auto r = sc::rmt::monte_carlo(sc::rmt::Ensemble(options, 3), mc, 70 + static_cast<std::uint64_t>(m), 5);
      EXPECT_LE(r.ci_low, e.p) << "m " << m << " c " << c;
      EXPECT_GE(r.ci_high, e.p) << "m " << m << " c " << c;
      EXPECT_GT(r.hits, 1000) << "m " << m << " c " << c;  // shallow: the check has power
    }
  }
}

TEST(RmtExactWishart, MonotoneAndBoundedAndRefusesOutsideItsRange) {
  // P(c) falls with c; more degrees of freedom push the spectrum up (XXᵀ for m + 1 columns dominates the
  // one for m in the Loewner order), so P rises with m at fixed c.
  double previous = 1;
  for (double c = 0.25; c <= 8; c += 0.25) {
    const double p = sc::rmt::wishart_min_eigenvalue_exceeds_exact(6, 6, c).p;
    EXPECT_LT(p, previous) << c;
    previous = p;
  }
  double below = 0;
  for (long m = 6; m <= 12; ++m) {
    const double p = sc::rmt::wishart_min_eigenvalue_exceeds_exact(6, m, 2.0).p;
    EXPECT_GT(p, below) << m;
    below = p;
  }
  EXPECT_EQ(sc::rmt::wishart_min_eigenvalue_exceeds_exact(5, 5, 0.0).p, 1.0);
  EXPECT_FALSE(sc::rmt::wishart_min_eigenvalue_exceeds_exact(5, 4, 1.0).available);  // m < k
  EXPECT_FALSE(sc::rmt::wishart_min_eigenvalue_exceeds_exact(5, 5, -1.0).available);
  EXPECT_FALSE(sc::rmt::wishart_min_eigenvalue_exceeds_exact(5, 5, std::nan("")).available);
  EXPECT_FALSE(sc::rmt::wishart_min_eigenvalue_exceeds_exact(5, 5, sc::rmt::kMaxExactWishartThreshold * 2).available);
  EXPECT_FALSE(sc::rmt::wishart_min_eigenvalue_exceeds_exact(sc::rmt::kMaxExactWishartK + 1, 200, 1.0).available);
}

TEST(RmtExactWishart, CheckKnowsTheShiftedWishart) {
  // check.cpp's exact-value switch maps the tool's (μ, s, m) to c = −μm/s.
  sc::rmt::EnsembleOptions e;
  e.kind = sc::rmt::EnsembleKind::kWishart;
  e.wishart_dof = 9;
  e.scale = 2.0;
  e.shift = -0.5;
  const auto v = sc::rmt::exact_value(e, 8);
  ASSERT_TRUE(v.available);
  EXPECT_NEAR(v.log_p / (-0.5 * 8 * (0.5 * 9 / 2.0)), 1.0, 1e-13);  // m = k + 1: e^{−kc/2}, c = 2.25
  e.wishart_dof = 0;                                                // m = k
  EXPECT_EQ(sc::rmt::exact_value(e, 8).log_p, sc::rmt::wishart_min_eigenvalue_exceeds_exact(8, 8, 0.5 * 8 / 2.0).log_p);
}
