#include "rmt/exact_wishart.h"

#include <cmath>
#include <vector>

#include "rmt/multiprecision.h"

namespace saddlescope::rmt {

namespace {

using multiprecision::Real;
using multiprecision::RealMatrix;

// Pfaffian of de Bruijn's (bordered, for odd k) matrix on (c, ∞) for the Laguerre weight with 2a = a2
// (exact_wishart.h).
Real laguerre_pfaffian(int k, long a2, const Real& c) {
  const auto K = static_cast<std::size_t>(k);
  const Real half = Real(1) / 2;
  const Real ec = boost::multiprecision::exp(-c), ec_half = boost::multiprecision::exp(-c / 2);
  const bool half_integer = (a2 % 2) != 0;  // a2 = −1, 1, 3, …: a = a2/2 half-integer
  // c^s for s > 0 (c^0 = 1; no negative power is ever needed).
  auto power = [&](const Real& s) -> Real {
    if (s == 0) return Real(1);
    return c == 0 ? Real(0) : Real(boost::multiprecision::exp(s * boost::multiprecision::log(c)));
  };
  // M(a + j), j = 0 … k−1, by the upward recursion from M(0) or M(−½).
  const Real a = Real(a2) / 2;
  Real s = half_integer ? -half : Real(0);
  Real moment = half_integer ? 2 * multiprecision::gaussian_tail(boost::multiprecision::sqrt(c)) : 2 * ec_half;
  while (s < a) {
    s += 1;
    moment = 2 * power(s) * ec_half + 2 * s * moment;
  }
  std::vector<Real> M(K);
  M[0] = moment;
  for (std::size_t j = 1; j < K; ++j) {
    const Real t = a + Real(j);
    M[j] = 2 * power(t) * ec_half + 2 * t * M[j - 1];
  }
  // K(n), n = 0 … a2 + 2k − 2.
  const long n_max = std::max<long>(a2 + 2 * (k - 1), 0);
  std::vector<Real> Kn(static_cast<std::size_t>(n_max) + 1);
  Kn[0] = ec;
  for (long n = 1; n <= n_max; ++n)
    Kn[static_cast<std::size_t>(n)] = power(Real(n)) * ec + Real(n) * Kn[static_cast<std::size_t>(n - 1)];
  auto K_of = [&](std::size_t i, std::size_t j) -> const Real& {
    return Kn[static_cast<std::size_t>(a2 + static_cast<long>(i + j))];  // s + t = a2 + i + j ≥ 0 here
  };
  RealMatrix G(K, std::vector<Real>(K));
  G[0][0] = M[0] * M[0] / 2;
  for (std::size_t j = 1; j < K; ++j) G[0][j] = 2 * K_of(0, j) + 2 * (a + Real(j)) * G[0][j - 1];
  for (std::size_t i = 1; i < K; ++i) {
    const Real si = a + Real(i), boundary = 2 * power(si) * ec_half;
    for (std::size_t j = 0; j < K; ++j) G[i][j] = boundary * M[j] - 2 * K_of(i, j) + 2 * si * G[i - 1][j];
  }
  const std::size_t n = K + (K % 2);
  RealMatrix A(n, std::vector<Real>(n, Real(0)));
  for (std::size_t i = 0; i < K; ++i)
    for (std::size_t j = 0; j < K; ++j) A[i][j] = G[i][j] - G[j][i];
  if (K % 2 == 1) {
    for (std::size_t i = 0; i < K; ++i) {
      A[i][n - 1] = M[i];
      A[n - 1][i] = -M[i];
    }
  }
  return multiprecision::pfaffian(A);
}

}  // namespace

ExactValue wishart_min_eigenvalue_exceeds_exact(int k, long m, double threshold) {
  ExactValue out;
  if (k < 1 || k > kMaxExactWishartK || m < k || m - k > kMaxExactWishartExcess || !std::isfinite(threshold) ||
      threshold < 0 || threshold > kMaxExactWishartThreshold)
    return out;
  out.available = true;
  if (threshold == 0) {
    out.p = 1;
    out.log_p = 0;
    return out;
  }
  const long a2 = m - k - 1;
  const Real p = abs(laguerre_pfaffian(k, a2, Real(threshold))) / abs(laguerre_pfaffian(k, a2, Real(0)));
  out.log_p = static_cast<double>(log(p));
  out.p = static_cast<double>(p);
  return out;
}

}  // namespace saddlescope::rmt
