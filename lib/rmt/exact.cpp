#include "rmt/exact.h"

#include <boost/math/constants/constants.hpp>
#include <cmath>
#include <vector>

#include "rmt/multiprecision.h"

namespace saddlescope::rmt {

namespace {

using multiprecision::gaussian_tail;
using multiprecision::pfaffian;
using Real = multiprecision::Real;
using RealMatrix = multiprecision::RealMatrix;

// The one-sided integrals over (a, ∞) of exact.h: moments M_j (j < k) and the skew part
// S(i, j) = G(i, j) − G(j, i) (i, j < k).
struct OneSided {
  std::vector<Real> moments;
  RealMatrix skew;
};

OneSided one_sided(int k, const Real& a) {
  const auto K = static_cast<std::size_t>(k);
  const Real ea = boost::multiprecision::exp(-a * a / 2), ea2 = ea * ea;
  std::vector<Real> M(std::max<std::size_t>(K, 2));
  M[0] = gaussian_tail(a);
  M[1] = ea;
  for (std::size_t j = 2; j < M.size(); ++j) M[j] = boost::multiprecision::pow(a, static_cast<int>(j) - 1) * ea + Real(j - 1) * M[j - 2];
  const std::size_t nh = std::max<std::size_t>(2 * K, 2);
  std::vector<Real> H(nh);
  H[0] = gaussian_tail(a * boost::multiprecision::sqrt(Real(2))) / boost::multiprecision::sqrt(Real(2));
  H[1] = ea2 / 2;
  for (std::size_t n = 2; n < nh; ++n) H[n] = boost::multiprecision::pow(a, static_cast<int>(n) - 1) * ea2 / 2 + Real(n - 1) / 2 * H[n - 2];
  RealMatrix G(K, std::vector<Real>(K));
  for (std::size_t i = 0; i < K; ++i) {
    for (std::size_t j = 0; j < K; ++j) {
      Real& g = G[i][j];
      if (i == 0) {
        if (j == 0)
          g = M[0] * M[0] / 2;
        else if (j == 1)
          g = H[0];
        else
          g = Real(j - 1) * G[0][j - 2] + H[j - 1];
      } else {
        g = boost::multiprecision::pow(a, static_cast<int>(i) - 1) * ea * M[j] - H[i + j - 1];
        if (i >= 2) g += Real(i - 1) * G[i - 2][j];
      }
    }
  }
  OneSided out;
  out.moments.assign(M.begin(), M.begin() + static_cast<std::ptrdiff_t>(K));
  out.skew.assign(K, std::vector<Real>(K));
  for (std::size_t i = 0; i < K; ++i)
    for (std::size_t j = 0; j < K; ++j) out.skew[i][j] = G[i][j] - G[j][i];
  return out;
}

// Pfaffian of de Bruijn's matrix for the weight w = z below c, 1 above (exact.h). `below` holds the
// one-sided integrals at a = −c (the region below c reflected); it is not read when z = 0.
Real weighted_pfaffian(int k, const Real& z, const OneSided& above, const OneSided& below) {
  const auto K = static_cast<std::size_t>(k);
  const std::size_t n = K + (K % 2);
  RealMatrix A(n, std::vector<Real>(n, Real(0)));
  std::vector<Real> m_below(K, Real(0));
  if (z != 0)
    for (std::size_t i = 0; i < K; ++i) m_below[i] = (i % 2 == 0 ? 1 : -1) * below.moments[i];
  for (std::size_t i = 0; i < K; ++i) {
    for (std::size_t j = 0; j < K; ++j) {
      A[i][j] = above.skew[i][j];
      if (z != 0) {
        const Real reflected = ((i + j) % 2 == 0 ? -1 : 1) * below.skew[i][j];
        A[i][j] += z * z * reflected + z * (m_below[i] * above.moments[j] - above.moments[i] * m_below[j]);
      }
    }
  }
  if (K % 2 == 1) {
    for (std::size_t i = 0; i < K; ++i) {
      A[i][n - 1] = z * m_below[i] + above.moments[i];
      A[n - 1][i] = -A[i][n - 1];
    }
  }
  return pfaffian(A);
}

// Ordered Mehta integral (2π)^{k/2} Π_{j=1..k} Γ(1 + j/2)/Γ(3/2) / k!, with Γ(1 + j/2) from
// Γ(1) = 1, Γ(3/2) = √π/2 and Γ(x + 1) = xΓ(x).
Real mehta_ordered(int k) {
  const Real pi = boost::math::constants::pi<Real>();
  const Real gamma_three_halves = boost::multiprecision::sqrt(pi) / 2;
  Real gamma_prev = 1, gamma_cur = gamma_three_halves;  // Γ(1 + (j−1)/2), Γ(1 + j/2) for j = 1
  Real z = boost::multiprecision::pow(2 * pi, Real(k) / 2);
  for (int j = 1; j <= k; ++j) {
    z *= gamma_cur / gamma_three_halves / Real(j);
    const Real next = (Real(j) / 2 + Real(1) / 2) * gamma_prev;  // Γ(1 + (j+1)/2) = ((j+1)/2)·Γ((j+1)/2)
    gamma_prev = gamma_cur;
    gamma_cur = next;
  }
  return z;
}

bool shift_in_range(double shift) { return std::isfinite(shift) && std::abs(shift) <= kMaxExactShift; }

}  // namespace

ExactValue goe_positive_probability_exact(int k) { return goe_positive_probability_exact(k, 0.0); }

ExactValue goe_positive_probability_exact(int k, double shift) {
  ExactValue out;
  if (k < 1 || k > kMaxExactK || !shift_in_range(shift)) return out;
  const OneSided above = one_sided(k, Real(-shift));
  const Real p = abs(weighted_pfaffian(k, Real(0), above, above)) / mehta_ordered(k);
  out.available = true;
  out.log_p = static_cast<double>(log(p));
  out.p = static_cast<double>(p);
  return out;
}

ExactIndexMoments goe_index_moments_exact(int k, double shift) {
  ExactIndexMoments out;
  if (k < 1 || k > kMaxExactIndexK || !shift_in_range(shift)) return out;
  const OneSided above = one_sided(k, Real(-shift)), below = one_sided(k, Real(shift));
  const Real h("1e-30");
  const Real f0 = weighted_pfaffian(k, Real(1), above, below);
  const Real fp = weighted_pfaffian(k, 1 + h, above, below), fm = weighted_pfaffian(k, 1 - h, above, below);
  // F(z) = Pf(z)/Pf(1): F(1) = 1, whatever the sign convention of the Pfaffian.
  const Real d1 = (fp - fm) / (2 * h) / f0, d2 = (fp - 2 * f0 + fm) / (h * h) / f0;
  out.available = true;
  out.mean = static_cast<double>(d1);
  out.variance = static_cast<double>(d2 + d1 - d1 * d1);
  return out;
}

double goe_index_generating_function(int k, double shift, double z) {
  if (k < 1 || k > kMaxExactIndexK || !shift_in_range(shift) || !(z >= 0)) return std::nan("");
  const OneSided above = one_sided(k, Real(-shift)), below = one_sided(k, Real(shift));
  return static_cast<double>(abs(weighted_pfaffian(k, Real(z), above, below)) / mehta_ordered(k));
}

}  // namespace saddlescope::rmt
