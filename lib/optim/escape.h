#pragma once
// Gradient clipping, gradient noise, the curvature probe and the saddle-escape strategies. Each
// composes with any optimizer: the Trainer (trainer.h) applies them around the optimizer's step.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "curvature/lanczos.h"
#include "objective/objective.h"
#include "optim/fields.h"
#include "random/random.h"
#include "text/names.h"

namespace saddlescope::optim {

using objective::Index;
using objective::Vector;

// torch.nn.utils.clip_grad_norm_ (2-norm, coefficient max_norm/(‖g‖ + 1e-6), applied when < 1) and
// clip_grad_value_ (clamp to [−clip_value, clip_value]). 0 disables either.
struct ClipOptions {
  double max_norm = 0.0;
  double clip_value = 0.0;
  bool IsValid(std::string* why) const;
  bool enabled() const { return max_norm > 0.0 || clip_value > 0.0; }
};
// Clips in place; returns true when the gradient changed.
bool clip_gradient(Vector& g, const ClipOptions& options);

// Annealed Gaussian gradient noise (Neelakantan et al. 2015, arXiv:1511.06807, Eq. 1):
// g ← g + N(0, σ_t²), σ_t² = eta/(1+t)^gamma, t the step (from 0). eta = 0 disables it; the paper
// uses eta ∈ {0.01, 0.3, 1.0} and gamma = 0.55.
struct GradNoiseOptions {
  double eta = 0.0;
  double gamma = 0.55;
  bool IsValid(std::string* why) const;
};
void add_gradient_noise(Vector& g, std::int64_t step, const GradNoiseOptions& options, random::Rng& rng);

// Extreme eigenvalues of ∇²f(x). Dense eigen-decomposition up to `dense_max_dim` parameters (or when
// the Krylov basis would be the whole space: curvature::use_dense_path); above,
// matrix-free block thick-restart Lanczos for both ends (curvature::extreme_eigenpairs,
// curvature/lanczos.h) with residual tolerance `tolerance`·‖H‖_est and at most `max_restarts` cycles.
struct CurvatureProbeOptions {
  Index dense_max_dim = curvature::kDenseThreshold;  // the one threshold (curvature/lanczos.h)
  double tolerance = 1e-6;
  Index max_restarts = 100;
  bool IsValid(std::string* why) const;
};
struct CurvatureProbe {
  double lambda_min = 0.0;
  double lambda_max = 0.0;
  Vector v_min;                 // unit eigenvector (Ritz vector) of lambda_min
  std::int64_t hvp_count = 0;   // Hessian-vector products used (0 for an analytic dense Hessian)
  std::string method;           // "dense" or "lanczos"
  bool converged = true;        // Lanczos: every wanted pair met the tolerance
};
CurvatureProbe probe_curvature(const objective::Objective& f, const Vector& x, const CurvatureProbeOptions& options,
                               random::Rng& rng);

enum class EscapeKind { none, perturb, negative_curvature };
inline constexpr auto kEscapeNames = text::make_name_table<EscapeKind>(
    "escape strategy", {{EscapeKind::none, "none"},
                        {EscapeKind::perturb, "perturb"},
                        {EscapeKind::negative_curvature, "negative_curvature"}});
inline std::string to_string(EscapeKind kind) { return std::string(kEscapeNames.name(kind)); }

// Perturbed gradient descent (Jin, Ge, Netrapalli, Kakade, Jordan 2017, arXiv:1703.00887, Alg. 2):
// when ‖∇f(x_t)‖ ≤ g_thres and no perturbation happened in the last t_thres steps, add ξ uniform in
// the ball B(0, r). The paper's thresholds, for an ℓ-smooth, ρ-Hessian-Lipschitz f, target accuracy
// ε, failure probability δ, Δ_f ≥ f(x₀) − f* and a constant c:
//   χ = 3·max{ln(d·ℓ·Δ_f/(c·ε²·δ)), 4},  r = (√c/χ²)·ε/ℓ,  g_thres = (√c/χ²)·ε,
//   f_thres = (c/χ³)·√(ε³/ρ),  t_thres = ⌈(χ/c²)·ℓ/√(ρ·ε)⌉.
// Defaults: ε = 1e-3, ρ = 1, δ = 0.1, Δ_f = 1, c = 1, and ℓ = 1/lr (the paper's step η = c/ℓ).
// A positive radius / g_thres / t_thres overrides the formula. After t_thres steps the decrease since
// the perturbation is compared with f_thres: less means no saddle was escaped there (an event
// "perturbation_no_decrease", where Alg. 2 would stop and return the pre-perturbation point).
struct PerturbOptions {
  double epsilon = 1e-3;
  double ell = 0.0;  // 0: 1/lr
  double rho = 1.0;
  double delta = 0.1;
  double delta_f = 1.0;
  double c = 1.0;
  double radius = 0.0;
  double g_thres = 0.0;
  std::int64_t t_thres = 0;
  bool IsValid(std::string* why) const;
};
// Its field table (optim/fields.h): IsValid, to_json and run-optimizer's --perturb-* flags follow from it.
const FieldTable<PerturbOptions>& perturb_fields();
struct PerturbThresholds {
  double chi = 0, radius = 0, g_thres = 0, f_thres = 0;
  std::int64_t t_thres = 0;
};
PerturbThresholds perturb_thresholds(const PerturbOptions& options, Index dim, double lr);
// ξ uniform in the n-ball of radius r: a Gaussian direction times r·U^{1/n}.
Vector uniform_in_ball(Index n, double radius, random::Rng& rng);

// Negative-curvature descent: when ‖∇f‖ ≤ grad_threshold (and no such step in the last `cooldown`
// steps), compute λ_min and its unit eigenvector v; if λ_min < −lambda_tolerance step
// x ← x − η·sgn(vᵀ∇f)·v (the sign that descends; +v when vᵀ∇f = 0). From the cubic bound
// f(x⁺) ≤ f(x) − η²|λ|/2 + ρη³/6, η = 2|λ|/ρ guarantees a decrease ≥ 2|λ|³/(3ρ²). ρ (the
// Hessian-Lipschitz constant) is `rho` when positive, otherwise estimated along v by one extra
// Hessian-vector product: ρ ≈ |vᵀ∇²f(x+hv)v − λ|/h with h = probe_step. η is capped at max_step
// (a quadratic has ρ = 0 and would give an infinite step).
struct NegativeCurvatureOptions {
  double grad_threshold = 1e-3;
  double lambda_tolerance = 1e-8;
  double rho = 0.0;
  double probe_step = 1e-3;
  double max_step = 1.0;
  std::int64_t cooldown = 1;
  bool IsValid(std::string* why) const;
};
// Its field table (optim/fields.h): IsValid, to_json and run-optimizer's --nc-* flags follow from it.
const FieldTable<NegativeCurvatureOptions>& negative_curvature_fields();
struct NegativeCurvatureStep {
  bool taken = false;
  double lambda_min = 0.0;
  double rho = 0.0;
  double step_length = 0.0;
  Vector direction;  // unit, the sign that descends
  std::int64_t hvp_count = 0;
};
// Computes the step (does not move x) from the probe at x.
NegativeCurvatureStep negative_curvature_step(const objective::Objective& f, const Vector& x, const Vector& gradient,
                                              const CurvatureProbe& probe, const NegativeCurvatureOptions& options);

struct EscapeOptions {
  EscapeKind kind = EscapeKind::none;
  PerturbOptions perturb;
  NegativeCurvatureOptions negative_curvature;
  bool IsValid(std::string* why) const;
  // {"escape": name} and the active policy's settings; from_json refuses keys it does not have.
  nlohmann::json to_json() const;
  static EscapeOptions from_json(const nlohmann::json& j);
};

}  // namespace saddlescope::optim
