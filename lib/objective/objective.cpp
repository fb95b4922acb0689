#include "objective/objective.h"

#include <stdexcept>

namespace saddlescope::objective {

void Objective::hessian(const Vector& x, Matrix& H) const {
  const Index n = dim();
  H.resize(n, n);
  const Index block = std::max<Index>(1, hessian_block_columns());
  Matrix V, HV;
  for (Index start = 0; start < n; start += block) {
    const Index m = std::min(block, n - start);
    V.setZero(n, m);
    for (Index j = 0; j < m; ++j) V(start + j, j) = 1.0;
    hessian_vector_product(x, V, HV);
    H.middleCols(start, m) = HV;
  }
  // HVPs of an exactly symmetric Hessian agree up to rounding; average the two triangles.
  H = 0.5 * (H + H.transpose()).eval();
}

double Objective::batch_value(const Vector&, Batch) const {
  throw std::invalid_argument(description() + " has no data set, so it cannot be evaluated on a mini-batch");
}

double Objective::batch_gradient(const Vector&, Batch, Vector&) const {
  throw std::invalid_argument(description() + " has no data set, so it cannot be evaluated on a mini-batch");
}

void Objective::batch_hessian_vector_product(const Vector&, Batch, const Matrix&, Matrix&) const {
  throw std::invalid_argument(description() + " has no data set, so it cannot be evaluated on a mini-batch");
}

void Objective::gauss_newton_vector_product(const Vector&, const Matrix&, Matrix&) const {
  throw std::invalid_argument(description() + " has no Gauss-Newton matrix (only network and regression objectives do)");
}

void Objective::fisher_vector_product(const Vector&, const Matrix&, Matrix&) const {
  throw std::invalid_argument(description() + " has no empirical Fisher matrix (only objectives over data do)");
}

}  // namespace saddlescope::objective
