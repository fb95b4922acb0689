#include "curvature/inertia.h"

#include <lapacke.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace saddlescope::curvature {

namespace {

// Misuse: a factorisation of a non-square "symmetric" matrix. `who` names the entry point.
void require_square(const Eigen::MatrixXd& H, const char* who) {
  if (H.rows() != H.cols())
    throw std::invalid_argument(std::string(who) + ": H must be square, got " + std::to_string(H.rows()) + "x" +
                                std::to_string(H.cols()));
}

void count(Inertia& inertia, double eigenvalue, double zero_tolerance) {
  if (std::abs(eigenvalue) <= zero_tolerance)
    ++inertia.zero;
  else if (eigenvalue < 0)
    ++inertia.negative;
  else
    ++inertia.positive;
}

// Symmetric interchange of indices p < q of the trailing matrix (rows/columns ≥ k) held in the lower
// triangle of A. Entries left of column k belong to L, which we do not keep, so they are not moved.
void symmetric_swap(Eigen::MatrixXd& A, Eigen::Index k, Eigen::Index p, Eigen::Index q) {
  if (p == q) return;
  const Eigen::Index n = A.rows();
  std::swap(A(p, p), A(q, q));
  for (Eigen::Index j = k; j < p; ++j) std::swap(A(p, j), A(q, j));
  for (Eigen::Index i = q + 1; i < n; ++i) std::swap(A(i, p), A(i, q));
  for (Eigen::Index m = p + 1; m < q; ++m) std::swap(A(m, p), A(q, m));
}

// |A(i, j)| of the symmetric matrix stored in the lower triangle.
inline double lower_abs(const Eigen::MatrixXd& A, Eigen::Index i, Eigen::Index j) {
  return i >= j ? std::abs(A(i, j)) : std::abs(A(j, i));
}

// Below LAPACK's block size (dsytrf's nb = 64 in the reference ILAENV and OpenBLAS) dsytrf runs its
// unblocked dsytf2, the same algorithm as the loop below, plus the call's allocations: the loop is used.
constexpr Eigen::Index kBlockedFrom = 64;

// Blocked Bunch–Kaufman (LAPACK dsytrf, lower): H = L D Lᵀ with D's 1×1 and 2×2 blocks read from ipiv
// (ipiv[k] > 0: 1×1 block at k; ipiv[k] = ipiv[k+1] < 0: 2×2 block at k, k+1). Same pivot rule, α and
// backward error as the loop below, but the trailing update is a DGEMM (Level 3).
Inertia inertia_blocked(Eigen::MatrixXd& A) {
  const Eigen::Index n = A.rows();
  if (n > std::numeric_limits<lapack_int>::max() / 2)
    throw std::invalid_argument("inertia_ldlt: dimension " + std::to_string(n) + " exceeds LAPACK's index range");
  const auto ln = static_cast<lapack_int>(n);
  std::vector<lapack_int> ipiv(static_cast<std::size_t>(n));
  // The _work interface skips LAPACKE's NaN scan of the matrix (a non-finite entry gives an unspecified
  // count, as the header says, either way).
  double query = 0.0;
  LAPACKE_dsytrf_work(LAPACK_COL_MAJOR, 'L', ln, A.data(), ln, ipiv.data(), &query, -1);
  std::vector<double> work(static_cast<std::size_t>(std::max(1.0, query)));
  const lapack_int info = LAPACKE_dsytrf_work(LAPACK_COL_MAJOR, 'L', ln, A.data(), ln, ipiv.data(), work.data(),
                                              static_cast<lapack_int>(work.size()));
  // info > 0 reports an exactly zero 1×1 pivot: the factorisation completed, D is singular (counted below).
  if (info < 0) throw std::logic_error("inertia_ldlt: dsytrf rejected argument " + std::to_string(-info));
  Inertia inertia;
  for (Eigen::Index k = 0; k < n;) {
    if (ipiv[static_cast<std::size_t>(k)] > 0) {
      count(inertia, A(k, k), 0.0);
      k += 1;
    } else {
      const double a = A(k, k), b = A(k + 1, k), c = A(k + 1, k + 1);
      const double mid = 0.5 * (a + c), radius = std::hypot(0.5 * (a - c), b);
      count(inertia, mid - radius, 0.0);
      count(inertia, mid + radius, 0.0);
      k += 2;
    }
  }
  return inertia;
}

}  // namespace

Inertia inertia_ldlt(const Eigen::MatrixXd& H, double zero_tolerance) {
  require_square(H, "inertia_ldlt");
  Eigen::MatrixXd work = H;
  return inertia_ldlt_in_place(work, zero_tolerance);
}

Inertia inertia_ldlt_band(const Eigen::MatrixXd& H, double tau) {
  if (!(tau >= 0) || !std::isfinite(tau))
    throw std::invalid_argument("inertia_ldlt_band: 'tau' must be finite and >= 0, got " + std::to_string(tau));
  const Eigen::Index n = H.rows();
  Eigen::MatrixXd work = H;
  work.diagonal().array() += tau;
  const Inertia below = inertia_ldlt_in_place(work, 0.0);  // also checks squareness
  work = H;
  work.diagonal().array() -= tau;
  const Inertia above = inertia_ldlt_in_place(work, 0.0);
  Inertia out;
  out.negative = below.negative;
  out.positive = above.positive;
  // In exact arithmetic the two sets are disjoint. Rounding larger than τ itself (τ below the
  // backward error) could count one eigenvalue in both; then nothing is left for the band.
  out.zero = std::max<Eigen::Index>(0, n - out.negative - out.positive);
  return out;
}

Inertia inertia_ldlt_in_place(Eigen::MatrixXd& A, double zero_tolerance) {
  require_square(A, "inertia_ldlt");
  if (!(zero_tolerance >= 0))
    throw std::invalid_argument("inertia_ldlt: 'zero_tolerance' must be >= 0, got " + std::to_string(zero_tolerance));
  // The blocked factorisation where it pays: a pivot tolerance of 0 (exact zeros only; the column-skip
  // rule below for rank-deficient matrices has no LAPACK counterpart), a matrix past one block, and not
  // inside an OpenMP worker (where OpenBLAS's own threads would oversubscribe the cores).
  if (zero_tolerance == 0.0 && A.rows() >= kBlockedFrom && !omp_in_parallel()) return inertia_blocked(A);
  // Bunch–Kaufman's α = (1 + √17)/8 bounds element growth by 2.57 per step (Bunch & Kaufman 1977).
  const double alpha = (1.0 + std::sqrt(17.0)) / 8.0;
  const Eigen::Index n = A.rows();
  Inertia inertia;
  Eigen::Index k = 0;
  while (k < n) {
    const double absakk = std::abs(A(k, k));
    Eigen::Index imax = k;
    double colmax = 0.0;
    for (Eigen::Index i = k + 1; i < n; ++i) {
      const double v = std::abs(A(i, k));
      if (v > colmax) {
        colmax = v;
        imax = i;
      }
    }
    if (std::max(absakk, colmax) <= zero_tolerance) {
      // The whole remaining column is (numerically) zero: one zero eigenvalue, nothing to eliminate.
      ++inertia.zero;
      ++k;
      continue;
    }
    int block = 1;
    Eigen::Index kp = k;
    if (absakk < alpha * colmax) {
      double rowmax = 0.0;  // largest off-diagonal |A(imax, j)|, j ≥ k, j ≠ imax
      for (Eigen::Index j = k; j < n; ++j)
        if (j != imax) rowmax = std::max(rowmax, lower_abs(A, imax, j));
      if (absakk * rowmax >= alpha * colmax * colmax) {
        kp = k;  // 1×1 pivot at k after all
      } else if (std::abs(A(imax, imax)) >= alpha * rowmax) {
        kp = imax;  // 1×1 pivot at imax
      } else {
        kp = imax;  // 2×2 pivot on (k, imax), brought to (k, k+1)
        block = 2;
      }
    }
    if (block == 1) {
      symmetric_swap(A, k, k, kp);
      const double d = A(k, k);
      count(inertia, d, zero_tolerance);
      if (d != 0.0) {
        for (Eigen::Index j = k + 1; j < n; ++j) {
          const double t = A(j, k) / d;
          if (t != 0.0) A.col(j).segment(j, n - j).noalias() -= t * A.col(k).segment(j, n - j);
        }
      }
      k += 1;
    } else {
      symmetric_swap(A, k, k + 1, kp);
      const double a = A(k, k), b = A(k + 1, k), c = A(k + 1, k + 1);
      const double mid = 0.5 * (a + c), radius = std::hypot(0.5 * (a - c), b);
      count(inertia, mid - radius, zero_tolerance);
      count(inertia, mid + radius, zero_tolerance);
      const double det = a * c - b * b;  // < 0 by the pivot rule (|b| > |a|, |c| up to α factors)
      for (Eigen::Index j = k + 2; j < n; ++j) {
        const double w1 = (c * A(j, k) - b * A(j, k + 1)) / det;
        const double w2 = (a * A(j, k + 1) - b * A(j, k)) / det;
        A.col(j).segment(j, n - j).noalias() -= w1 * A.col(k).segment(j, n - j) + w2 * A.col(k + 1).segment(j, n - j);
      }
      k += 2;
    }
  }
  return inertia;
}

Inertia inertia_tridiagonal(const double* diagonal, const double* offdiagonal_squared, Eigen::Index n) {
  Inertia inertia;
  constexpr double pivmin = std::numeric_limits<double>::min() / std::numeric_limits<double>::epsilon();
  double d = 1.0;
  for (Eigen::Index i = 0; i < n; ++i) {
    d = i == 0 ? diagonal[0] : diagonal[i] - offdiagonal_squared[i - 1] / d;
    if (d == 0.0) d = pivmin;
    if (d < 0)
      ++inertia.negative;
    else
      ++inertia.positive;
  }
  return inertia;
}

bool is_positive_definite(const Eigen::MatrixXd& H, double shift) {
  require_square(H, "is_positive_definite");
  Eigen::MatrixXd work = H;
  return is_positive_definite_in_place(work, shift);
}

bool is_positive_definite_in_place(Eigen::MatrixXd& A, double shift) {
  const Eigen::Index n = A.rows();
  // Right-looking Cholesky on the lower triangle; stops at the first pivot that is not positive.
  for (Eigen::Index k = 0; k < n; ++k) {
    const double pivot = A(k, k) - shift;
    if (!(pivot > 0.0)) return false;
    const double l = std::sqrt(pivot);
    A.col(k).segment(k + 1, n - k - 1) /= l;
    for (Eigen::Index j = k + 1; j < n; ++j)
      A.col(j).segment(j, n - j).noalias() -= A(j, k) * A.col(k).segment(j, n - j);
  }
  return true;
}

}  // namespace saddlescope::curvature
