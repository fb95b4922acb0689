#pragma once
// The per-sample losses of models/network.h (torch conventions stated there), on logits stored one
// sample per column: shared by models::Network and the graph engine (models/graph/engine.h), so both
// compute the same numbers with the same formulas.
//     mse            ℓ = (1/k) Σ_j (z_j − y_j)²       torch.nn.MSELoss(reduction="mean")
//     cross_entropy  ℓ = logsumexp(z) − z_y          torch.nn.CrossEntropyLoss; y a class index in [0,k)
//     logistic       ℓ = softplus(z) − y z           torch.nn.BCEWithLogitsLoss; k = 1, y ∈ [0, 1]
#include <Eigen/Core>

#include "models/network.h"
#include "objective/kronecker.h"
#include "random/random.h"

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

// The δ columns of K-FAC's G factor (objective/kronecker.h) for B samples, from loss_forward's dZ and
// aux: [k, c·B], column c·B + i belonging to sample i.
// - exact: the c = k columns of Q_i with Q_i Q_iᵀ = ∂²ℓ_i/∂z² (c = 1 for logistic): mse (2/k)I → √(2/k)·I;
//   cross-entropy diag(p) − ppᵀ → column c = √p_c (e_c − p) (Σp = 1 makes Q Qᵀ exact); logistic
//   σ(1−σ) → √(σ(1−σ)).
// - sampled: one column per sample, ∂ℓ/∂z at a target drawn from the model's predictive distribution
//   (Martens & Grosse 2015, Sec. 5: E[δδᵀ] is then the loss Hessian in z), drawn from `rng` in sample
//   order: one uniform per sample (cross-entropy, logistic) or k normals (mse).
// - empirical: dZ, the observed targets' δ.
Matrix kronecker_deltas(Loss loss, objective::KroneckerFisher which, const Eigen::Ref<const Matrix>& dZ,
                        const Eigen::Ref<const Matrix>& aux, random::Rng& rng);

}  // namespace saddlescope::models
