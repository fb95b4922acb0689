#pragma once
// The per-sample losses of models/network.h (torch conventions stated there), on logits stored one
// sample per column: shared by models::Network and the graph engine (models/graph/engine.h), so both
// compute the same numbers with the same formulas.
//     mse            ℓ = (1/k) Σ_j (z_j − y_j)²       torch.nn.MSELoss(reduction="mean")
//     cross_entropy  ℓ = logsumexp(z) − z_y          torch.nn.CrossEntropyLoss; y a class index in [0,k)
//     logistic       ℓ = softplus(z) − y z           torch.nn.BCEWithLogitsLoss; k = 1, y ∈ [0, 1]
#include <Eigen/Core>

#include "models/network.h"

namespace saddlescope::models {

// Checks the targets y [N, k_y] against the loss for networks with `outputs` logits: mse needs
// k_y == outputs; cross_entropy one column of class indices in [0, outputs) and outputs ≥ 2; logistic
// outputs == 1 and one column in [0, 1]. Throws std::invalid_argument naming the problem.
void check_loss_targets(Loss loss, const Eigen::MatrixXd& y, Index outputs);

// Logits Z [k, B] against targets [k_y, B]: returns Σ_i ℓ_i and writes dZ = ∂ℓ_i/∂z_i [k, B] and the
// auxiliaries the Hessian needs, aux [k, B] (softmax probabilities for cross_entropy, the sigmoid for
// logistic, unused for mse). dZ and aux must be sized k × B.
double loss_forward(Loss loss, const Eigen::Ref<const Matrix>& Z, const Eigen::Ref<const Matrix>& targets,
                    Eigen::Ref<Matrix> dZ, Eigen::Ref<Matrix> aux);

// out.col(c) = scale · ∇²ℓ(z_i) · R.col(c) with i = c mod B, for R [k, m·B] holding m blocks of B
// sample columns (aux from loss_forward over the B samples). out must be sized like R.
void loss_hessian_product(Loss loss, const Eigen::Ref<const Matrix>& aux, const Eigen::Ref<const Matrix>& R,
                          double scale, Eigen::Ref<Matrix> out);

}  // namespace saddlescope::models
