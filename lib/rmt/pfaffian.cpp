#include "rmt/pfaffian.h"

#include <utility>

namespace saddlescope::rmt {

ExactReal pfaffian(ExactRealMatrix& A) {
  const std::size_t n = A.size();
  ExactReal pf = 1;
  for (std::size_t c = 0; c + 1 < n; c += 2) {
    std::size_t kp = c + 1;
    for (std::size_t i = c + 2; i < n; ++i)
      if (abs(A[c][i]) > abs(A[c][kp])) kp = i;
    if (kp != c + 1) {
      std::swap(A[c + 1], A[kp]);
      for (std::size_t t = 0; t < n; ++t) std::swap(A[t][c + 1], A[t][kp]);
      pf = -pf;
    }
    if (A[c][c + 1] == 0) return ExactReal(0);
    pf *= A[c][c + 1];
    for (std::size_t a = c + 2; a < n; ++a) {
      const ExactReal tau_a = A[c][a] / A[c][c + 1];
      for (std::size_t b = c + 2; b < n; ++b) {
        const ExactReal tau_b = A[c][b] / A[c][c + 1];
        A[a][b] += tau_a * A[b][c + 1] - A[a][c + 1] * tau_b;
      }
    }
  }
  return pf;
}

}  // namespace saddlescope::rmt
