#pragma once
// Block Gram–Schmidt kernels shared by the Lanczos eigensolver and stochastic Lanczos quadrature.
// Internal to the curvature module.
#include <Eigen/Core>

#include "random/random.h"

namespace saddlescope::curvature {

// W ← (I − BBᵀ)W twice (classical Gram–Schmidt with one reorthogonalisation, "twice is enough":
// Giraud, Langou, Rozložník 2005); C = BᵀW_original accumulated over both passes. B has orthonormal columns.
void project_out(const Eigen::Ref<const Eigen::MatrixXd>& B, Eigen::MatrixXd& W, Eigen::MatrixXd& C);

// The same projection with C = BᵀW_original, but one full sweep where one suffices: first the columns
// B(:, local_begin:) alone (the Lanczos three-term part: the last two blocks, whose coefficients are large),
// then one sweep over all of B, and a second full sweep only for blocks whose norm that sweep reduced
// below 1/√2 of what it was (Daniel, Gragg, Kaufman & Stewart, Math. Comp. 30 (1976) 772; ARPACK's
// dsaitr uses the same 0.717). When the full sweep removes little, W was orthogonal to B to rounding
// already, and the second sweep — memory-bound, n·|B| doubles read twice — changes nothing.
void project_out_local_first(const Eigen::Ref<const Eigen::MatrixXd>& B, Eigen::Index local_begin, Eigen::MatrixXd& W,
                             Eigen::MatrixXd& C);

// Orthonormalises the columns of W (already orthogonal to B) among themselves: W = Q·R, R upper
// triangular (b×b), Q orthonormal and orthogonal to B. A column whose norm after orthogonalisation is
// ≤ 1e-12·scale (the Krylov space became invariant: breakdown) gets R(c,c) = 0 and is replaced by a
// fresh standard normal vector from `rng`, orthogonalised against B and the earlier columns, so the
// basis keeps growing into the rest of the space. Requires B.cols() + W.cols() ≤ n.
void orthonormalize_block(const Eigen::Ref<const Eigen::MatrixXd>& B, const Eigen::MatrixXd& W, Eigen::MatrixXd& Q,
                          Eigen::MatrixXd& R, random::Rng& rng, double scale);

}  // namespace saddlescope::curvature
