#include "curvature/block_lanczos.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "curvature/block_orthogonal.h"

namespace saddlescope::curvature {

using Eigen::Index;
using Eigen::MatrixXd;

BlockLanczos::BlockLanczos(Index n, Index capacity, Index block, Breakdown on_breakdown)
    : b_(block), on_breakdown_(on_breakdown) {
  if (!(block >= 1 && block <= capacity && capacity <= n))
    throw std::invalid_argument("BlockLanczos: need 1 <= block <= capacity <= n, got block " + std::to_string(block) +
                                ", capacity " + std::to_string(capacity) + ", n " + std::to_string(n));
  V_.resize(n, capacity);
  T_.setZero(capacity, capacity);
  pending_.resize(n, block);
}

void BlockLanczos::start(const MatrixXd& start_block, random::Rng& rng) {
  if (start_block.rows() != V_.rows() || start_block.cols() != b_)
    throw std::invalid_argument("BlockLanczos::start: the start block must be n x b");
  orthonormalize_block(V_.leftCols(0), start_block, Q_, R_, rng, 0.0);
  V_.leftCols(b_) = Q_;
  pending_ = Q_;
  T_.setZero();
  size_ = b_;
  cur_ = 0;
  cur_size_ = b_;
  kept_count_ = 0;
  scale_ = 0.0;
  broke_down_ = false;
}

bool BlockLanczos::extend(MatrixXd& W, random::Rng& rng) {
  const Index n = V_.rows();
  if (W.rows() != n || W.cols() != cur_size_) throw std::invalid_argument("BlockLanczos::extend: W must be A*pending()");
  for (Index j = 0; j < W.cols(); ++j) scale_ = std::max(scale_, W.col(j).norm());
  // Three-term part first (the previous and current blocks; after a restart, every kept vector, which
  // the arrowhead couples), then one full sweep, a second only when needed.
  project_out_local_first(V_.leftCols(size_), cur_ >= kept_count_ + b_ ? cur_ - b_ : 0, W, C_);
  T_.block(0, cur_, size_, cur_size_) = C_;
  T_.block(cur_, 0, cur_size_, size_) = C_.transpose();
  // No room left in R^n for another vector: the Krylov space is the whole space and the residual is
  // zero (a recurrence that stops; one that replaces directions must never get here, and
  // orthonormalize_block refuses it below).
  if (on_breakdown_ == Breakdown::stop && size_ + b_ > n) {
    Q_.setZero(n, b_);
    R_.setZero(b_, b_);
    return false;
  }
  if (on_breakdown_ == Breakdown::stop) {
    // The threshold orthonormalize_block uses: a residual this small relative to the products' scale is
    // rounding noise, and the Krylov space is invariant.
    constexpr double kDrop = 1e-12;
    for (Index j = 0; j < W.cols(); ++j) {
      const double norm = W.col(j).norm();
      if (norm <= kDrop * scale_ || norm == 0.0) {
        broke_down_ = true;
        return false;
      }
    }
  }
  orthonormalize_block(V_.leftCols(size_), W, Q_, R_, rng, scale_);
  if (size_ + b_ > V_.cols()) return false;
  V_.middleCols(size_, b_) = Q_;
  T_.block(size_, cur_, b_, cur_size_) = R_;
  T_.block(cur_, size_, cur_size_, b_) = R_.transpose();
  pending_ = Q_;
  cur_ = size_;
  cur_size_ = b_;
  size_ += b_;
  return true;
}

void BlockLanczos::restart(const MatrixXd& Y_kept, const Eigen::VectorXd& theta_kept, const MatrixXd& coupling) {
  const Index s = Y_kept.cols();
  if (Y_kept.rows() != size_ || theta_kept.size() != s || coupling.rows() != b_ || coupling.cols() != s ||
      s + b_ > V_.cols())
    throw std::invalid_argument("BlockLanczos::restart: kept vectors do not fit the basis");
  // V(:, 0:s) ← V(:, 0:size)·Y, in place by row panels: each panel's product is formed in a small
  // workspace and written back, so no second n × s basis is ever allocated.
  constexpr Index kPanelRows = 2048;
  const Index n = V_.rows();
  for (Index row = 0; row < n; row += kPanelRows) {
    const Index rows = std::min(kPanelRows, n - row);
    panel_.noalias() = V_.block(row, 0, rows, size_) * Y_kept;
    V_.block(row, 0, rows, s) = panel_;
  }
  V_.middleCols(s, b_) = Q_;
  T_.setZero();
  T_.topLeftCorner(s, s) = theta_kept.asDiagonal();
  T_.block(s, 0, b_, s) = coupling;
  T_.block(0, s, s, b_) = coupling.transpose();
  pending_ = Q_;
  cur_ = s;
  cur_size_ = b_;
  size_ = s + b_;
  kept_count_ = s;
}

}  // namespace saddlescope::curvature
