// rmt/exact.h at a shift μ and the exact index moments: against closed forms (k = 1, 2), the limits in μ,
// the normalisation of the generating function, symmetry, and Monte Carlo at small k.
#include <gtest/gtest.h>

#include <boost/math/distributions/normal.hpp>
#include <boost/math/quadrature/gauss_kronrod.hpp>
#include <cmath>

#include "rmt/exact.h"
#include "rmt/montecarlo.h"

namespace sc = saddlescope;

namespace {

double normal_cdf(double x) { return boost::math::cdf(boost::math::normal_distribution<double>(), x); }

sc::rmt::MonteCarloResult goe_mc(int k, double shift, std::int64_t n, std::uint64_t seed) {
  sc::rmt::EnsembleOptions e;
  e.kind = sc::rmt::EnsembleKind::kGoeShift;
  e.shift = shift;
  sc::rmt::MonteCarloOptions o;
  o.samples = n;
  o.sampler = sc::rmt::Sampler::kTridiagonal;
  o.confidence = 0.999;  // a correct sampler lands outside with probability 1e-3 per check
  return sc::rmt::monte_carlo(sc::rmt::Ensemble(e, k), o, seed, 11);
}

}  // namespace

TEST(RmtExactShift, KOneIsTheNormalCdf) {
  // k = 1: H₀ ~ N(0, 1), so P(H₀ + μ > 0) = Φ(μ). 400-digit arithmetic: only the rounding to double
  // and Boost's double-precision Φ (a few ulp) remain; 1e-14 relative covers both.
  for (double mu : {-3.0, -0.5, 0.0, 0.7, 2.5}) {
    const auto e = sc::rmt::goe_positive_probability_exact(1, mu);
    ASSERT_TRUE(e.available);
    EXPECT_NEAR(e.p / normal_cdf(mu), 1.0, 1e-14) << mu;
  }
}

TEST(RmtExactShift, KTwoMatchesTheRadialIntegral) {
  // 2×2 GOE: λ = (u ± r)/√2 with u = (h₁₁ + h₂₂)/√2 ~ N(0, 1) and r² = ((h₁₁ − h₂₂)² + 4h₁₂²)/2 ~ χ²₂
  // independent of u, so P(λ_min > −μ) = ∫₀^∞ r e^{−r²/2} Φ̄(r − μ√2) dr — a one-dimensional integral
  // evaluated here by adaptive Gauss–Kronrod (error estimate < 1e-12), independent of the Pfaffian.
  for (double mu : {-1.5, -0.3, 0.0, 0.8, 2.0}) {
    auto f = [mu](double r) { return r * std::exp(-r * r / 2) * (1 - normal_cdf(r - mu * std::sqrt(2.0))); };
    double err = 0;
    const double want = boost::math::quadrature::gauss_kronrod<double, 61>::integrate(f, 0.0, 40.0, 15, 1e-14, &err);
    const auto e = sc::rmt::goe_positive_probability_exact(2, mu);
    ASSERT_TRUE(e.available);
    EXPECT_NEAR(e.p / want, 1.0, 1e-10) << mu;
  }
  EXPECT_NEAR(sc::rmt::goe_positive_probability_exact(2, 0.0).p, (2 - std::sqrt(2.0)) / 4, 1e-15);
}

TEST(RmtExactShift, LimitsAndMonotonicityInTheShift) {
  // μ → +∞: every eigenvalue of a k = 10 GOE lies within ±(√(2k) + a few) of 0, so at μ = 12 the
  // probability is 1 to well below 1e-6 (the largest-eigenvalue tail at 12 − √20 ≈ 7.5 is ~e^{−7.5²/2}·k).
  // μ → −∞: all eigenvalues above |μ| forces every one into the Gaussian tail: ln P ≤ k·ln Φ̄(|μ|) does not
  // hold in general, but P must fall below the single-eigenvalue bound P(λ_max > |μ|) ≤ k·Φ̄(|μ|) — here
  // with μ = −6 and k = 3, far below. Between, P rises with μ.
  EXPECT_NEAR(sc::rmt::goe_positive_probability_exact(10, 12.0).p, 1.0, 1e-6);
  EXPECT_LT(sc::rmt::goe_positive_probability_exact(3, -6.0).p, 3 * (1 - normal_cdf(6.0)));
  double previous = 0;
  for (double mu = -4; mu <= 8; mu += 0.5) {
    const double p = sc::rmt::goe_positive_probability_exact(6, mu).p;
    EXPECT_GT(p, previous) << mu;
    previous = p;
  }
  EXPECT_FALSE(sc::rmt::goe_positive_probability_exact(5, 100.0).available);
  EXPECT_FALSE(sc::rmt::goe_positive_probability_exact(5, std::nan("")).available);
}

TEST(RmtExactShift, AgreesWithMonteCarloAtSmallK) {
  for (int k : {3, 5}) {
    for (double mu : {-0.8, 1.0, 2.5}) {
      const double want = sc::rmt::goe_positive_probability_exact(k, mu).p;
      const auto r = goe_mc(k, mu, 200000, 40 + static_cast<std::uint64_t>(k));
      EXPECT_LE(r.ci_low, want) << "k " << k << " mu " << mu;
      EXPECT_GE(r.ci_high, want) << "k " << k << " mu " << mu;
    }
  }
}

TEST(RmtExactIndex, GeneratingFunctionIsNormalised) {
  // E[z^N] at z = 1 is 1: the weighted Pfaffian (four regions, reflection, mixed moments) against Mehta's
  // closed form; at z = 0 it is P(N = 0), the shifted positive probability computed by the other path.
  // 400-digit arithmetic: 1e-12 is rounding to double with room.
  for (int k : {1, 2, 3, 6, 11, 20}) {
    for (double mu : {0.0, 1.3, -0.9}) {
      EXPECT_NEAR(sc::rmt::goe_index_generating_function(k, mu, 1.0), 1.0, 1e-12) << k << " " << mu;
      EXPECT_NEAR(sc::rmt::goe_index_generating_function(k, mu, 0.0) / sc::rmt::goe_positive_probability_exact(k, mu).p,
                  1.0, 1e-12)
          << k << " " << mu;
    }
  }
}

TEST(RmtExactIndex, ClosedFormsForKOneAndTwoAndSymmetricMean) {
  // k = 1: N ~ Bernoulli(Φ(−μ)), so the variance is Φ(μ)Φ(−μ). k = 2, μ = 0: P(N = 0) = P(N = 2) =
  // (2 − √2)/4 and mean 1, so Var N = 2·(2 − √2)/4 = (2 − √2)/2. μ = 0: H and −H have the same law, so
  // the mean is k/2 exactly. Tolerances: the central differences' truncation (~1e-60) and rounding.
  for (double mu : {0.0, 0.6, -1.2}) {
    const auto m = sc::rmt::goe_index_moments_exact(1, mu);
    ASSERT_TRUE(m.available);
    EXPECT_NEAR(m.mean, normal_cdf(-mu), 1e-13);
    EXPECT_NEAR(m.variance, normal_cdf(mu) * normal_cdf(-mu), 1e-13);
  }
  EXPECT_NEAR(sc::rmt::goe_index_moments_exact(2).variance, (2 - std::sqrt(2.0)) / 2, 1e-13);
  for (int k : {5, 10, 30, 60})
    EXPECT_NEAR(sc::rmt::goe_index_moments_exact(k).mean, k / 2.0, 1e-10 * k) << k;
}

TEST(RmtExactIndex, VarianceAgreesWithMonteCarlo) {
  // The sample variance of n draws has standard error ≈ σ²·√(2/n) for a near-Gaussian count (the index
  // is close to Gaussian: its kurtosis excess is O(1/ln k)); with n = 300000 that is 0.26% of σ², and
  // 5 of them (plus the kurtosis allowance, ×1.5) bound a chance failure far below 1e-4.
  for (auto [k, mu] : {std::pair{10, 0.0}, std::pair{30, 0.0}, std::pair{8, 1.5}}) {
    const auto exact = sc::rmt::goe_index_moments_exact(k, mu);
    const auto r = goe_mc(k, mu, 300000, 70 + static_cast<std::uint64_t>(k));
    const double se = 1.5 * exact.variance * std::sqrt(2.0 / 300000);
    EXPECT_NEAR(r.index_variance, exact.variance, 5 * se) << "k " << k << " mu " << mu;
    EXPECT_NEAR(r.index_mean, exact.mean, 5 * std::sqrt(exact.variance / 300000)) << "k " << k << " mu " << mu;
  }
}
