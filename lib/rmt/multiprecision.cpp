#include "rmt/multiprecision.h"

#include <boost/math/constants/constants.hpp>
#include <limits>

namespace saddlescope::rmt::multiprecision {

Real pfaffian(RealMatrix& A) {
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

// √(π/2) − I(a), I(a) = ∫_0^a e^{−t²/2} dt = e^{−a²/2} Σ_{n≥0} a^{2n+1}/(2n+1)!! (every term of the sign of
// a, so the series does not cancel; it is summed past its peak at n ≈ a²/2).
Real gaussian_tail(const Real& a) {
  const Real a2 = a * a;
  Real term = a, sum = a;
  for (int n = 1;; ++n) {
    term *= a2 / Real(2 * n + 1);
    sum += term;
    if (n > a2 && abs(term) <= abs(sum) * std::numeric_limits<Real>::epsilon()) break;
    if (term == 0) break;
  }
  const Real half_pi = boost::math::constants::pi<Real>() / 2;
  return boost::multiprecision::sqrt(half_pi) - boost::multiprecision::exp(-a2 / 2) * sum;
}

}  // namespace saddlescope::rmt::multiprecision
