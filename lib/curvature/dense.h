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

// All eigenvalues, and the eigenvector of the smallest only (eigenvectors is n×1), for what
// classification needs: the spectrum and the escape direction. Eigenvalues alone skip the
// accumulation of the tridiagonalising transform and the QR rotations on it (about 4/5 of the work
// with vectors); the vector then comes from inverse iteration with a Cholesky factor of H − σI,
// σ = λ_min − δ just below the spectrum (δ = 1e-8·max|λ| + 1e-300, well above λ_min's backward error,
// so H − σI is positive definite). Falls back to the full decomposition when the factorisation fails
// or the residual ‖Hv − λ_min v‖ exceeds 1e-10·max|λ| (a cluster at λ_min too tight for a few steps).
DenseSpectrum dense_spectrum_lowest_vector(const Eigen::MatrixXd& H);

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
