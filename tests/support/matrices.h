#pragma once
// Comparing a computed matrix with its reference.
#include <Eigen/Core>
#include <algorithm>

namespace saddlescope::testing {

// ‖a − b‖_F / ‖b‖_F, b the reference (a zero reference divides by 1e-300: any difference is huge).
inline double relative(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  return (a - b).norm() / std::max(b.norm(), 1e-300);
}

}  // namespace saddlescope::testing
