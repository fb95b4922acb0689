#pragma once
// Optimizers that evaluate the objective themselves: newton (damped), saddle_free_newton (dense and
// Krylov) and lbfgs (torch.optim.LBFGS with its strong-Wolfe line search). Built through
// make_optimizer (optimizer.h); declared here so optimizer.cpp can dispatch to them.
#include <memory>

#include "optim/optimizer.h"

namespace saddlescope::optim {

std::unique_ptr<Optimizer> make_second_order_optimizer(const OptimizerConfig& config);

// Lanczos with full reorthogonalisation, k steps from `start` on the Hessian of f at x (the library's
// one Lanczos kernel, curvature/block_lanczos.h): returns the orthonormal basis Q (n×m, m ≤ k; fewer
// when an invariant subspace is found) and the m×m projection T = QᵀHQ (tridiagonal up to rounding),
// and when `HQ` is given the products H·Q (n×m). `hvp_count` is increased by
// the number of products. Used by the Krylov saddle-free Newton step (Dauphin et al. 2014, Alg. 1).
void lanczos_basis(const objective::Objective& f, const Vector& x, const Vector& start, Index k, Matrix& Q,
                   Matrix& T, std::int64_t& hvp_count, Matrix* HQ = nullptr);

}  // namespace saddlescope::optim
