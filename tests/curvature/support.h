#pragma once
// Shared helpers for the curvature tests: random symmetric matrices with known spectra, and the dense
// spectrum the iterative solvers are checked against.
#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <Eigen/QR>

#include "random/random.h"

namespace saddlescope::curvature::testing {

// GOE-like H = (G + Gᵀ)/2, G_ij iid N(0,1).
inline Eigen::MatrixXd random_symmetric(Eigen::Index n, std::uint64_t seed) {
  random::Rng rng(seed, 7);
  Eigen::MatrixXd G(n, n);
  for (Eigen::Index j = 0; j < n; ++j)
    for (Eigen::Index i = 0; i < n; ++i) G(i, j) = rng.normal();
  return 0.5 * (G + G.transpose());
}

// Q diag(lambda) Qᵀ with Q orthogonal from the QR of a Gaussian matrix: a prescribed spectrum.
inline Eigen::MatrixXd with_spectrum(const Eigen::VectorXd& lambda, std::uint64_t seed) {
  const Eigen::Index n = lambda.size();
  random::Rng rng(seed, 11);
  Eigen::MatrixXd G(n, n);
  for (Eigen::Index j = 0; j < n; ++j)
    for (Eigen::Index i = 0; i < n; ++i) G(i, j) = rng.normal();
  const Eigen::MatrixXd Q = Eigen::HouseholderQR<Eigen::MatrixXd>(G).householderQ();
  Eigen::MatrixXd A = Q * lambda.asDiagonal() * Q.transpose();
  return 0.5 * (A + A.transpose());
}

// All eigenvalues of the symmetric H, ascending, by Eigen's dense solver (tridiagonalisation and QR).
inline Eigen::VectorXd dense_eigenvalues(const Eigen::MatrixXd& H) {
  return Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(H, Eigen::EigenvaluesOnly).eigenvalues();
}

}  // namespace saddlescope::curvature::testing
