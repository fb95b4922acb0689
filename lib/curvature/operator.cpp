#include "curvature/operator.h"

#include <stdexcept>
#include <string>

namespace saddlescope::curvature {

Eigen::MatrixXd SymmetricOperator::dense() const {
  const Eigen::Index n = rows();
  Eigen::MatrixXd A(n, n), V, AV;
  constexpr Eigen::Index kBlock = 64;
  for (Eigen::Index start = 0; start < n; start += kBlock) {
    const Eigen::Index m = std::min(kBlock, n - start);
    V.setZero(n, m);
    for (Eigen::Index j = 0; j < m; ++j) V(start + j, j) = 1.0;
    apply(V, AV);
    A.middleCols(start, m) = AV;
  }
  // Products of a symmetric operator agree with their transposes up to rounding: average the triangles,
  // in place (the same bits as 0.5·(A + Aᵀ), without a second n×n matrix).
  for (Eigen::Index j = 0; j < n; ++j)
    for (Eigen::Index i = j + 1; i < n; ++i) {
      const double mean = 0.5 * (A(i, j) + A(j, i));
      A(i, j) = mean;
      A(j, i) = mean;
    }
  return A;
}

ObjectiveOperator::ObjectiveOperator(const objective::Objective& f, const objective::Vector& x, Curvature curvature)
    : f_(f), x_(x), curvature_(curvature) {
  if (x.size() != f.dim())
    throw std::invalid_argument("curvature operator: the point has " + std::to_string(x.size()) +
                                " coordinates, the objective " + std::to_string(f.dim()));
  if (curvature != Curvature::hessian && !f.has_gauss_newton())
    throw std::invalid_argument("curvature '" + std::string(to_string(curvature)) + "': " + f.description() +
                                " has no Gauss-Newton/Fisher products (only network and regression objectives do)");
}

void ObjectiveOperator::apply_block(const Eigen::MatrixXd& V, Eigen::MatrixXd& AV) const {
  switch (curvature_) {
    case Curvature::hessian: f_.hessian_vector_product(x_, V, AV); return;
    case Curvature::ggn: f_.gauss_newton_vector_product(x_, V, AV); return;
    case Curvature::fisher: f_.fisher_vector_product(x_, V, AV); return;
  }
}

Eigen::MatrixXd ObjectiveOperator::dense() const {
  if (curvature_ == Curvature::hessian && f_.has_analytic_hessian()) {
    Eigen::MatrixXd H;
    f_.hessian(x_, H);
    return H;
  }
  return SymmetricOperator::dense();
}

MatrixOperator::MatrixOperator(Eigen::MatrixXd A) : A_(std::move(A)) {
  if (A_.rows() != A_.cols())
    throw std::invalid_argument("MatrixOperator: the matrix is " + std::to_string(A_.rows()) + "x" +
                                std::to_string(A_.cols()) + ", not square");
}

void SpectraOperator::perform_op(const Scalar* x_in, Scalar* y_out) const {
  in_.col(0) = Eigen::Map<const Eigen::VectorXd>(x_in, rows());
  A_.apply(in_, out_);
  Eigen::Map<Eigen::VectorXd>(y_out, rows()) = out_.col(0);
}

}  // namespace saddlescope::curvature
