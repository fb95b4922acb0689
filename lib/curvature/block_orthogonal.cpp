#include "curvature/block_orthogonal.h"

#include <stdexcept>

namespace saddlescope::curvature {

void project_out(const Eigen::Ref<const Eigen::MatrixXd>& B, Eigen::MatrixXd& W, Eigen::MatrixXd& C) {
  C.setZero(B.cols(), W.cols());
  if (B.cols() == 0) return;
  for (int pass = 0; pass < 2; ++pass) {
    const Eigen::MatrixXd D = B.transpose() * W;
    W.noalias() -= B * D;
    C += D;
  }
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
      // Keep orthogonality to B to working precision as well (the caller projected once already;
      // the coefficients of this second sweep are rounding-level and are not recorded).
      if (B.cols() > 0) q -= B * (B.transpose() * q);
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
