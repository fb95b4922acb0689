#include "curvature/block_orthogonal.h"

#include <omp.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace saddlescope::curvature {
namespace {

// Rows per chunk of the Gram–Schmidt sweeps. The chunking is fixed by n alone (not by the thread
// count), and the partial coefficients are added in chunk order, so a sweep gives the same bits for
// any number of threads; the chunks run in parallel when --threads allows (a sweep is a pair of
// memory-bound GEMVs over the basis, about a fifth of a Lanczos step on the large MLP).
constexpr Eigen::Index kRowChunk = 32768;

int sweep_threads(Eigen::Index chunks) {
  if (chunks <= 1 || omp_in_parallel()) return 1;
  return static_cast<int>(std::min<Eigen::Index>(chunks, Eigen::nbThreads()));
}

// W ← W − B·(BᵀW), returning D = BᵀW (summed over row chunks in chunk order).
void sweep(const Eigen::Ref<const Eigen::MatrixXd>& B, Eigen::MatrixXd& W, Eigen::MatrixXd& D) {
  const Eigen::Index n = B.rows(), chunks = (n + kRowChunk - 1) / kRowChunk;
  if (chunks <= 1) {
    D.noalias() = B.transpose() * W;
    W.noalias() -= B * D;
    return;
  }
  std::vector<Eigen::MatrixXd> partial(static_cast<std::size_t>(chunks));
  const int threads = sweep_threads(chunks);
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
  for (Eigen::Index c = 0; c < chunks; ++c) {
    const Eigen::Index begin = c * kRowChunk, rows = std::min(kRowChunk, n - begin);
    partial[static_cast<std::size_t>(c)].noalias() = B.middleRows(begin, rows).transpose() * W.middleRows(begin, rows);
  }
  D = partial[0];
  for (Eigen::Index c = 1; c < chunks; ++c) D += partial[static_cast<std::size_t>(c)];
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
  for (Eigen::Index c = 0; c < chunks; ++c) {
    const Eigen::Index begin = c * kRowChunk, rows = std::min(kRowChunk, n - begin);
    W.middleRows(begin, rows).noalias() -= B.middleRows(begin, rows) * D;
  }
}

}  // namespace

void project_out(const Eigen::Ref<const Eigen::MatrixXd>& B, Eigen::MatrixXd& W, Eigen::MatrixXd& C) {
  C.setZero(B.cols(), W.cols());
  if (B.cols() == 0) return;
  Eigen::MatrixXd D;
  for (int pass = 0; pass < 2; ++pass) {
    sweep(B, W, D);
    C += D;
  }
}

void project_out_local_first(const Eigen::Ref<const Eigen::MatrixXd>& B, Eigen::Index local_begin, Eigen::MatrixXd& W,
                             Eigen::MatrixXd& C) {
  const Eigen::Index m = B.cols();
  C.setZero(m, W.cols());
  if (m == 0) return;
  local_begin = std::clamp<Eigen::Index>(local_begin, 0, m);
  Eigen::MatrixXd D;
  auto sweep_from = [&](Eigen::Index begin) {
    sweep(B.rightCols(m - begin), W, D);
    C.bottomRows(m - begin) += D;
  };
  if (local_begin > 0) sweep_from(local_begin);
  const double before = W.norm();
  sweep_from(0);
  constexpr double kDgks = 0.7071067811865476;  // 1/√2
  if (!(W.norm() >= kDgks * before)) sweep_from(0);
}

void orthonormalize_block(const Eigen::Ref<const Eigen::MatrixXd>& B, const Eigen::MatrixXd& W, Eigen::MatrixXd& Q,
                          Eigen::MatrixXd& R, random::Rng& rng, double scale) {
  const Eigen::Index n = W.rows(), b = W.cols();
  if (B.cols() + b > n) throw std::logic_error("orthonormalize_block: no room for the block in R^n");
  // The breakdown threshold: a residual this small relative to the operator's scale is rounding noise.
  constexpr double kDrop = 1e-12;
  Q = W;
  R.setZero(b, b);
  Eigen::VectorXd d;
  for (Eigen::Index c = 0; c < b; ++c) {
    auto q = Q.col(c);
    for (int pass = 0; pass < 2; ++pass) {
      if (c > 0) {
        d = Q.leftCols(c).transpose() * q;
        q -= Q.leftCols(c) * d;
        R.col(c).head(c) += d;
      }
      // Keep orthogonality to B to working precision as well (the coefficients of this sweep are
      // rounding-level and are not recorded). The caller projected W twice (project_out), which leaves
      // |Bᵀq| ≲ ε·|w|, |w| ≤ scale the product's norm: relative to |q| that is ε·scale/|q|. For the first
      // column, when |q| ≥ 1e-2·scale (no near-breakdown), that is already ≤ 100ε and two more sweeps
      // over the n×|B| basis (memory-bound, half the reorthogonalisation time) buy nothing; closer to
      // breakdown, or after the within-block sweeps of later columns, they are kept.
      const bool first_column_well_conditioned = c == 0 && q.norm() >= 1e-2 * scale;
      if (B.cols() > 0 && !first_column_well_conditioned) q -= B * (B.transpose() * q);
    }
    const double norm = q.norm();
    if (norm > kDrop * scale && norm > 0.0) {
      R(c, c) = norm;
      q /= norm;
      continue;
    }
    // Breakdown: a fresh direction, orthogonal to everything so far.
    for (int attempt = 0;; ++attempt) {
      for (Eigen::Index i = 0; i < n; ++i) q(i) = rng.normal();
      for (int pass = 0; pass < 2; ++pass) {
        if (B.cols() > 0) q -= B * (B.transpose() * q);
        if (c > 0) q -= Q.leftCols(c) * (Q.leftCols(c).transpose() * q);
      }
      const double fresh = q.norm();
      if (fresh > 1e-8 * std::sqrt(static_cast<double>(n))) {
        q /= fresh;
        break;
      }
      if (attempt > 10) throw std::logic_error("orthonormalize_block: cannot find a direction orthogonal to the basis");
    }
  }
}

}  // namespace saddlescope::curvature
