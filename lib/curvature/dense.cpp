#include "curvature/dense.h"

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <cmath>
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

DenseSpectrum dense_spectrum_lowest_vector(const Eigen::MatrixXd& H) {
  DenseSpectrum out = dense_spectrum(H, false);
  const Eigen::Index n = H.rows();
  if (n == 0) return out;
  const double lambda_min = out.eigenvalues(0);
  const double scale = out.eigenvalues.cwiseAbs().maxCoeff();
  const double delta = 1e-8 * scale + 1e-300;
  Eigen::MatrixXd shifted = H;
  shifted.diagonal().array() -= lambda_min - delta;
  Eigen::LLT<Eigen::MatrixXd> factor(shifted);
  bool ok = factor.info() == Eigen::Success;
  Eigen::VectorXd v = Eigen::VectorXd::Ones(n) / std::sqrt(static_cast<double>(n));
  // A fixed, dense start has a component along every eigenvector but those of measure zero; each
  // step shrinks the others by δ/(λ_j − λ_min + δ).
  for (int step = 0; ok && step < 4; ++step) {
    v = factor.solve(v);
    const double norm = v.norm();
    ok = std::isfinite(norm) && norm > 0;
    if (ok) v /= norm;
  }
  if (ok) ok = (H * v - lambda_min * v).norm() <= 1e-10 * scale + 1e-300;
  if (!ok) {
    DenseSpectrum full = dense_spectrum(H, true);
    full.eigenvectors = full.eigenvectors.leftCols(1).eval();
    return full;
  }
  out.eigenvectors = v;
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
