#pragma once
// Inertia (counts of negative, zero and positive eigenvalues) of a symmetric matrix without an
// eigendecomposition, by Sylvester's law of inertia: if H = P L D Lᵀ Pᵀ with L unit lower triangular and
// D block diagonal (1×1 and 2×2 blocks), then H and D have the same inertia.
//
// The factorisation is Bunch–Kaufman symmetric pivoting (Bunch & Kaufman, Math. Comp. 31 (1977) 163;
// the same pivot rule as LAPACK's dsytf2, α = (1 + √17)/8): backward stable, O(n³/3) flops, only the
// lower triangle is read. Only D is kept; L is discarded.
//
// Zero eigenvalues: in exact arithmetic a singular matrix produces columns that are entirely zero
// once eliminated. In floating point they are rounding noise of size about n·ε·‖H‖, so a column whose
// remaining entries are all ≤ zero_tolerance (absolute) counts as one zero eigenvalue and is skipped,
// and a pivot eigenvalue ≤ zero_tolerance in magnitude counts as zero. With zero_tolerance = 0 only
// exact zeros count, which is right for matrices drawn from a continuous law. A sound choice for a
// rank-deficient matrix is a few hundred n·ε·max|H_ij| (the tests use 1e3·n·ε·max|H_ij|).
//
// Positive-definiteness alone: a Cholesky factorisation that stops at the first pivot ≤ 0 (the usual
// early exit: a random indefinite matrix is usually rejected after a few columns).
#include <Eigen/Core>

#include "curvature/dense.h"  // struct Inertia {negative, zero, positive}

namespace saddlescope::curvature {

// Inertia of the symmetric matrix H (only its lower triangle is read). Throws std::invalid_argument when
// H is not square or zero_tolerance < 0. A non-finite entry gives an unspecified count (check first).
Inertia inertia_ldlt(const Eigen::MatrixXd& H, double zero_tolerance = 0.0);

// The same, factorising the lower triangle of `work` in place (its contents are destroyed): for hot loops
// that reuse one workspace and must not allocate. With zero_tolerance = 0 and n ≥ 64 (outside OpenMP
// workers) this is LAPACK's blocked dsytrf (the same pivot rule, Level-3 updates; it allocates the pivot
// vector and its workspace); otherwise the unblocked loop, which allocates nothing.
Inertia inertia_ldlt_in_place(Eigen::MatrixXd& work, double zero_tolerance = 0.0);

// Counts of eigenvalues below −τ, within [−τ, τ] and above τ (the counts inertia_from_eigenvalues(λ, τ)
// makes from eigenvalues) from two factorisations, by Sylvester's law applied to shifted matrices:
//     #{λ < −τ} = ν₋(H + τI),   #{λ > τ} = ν₊(H − τI),   zero = n − both,
// each ν from inertia_ldlt with pivot tolerance 0 (a pivot exactly 0 means an eigenvalue exactly at ±τ,
// which the band counts as zero, as the eigenvalue rule does). τ > 0 keeps both shifted matrices
// nonsingular unless an eigenvalue sits at ±τ, so no pivot threshold is needed for rank-deficient H.
//
// Agreement with the eigenvalue count: both are backward stable, the computed eigenvalues exact for some
// H + E₁ and the factorisation for some H ± τI + E₂, with ‖E₁‖ ≲ n·ε·‖H‖ and ‖E₂‖ ≲ c·n·ε·g·‖H‖
// (g ≤ 2.57ⁿ⁻¹ in theory, ≲ 10 in practice: Bunch–Kaufman's growth factor). The two counts can
// therefore differ only when some eigenvalue lies within that distance of −τ or τ; otherwise they are
// equal. Throws std::invalid_argument when H is not square or τ is not finite and ≥ 0.
Inertia inertia_ldlt_band(const Eigen::MatrixXd& H, double tau);

// Inertia of the symmetric tridiagonal matrix with diagonal `diagonal` (length n) and squared
// off-diagonal `offdiagonal_squared` (length n − 1): the LDLᵀ pivots d₁ = a₁, dᵢ = aᵢ − b²ᵢ₋₁/dᵢ₋₁ (the Sturm
// count). Meant for matrices drawn from continuous laws, where an exact zero pivot has probability 0; if
// one occurs it is replaced by a tiny positive number (LAPACK dstebz's "pivmin" device), so `zero` is
// always 0 in the result.
Inertia inertia_tridiagonal(const double* diagonal, const double* offdiagonal_squared, Eigen::Index n);

// True when H − shift·I is positive definite (Cholesky on the lower triangle with early exit at the
// first pivot ≤ 0). The in-place form overwrites the lower triangle of `work`.
bool is_positive_definite(const Eigen::MatrixXd& H, double shift = 0.0);
bool is_positive_definite_in_place(Eigen::MatrixXd& work, double shift = 0.0);

}  // namespace saddlescope::curvature
