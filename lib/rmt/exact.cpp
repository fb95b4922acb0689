#include "rmt/exact.h"

#include <boost/math/constants/constants.hpp>
#include <boost/multiprecision/cpp_bin_float.hpp>
#include <vector>

namespace saddlescope::rmt {

namespace {

using Real = boost::multiprecision::number<boost::multiprecision::cpp_bin_float<400>, boost::multiprecision::et_off>;

// Γ(n/2) for n = 1, 2, …: Γ(½) = √π, Γ(1) = 1, Γ(x + 1) = xΓ(x).
std::vector<Real> half_gammas(int max_n) {
  std::vector<Real> g(static_cast<std::size_t>(max_n + 1));
  g[1] = boost::multiprecision::sqrt(boost::math::constants::pi<Real>());
  if (max_n >= 2) g[2] = 1;
  for (int n = 3; n <= max_n; ++n) g[static_cast<std::size_t>(n)] = Real(n - 2) / 2 * g[static_cast<std::size_t>(n - 2)];
  return g;
}

// Pfaffian of the skew-symmetric n×n matrix A (n even), destroying A: pivoted Parlett–Reid
// elimination (the pivot A(c, kp) of largest magnitude is swapped into A(c, c+1); each swap flips
// the sign).
Real pfaffian(std::vector<std::vector<Real>>& A) {
  const std::size_t n = A.size();
  Real pf = 1;
  for (std::size_t c = 0; c + 1 < n; c += 2) {
    std::size_t kp = c + 1;
    for (std::size_t i = c + 2; i < n; ++i)
      if (abs(A[c][i]) > abs(A[c][kp])) kp = i;
    if (kp != c + 1) {
      std::swap(A[c + 1], A[kp]);
      for (std::size_t t = 0; t < n; ++t) std::swap(A[t][c + 1], A[t][kp]);
      pf = -pf;
    }
    if (A[c][c + 1] == 0) return Real(0);
    pf *= A[c][c + 1];
    for (std::size_t a = c + 2; a < n; ++a) {
      const Real tau_a = A[c][a] / A[c][c + 1];
      for (std::size_t b = c + 2; b < n; ++b) {
        const Real tau_b = A[c][b] / A[c][c + 1];
        A[a][b] += tau_a * A[b][c + 1] - A[a][c + 1] * tau_b;
      }
    }
  }
  return pf;
}

}  // namespace

ExactValue goe_positive_probability_exact(int k) {
  ExactValue out;
  if (k < 1 || k > kMaxExactK) return out;
  const std::vector<Real> gamma_half = half_gammas(2 * k + 2);  // Γ(n/2), n ≤ 2k + 2
  auto Gh = [&](int n) -> const Real& { return gamma_half[static_cast<std::size_t>(n)]; };
  const Real pi = boost::math::constants::pi<Real>();
  const Real sqrt2 = boost::multiprecision::sqrt(Real(2));
  // M_j = 2^{(j−1)/2} Γ((j+1)/2).
  std::vector<Real> M(static_cast<std::size_t>(k));
  for (int j = 0; j < k; ++j) M[static_cast<std::size_t>(j)] = boost::multiprecision::pow(sqrt2, j - 1) * Gh(j + 1);
  std::vector<std::vector<Real>> G(static_cast<std::size_t>(k), std::vector<Real>(static_cast<std::size_t>(k)));
  for (int i = 0; i < k; ++i) {
    for (int j = 0; j < k; ++j) {
      Real& g = G[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)];
      if (i == 0) {
        if (j == 0)
          g = pi / 4;
        else if (j == 1)
          g = boost::multiprecision::sqrt(pi) / 2;
        else
          g = Real(j - 1) * G[0][static_cast<std::size_t>(j - 2)] + Gh(j) / 2;
      } else if (i == 1) {
        g = M[static_cast<std::size_t>(j)] - Gh(j + 1) / 2;
      } else {
        g = Real(i - 1) * G[static_cast<std::size_t>(i - 2)][static_cast<std::size_t>(j)] - Gh(i + j) / 2;
      }
    }
  }
  const std::size_t n = static_cast<std::size_t>(k + (k % 2));
  std::vector<std::vector<Real>> A(n, std::vector<Real>(n, Real(0)));
  for (std::size_t i = 0; i < static_cast<std::size_t>(k); ++i)
    for (std::size_t j = 0; j < static_cast<std::size_t>(k); ++j) A[i][j] = G[i][j] - G[j][i];
  if (k % 2 == 1) {
    for (std::size_t i = 0; i < static_cast<std::size_t>(k); ++i) {
      A[i][n - 1] = M[i];
      A[n - 1][i] = -M[i];
    }
  }
  const Real z_positive = abs(pfaffian(A));
  // Ordered Mehta integral: (2π)^{k/2} Π Γ(1 + j/2)/Γ(3/2) / k!, with Γ(1 + j/2) = Γ((j+2)/2).
  Real z_real = boost::multiprecision::pow(2 * pi, Real(k) / 2);
  for (int j = 1; j <= k; ++j) z_real *= Gh(j + 2) / Gh(3) / Real(j);
  const Real p = z_positive / z_real;
  out.available = true;
  out.log_p = static_cast<double>(log(p));
  out.p = static_cast<double>(p);
  return out;
}

}  // namespace saddlescope::rmt
