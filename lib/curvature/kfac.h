#pragma once
// K-FAC as a curvature operator (Martens & Grosse 2015, arXiv:1503.05671): the block-diagonal
// Kronecker-factored approximation F̂ = diag_l(A_l ⊗ G_l) + λI of an objective's Gauss–Newton matrix
// (exact factors) or Fisher (sampled / empirical factors), λ the objective's L2 regulariser. The
// factors and the layout come from objective/kronecker.h; parameters outside every Kronecker layer get
// λ alone.
//
// Products cost two small GEMMs per layer, (A ⊗ G) vec(W̃) = vec(G W̃ A) (A, G symmetric), and the whole
// spectrum is known in closed form: the eigenvalues of A ⊗ G are the products α_i γ_j of the factors'
// eigenvalues (Horn & Johnson, Topics in Matrix Analysis, Thm. 4.2.12), so `eigenvalues()` needs no
// Lanczos at all.
//
// The damped inverse used by the K-FAC optimizer (optim/kfac.h) is here too: with Tikhonov damping γ
// split between the factors as in Martens & Grosse Sec. 6.3,
//     (A + π√γ I) ⊗ (G + (√γ/π) I),   π = sqrt((tr A / dim A) / (tr G / dim G)),
// whose inverse is applied as (G + (√γ/π)I)⁻¹ W̃ (A + π√γ I)⁻¹.
#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <cstdint>
#include <string>
#include <vector>

#include "curvature/blocks.h"
#include "curvature/operator.h"
#include "objective/kronecker.h"
#include "objective/objective.h"

namespace saddlescope::curvature {

// Gathers layer `layer`'s entries of an n×m block V into the W̃ = [W b] matrices of each column:
// returns [out, in_total·m] with column block j belonging to V's column j (and the inverse).
Eigen::MatrixXd gather_layer(const objective::KroneckerLayer& layer, const Eigen::MatrixXd& V);
void scatter_layer(const objective::KroneckerLayer& layer, const Eigen::MatrixXd& W, Eigen::MatrixXd& out);

class KfacOperator final : public SymmetricOperator {
 public:
  // Takes the factors as given (e.g. running averages of an optimizer).
  KfacOperator(Eigen::Index n, std::vector<objective::KroneckerLayer> layers, double regulariser);
  // The factors of `f` at `x` (`f` must implement objective::KroneckerFactored; std::invalid_argument
  // otherwise, naming the objective).
  static KfacOperator at(const objective::Objective& f, const objective::Vector& x, objective::KroneckerFisher which,
                         std::uint64_t seed = 0);

  Eigen::Index rows() const override { return n_; }
  const std::vector<objective::KroneckerLayer>& layers() const { return layers_; }
  double regulariser() const { return regulariser_; }

  // Every eigenvalue, ascending (n of them), from the factors' eigenvalues.
  Eigen::VectorXd eigenvalues() const;
  // Per layer: the eigenvalues of A_l ⊗ G_l + λI, ascending; and its trace tr(A)·tr(G) + λ·size.
  Eigen::VectorXd layer_eigenvalues(std::size_t layer) const;
  double layer_trace(std::size_t layer) const;

 protected:
  void apply_block(const Eigen::MatrixXd& V, Eigen::MatrixXd& AV) const override;

 private:
  Eigen::Index n_;
  std::vector<objective::KroneckerLayer> layers_;
  double regulariser_;
};

// The parameter blocks (Objective::parameter_blocks()) with entries outside every layer of `kfac`:
// K-FAC has no factors for them (normalisation scales and shifts, …) and gives them λ alone, so
// compare_kfac leaves them out and the tools report them beside the comparison.
std::vector<objective::Objective::Block> kfac_uncovered_blocks(const std::vector<objective::Objective::Block>& blocks,
                                                               const KfacOperator& kfac);

// The damped inverse [diag_l (A_l + π_l√γ I) ⊗ (G_l + (√γ/π_l) I)]⁻¹ on the layers' entries (γ > 0),
// and (γI)⁻¹ on entries outside every layer; the factors are Cholesky-factorised once, at construction,
// so an optimizer re-forms it only every `inverse_interval` steps. Factors that are not finite or whose
// damped form Cholesky cannot factor (overflow in a diverging run) are a numerical outcome, not misuse:
// factored() is then false and apply() returns NaN.
class KfacDampedInverse {
 public:
  KfacDampedInverse() = default;
  KfacDampedInverse(const std::vector<objective::KroneckerLayer>& layers, double damping);
  // out = inverse · V for an n×m block V.
  void apply(const Eigen::MatrixXd& V, Eigen::MatrixXd& out) const;
  bool empty() const { return layers_.empty() && damping_ == 0.0; }
  bool factored() const { return factored_; }

 private:
  struct Factored {
    objective::KroneckerLayer layout;  // offsets and sizes (its factors are not kept)
    Eigen::LLT<Eigen::MatrixXd> a, g;
  };
  std::vector<Factored> layers_;
  double damping_ = 0.0;
  bool factored_ = true;
};
// π of Martens & Grosse Sec. 6.3 for one layer (1 when either trace vanishes).
double kfac_pi(const objective::KroneckerLayer& layer);

// How good the approximation is, per layer: K-FAC's extreme eigenvalues and trace (closed form) beside
// those of the exact operator's diagonal block on the same parameters (normally the GGN, whose K-FAC the
// `exact` factors are), and the relative Frobenius error ‖K_l − A_ll‖_F / ‖A_ll‖_F — exact for blocks of
// at most options.dense_threshold parameters, otherwise estimated from `frobenius_probes` Gaussian probes
// z (E‖Mz‖² = ‖M‖_F²), as the ratio of the two sums.
struct KfacLayerComparison {
  std::string name;
  Eigen::Index size = 0;
  double kfac_lambda_min = 0.0, kfac_lambda_max = 0.0, kfac_trace = 0.0;
  LayerCurvature exact;  // the exact operator's block (layer_table row)
  double relative_frobenius_error = 0.0;
  bool frobenius_exact = false;
};
std::vector<KfacLayerComparison> compare_kfac(const SymmetricOperator& exact, const KfacOperator& kfac,
                                              const LayerTableOptions& options, Eigen::Index frobenius_probes = 16);

}  // namespace saddlescope::curvature
