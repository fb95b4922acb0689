#pragma once
// Kronecker-factored curvature (K-FAC; Martens & Grosse 2015, arXiv:1503.05671; KFC for convolutions,
// Grosse & Martens 2016, arXiv:1602.01407): what an objective with Linear-like layers reports so that
// curvature/kfac.h can build the K-FAC approximation of its Gauss–Newton matrix / Fisher.
//
// ## The approximation
// A layer computes z = W̃ ã with W̃ = [W b] ([out, in] weight and, when present, an [out] bias) and
// ã = [a; 1] its input with a 1 appended for the bias. The gradient of a sample's loss with respect to
// W̃ is δ ãᵀ, δ = ∂ℓ/∂z, so the curvature block of the layer in the column-major order of W̃ is
//     E[(ã ⊗ δ)(ã ⊗ δ)ᵀ] = E[ã ãᵀ ⊗ δ δᵀ]  ≈  E[ã ãᵀ] ⊗ E[δ δᵀ] = A ⊗ G,
// exact when ã and δ are independent or one of them is constant over the samples (e.g. a single sample).
// Layers are treated as independent (block-diagonal). Expectations are means over the samples.
//
// ## Convolutions (KFC; Grosse & Martens 2016, Sec. 3)
// A convolution is a Linear layer applied at T = out_h·out_w positions t to the patch ã_t (one im2col
// column, with the homogeneous 1 for the bias); its weight gradient is Σ_t δ_t ã_tᵀ. Under KFC's
// assumptions (independent activations and derivatives, spatial homogeneity, spatially uncorrelated
// derivatives) the layer's block is Ω ⊗ Γ with the paper's normalisation
//     A = Ω = E[Σ_t ã_t ã_tᵀ]              (patches summed over positions; A's bias corner is T),
//     G = Γ = (1/T) E[Σ_t δ_t δ_tᵀ]        (output gradients averaged over positions),
// so tr(A ⊗ G) = E[Σ_t ‖ã_t‖²]·E[Σ_t ‖δ_t‖²]/T. T = 1 is the Linear layer above; a Linear applied to
// several rows of one sample (a sequence) is treated the same way. A grouped convolution contributes one
// layer per group (its W rows and bias entries are contiguous: the layout below holds per group).
//
// ## Which δ (KroneckerFisher)
// - `exact`:     G = (1/N) Σ_i Σ_c δ_ic δ_icᵀ with δ_ic the back-propagation of column c of a factor
//                Q_i (Q_i Q_iᵀ = the loss Hessian in the outputs of sample i). Then Σ_c over A ⊗ G
//                blocks is the K-FAC of the generalised Gauss–Newton matrix (BackPACK's "KFLR").
// - `sampled`:   one δ per sample from a target drawn from the model's predictive distribution
//                (Martens & Grosse's Monte Carlo estimate of the true Fisher; random::Rng(seed, 0)).
// - `empirical`: δ from the observed target: the K-FAC of the empirical Fisher.
//
// ## Parameter layout (how W̃ maps onto the parameter vector)
// W is stored row-major [out, in] at `weight_offset` (torch's Linear.weight, and Conv.weight viewed as
// [C_out, C_in/groups·kh·kw]); the bias, when `bias_offset` ≥ 0, is [out] at `bias_offset`.
#include <cstdint>
#include <string>
#include <vector>

#include "objective/objective.h"

namespace saddlescope::objective {

enum class KroneckerFisher { exact, sampled, empirical };

struct KroneckerLayer {
  std::string name;         // e.g. "layer1" (its parameter blocks are "layer1.weight", "layer1.bias")
  Index out = 0;            // rows of W
  Index in = 0;             // columns of W (without the bias column)
  Index weight_offset = 0;  // first entry of W in the parameter vector
  Index bias_offset = -1;   // first entry of b, or −1 without a bias
  Matrix A;                 // [in + has_bias, in + has_bias]: E[ã ãᵀ], PSD
  Matrix G;                 // [out, out]: E[δ δᵀ], PSD
  bool has_bias() const { return bias_offset >= 0; }
  Index in_total() const { return in + (has_bias() ? 1 : 0); }
  Index parameter_count() const { return out * in_total(); }
};

// Implemented by objectives that have Kronecker factors (models::Network today). Query with
// dynamic_cast<const KroneckerFactored*>(&objective).
class KroneckerFactored {
 public:
  virtual ~KroneckerFactored() = default;
  // The factors of every Linear-like layer at x over the full data set, or over `batch` when it is
  // non-empty (sample indices, as Objective's batch calls). Layers in parameter order.
  virtual std::vector<KroneckerLayer> kronecker_factors(const Vector& x, KroneckerFisher which, std::uint64_t seed,
                                                        Batch batch = {}) const = 0;
  // The regulariser's curvature λ (objectives of the form loss + (λ/2)‖θ‖²), added as λI.
  virtual double kronecker_regulariser() const { return 0.0; }
};

}  // namespace saddlescope::objective
