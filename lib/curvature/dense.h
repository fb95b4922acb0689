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

// Symmetric eigen-decomposition on LAPACK over OpenBLAS: a blocked Householder tridiagonalisation
// (dsytrd), all eigenvalues by dsterf, eigenvectors (when asked) by divide and conquer (dstedc) and the
// blocked back-transformation (dormtr). Backward stable: each computed eigenvalue is within
// O(n·ε·‖H‖₂) of an exact one. The eigenvalues are bitwise the same whether vectors are asked for or
// not (both come from dsterf on the same T). Bitwise reproducible for a fixed OpenBLAS thread count;
// across thread counts they may differ by rounding (docs/spectral.md, "Determinism").
DenseSpectrum dense_spectrum(const Eigen::MatrixXd& H, bool with_eigenvectors);

// All eigenvalues, and the eigenvectors of the `bottom` smallest and `top` largest only (columns: those
// of the bottom ones ascending, then those of the top ones ascending; all n vectors when bottom + top
// ≥ n, so leftCols(bottom) and rightCols(top) are right either way). The vectors of T by MRRR (dstemr,
// O(n) each) and one blocked back-transformation: for a few vectors about 1/4 of the full
// decomposition's flops. Eigenvalues: the same bits as dense_spectrum.
DenseSpectrum dense_spectrum_extremes(const Eigen::MatrixXd& H, Eigen::Index bottom, Eigen::Index top);

// All eigenvalues, and the eigenvector of the smallest only (eigenvectors is n×1), for what
// classification needs: the spectrum and the escape direction. One tridiagonalisation serves both:
// the values by dsterf (the same bits as dense_spectrum), the one vector of T by MRRR (dstemr, O(n)),
// back-transformed by dormtr — no accumulation of the n×n transform, about 1/4 of the flops of the full
// decomposition. Falls back to the full decomposition when the residual ‖Hv − λ_min v‖ exceeds
// 1e-10·max|λ| (not observed; a guard for tight clusters at λ_min).
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
