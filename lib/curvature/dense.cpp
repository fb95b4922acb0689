#include "curvature/dense.h"

#include <Eigen/Eigenvalues>
#include <stdexcept>

namespace saddlescope::curvature {

DenseSpectrum dense_spectrum(const Eigen::MatrixXd& H, bool with_eigenvectors) {
  if (H.rows() != H.cols()) throw std::invalid_argument("dense_spectrum: matrix is not square");
  if (!H.allFinite()) throw std::invalid_argument("dense_spectrum: the Hessian contains NaN or Inf");
  DenseSpectrum out;
  if (H.size() == 0) return out;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(
      H, with_eigenvectors ? Eigen::ComputeEigenvectors : Eigen::EigenvaluesOnly);
  if (solver.info() != Eigen::Success) throw std::runtime_error("dense_spectrum: the eigensolver did not converge");
  out.eigenvalues = solver.eigenvalues();
  if (with_eigenvectors) out.eigenvectors = solver.eigenvectors();
  return out;
}

Eigen::MatrixXd dense_hessian(const objective::Objective& f, const objective::Vector& x) {
  Eigen::MatrixXd H;
  f.hessian(x, H);
  return H;
}

Inertia inertia_from_eigenvalues(const Eigen::VectorXd& eigenvalues, double zero_tolerance) {
  Inertia inertia;
  for (double lambda : eigenvalues) {
    if (lambda < -zero_tolerance)
      ++inertia.negative;
    else if (lambda > zero_tolerance)
      ++inertia.positive;
    else
      ++inertia.zero;
  }
  return inertia;
}

}  // namespace saddlescope::curvature
