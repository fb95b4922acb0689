#pragma once
// The K-FAC optimizer's preconditioner (Martens & Grosse 2015, arXiv:1503.05671, Secs. 5–6): running
// averages of every layer's Kronecker factors, refreshed every `factor_interval` steps, and the damped
// Kronecker inverse (curvature/kfac.h) re-formed every `inverse_interval` steps. The step is
//     Δθ = −lr · [diag_l (Ā_l + π_l√γ I) ⊗ (Ḡ_l + (√γ/π_l) I)]⁻¹ ∇f,    γ = damping + λ,
// with λ the objective's L2 regulariser (M&G Sec. 6.1 fold the weight-decay term into the damping the
// same way). Running averages (M&G Sec. 5): Ā ← ε Ā + (1 − ε) A_t with ε = min(1 − 1/k, factor_decay),
// k the number of factor refreshes so far, so the first refresh takes the factors as they are.
// Not included: M&G's adaptive γ (Levenberg–Marquardt rule, Sec. 6.5) and their quadratic-model step
// size and momentum (Secs. 6.4, 7); the learning rate is the caller's, as in torch-style K-FAC ports.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "curvature/kfac.h"
#include "objective/kronecker.h"
#include "objective/objective.h"

namespace saddlescope::optim {

// The trainer's random stream reserved for K-FAC's sampled targets (trainer.h lists the others).
inline constexpr std::uint64_t kKfacStream = 5;

struct KfacOptions {
  double damping = 1e-3;               // γ > 0, Tikhonov damping split between the factors by π
  double factor_decay = 0.95;          // ε_max in [0, 1): weight of the old running average (M&G: 0.95)
  std::int64_t factor_interval = 1;    // T_cov ≥ 1: steps between factor refreshes
  std::int64_t inverse_interval = 20;  // T_inv ≥ 1: steps between inversions (M&G: 20)
  objective::KroneckerFisher fisher = objective::KroneckerFisher::sampled;  // M&G sample the targets
  // The run's seed (TrainerOptions::seed): the refresh at step t passes kronecker_factors the seed
  // random::Rng(random::Rng(seed, kKfacStream).next(), t).next(), so sampled targets differ from step to
  // step and from run to run, and a resumed run draws what the uninterrupted one drew.
  std::uint64_t seed = 0;
  bool IsValid(std::string* why) const;
};

class KfacPreconditioner {
 public:
  explicit KfacPreconditioner(KfacOptions options);
  // `step` counts from 1. Refreshes the factors at x (on `batch`, or the full data set when empty)
  // when (step − 1) % factor_interval == 0, re-forms the inverse when (step − 1) % inverse_interval == 0
  // (and whenever none exists yet), then writes F̂⁻¹·gradient into `direction`. Throws
  // std::invalid_argument when `f` has no Kronecker factors. Factors that overflowed or turned NaN (a
  // diverging run) give a NaN direction (KfacDampedInverse::factored()), which the trainer reports as
  // divergence: a numerical outcome, not misuse.
  void precondition(const objective::Objective& f, const objective::Vector& x, const objective::Vector& gradient,
                    std::int64_t step, objective::Vector& direction, objective::Batch batch = {});
  const std::vector<objective::KroneckerLayer>& running_factors() const { return factors_; }
  std::int64_t refreshes() const { return refreshes_; }
  // The run's seed (KfacOptions::seed), set by the kfac optimizer from its StepInput.
  void set_seed(std::uint64_t seed) { options_.seed = seed; }

  // Checkpoint state: "kfac.<layer>.A" / ".G" (the running factors, flattened column-major),
  // "kfac.<layer>.inverse_A" / ".inverse_G" (the averages the current inverse was formed from, so a
  // resumed run continues bit for bit) and "kfac.refreshes"; load_state checks the shapes against
  // `f`'s layers at the next precondition().
  void save_state(std::map<std::string, objective::Vector>& buffers) const;
  void load_state(const std::map<std::string, objective::Vector>& buffers);

 private:
  KfacOptions options_;
  std::vector<objective::KroneckerLayer> factors_;
  std::vector<objective::KroneckerLayer> inverse_basis_;  // the averages the current inverse was formed from
  std::int64_t refreshes_ = 0;
  curvature::KfacDampedInverse inverse_;
  bool have_inverse_ = false;
  std::map<std::string, objective::Vector> pending_state_;  // loaded, applied at the first refresh
};

class Optimizer;
struct OptimizerConfig;
// The `kfac` optimizer of run-optimizer (OptimizerKind::kfac): x ← x − lr·F̂⁻¹g through a
// KfacPreconditioner built from the config's damping, factor_decay, factor_interval, inverse_interval
// and fisher (sampled targets keyed by the run's seed, StepInput::seed, and the step). The factors are
// refreshed on the step's mini-batch (StepInput::batch). Its checkpoint buffers are the preconditioner's
// ("kfac.<layer>.A" …, "kfac.refreshes"), so a resumed run continues bit for bit. Throws
// std::invalid_argument at the first step when the objective has no Kronecker factors.
std::unique_ptr<Optimizer> make_kfac_optimizer(const OptimizerConfig& config);

}  // namespace saddlescope::optim
