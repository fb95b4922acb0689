#pragma once
// The dense path: exact eigen-decomposition of an explicitly assembled symmetric matrix. Suitable
// up to a few thousand parameters (O(n²) memory, O(n³) time).
#include <Eigen/Core>

#include "objective/objective.h"

namespace saddlescope::curvature {

struct DenseSpectrum {
  Eigen::VectorXd eigenvalues;   // ascending
  Eigen::MatrixXd eigenvectors;  // column j belongs to eigenvalues(j); empty unless requested
};

// Symmetric eigen-decomposition (Eigen's SelfAdjointEigenSolver: Householder tridiagonalisation and
// implicit QR, backward stable: each computed eigenvalue is within O(n·ε·‖H‖₂) of an exact one).
DenseSpectrum dense_spectrum(const Eigen::MatrixXd& H, bool with_eigenvectors);

// Dense Hessian of `f` at `x`, analytic when the objective has it, assembled from block HVPs otherwise.
Eigen::MatrixXd dense_hessian(const objective::Objective& f, const objective::Vector& x);

// Counts of eigenvalues below −τ, within [−τ, τ], and above τ.
struct Inertia {
  Eigen::Index negative = 0;
  Eigen::Index zero = 0;
  Eigen::Index positive = 0;
};
Inertia inertia_from_eigenvalues(const Eigen::VectorXd& eigenvalues, double zero_tolerance);

}  // namespace saddlescope::curvature
