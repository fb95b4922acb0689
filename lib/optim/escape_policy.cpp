#include "optim/escape_policy.h"

#include <limits>

#include "text/format.h"

namespace saddlescope::optim {
namespace {

std::string fmt(double v) { return text::format_number(v); }

class NoEscape final : public EscapePolicy {
 public:
  EscapeOutcome on_step(const EscapeInput&, Vector&) override { return {}; }
};

// Perturbed gradient descent (Jin et al. 2017, Alg. 2; thresholds in escape.h): when ‖∇f‖ ≤ g_thres
// and the last perturbation is more than t_thres steps old, add ξ uniform in B(0, r); t_thres steps
// after a perturbation, compare the decrease since then with f_thres.
class PerturbPolicy final : public EscapePolicy {
 public:
  PerturbPolicy(const PerturbOptions& options, Index dim, double lr, std::uint64_t seed)
      : thresholds_(perturb_thresholds(options, dim, lr)), rng_(seed, 3) {}

  EscapeOutcome on_step(const EscapeInput& in, Vector& x) override {
    EscapeOutcome out;
    const std::int64_t t = in.step;
    if (pending_ && t - t_noise_ == thresholds_.t_thres) {
      pending_ = false;
      if (in.loss - f_tilde_ > -thresholds_.f_thres)
        out.events.push_back({t, event::kPerturbationNoDecrease,
                              "decrease " + fmt(f_tilde_ - in.loss) + " < f_thres " + fmt(thresholds_.f_thres) +
                                  " after " + std::to_string(thresholds_.t_thres) + " steps"});
    }
    if (in.grad_norm <= thresholds_.g_thres && t - t_noise_ > thresholds_.t_thres) {
      f_tilde_ = in.loss;
      t_noise_ = t;
      pending_ = true;
      x += uniform_in_ball(x.size(), thresholds_.radius, rng_);
      out.perturbations = 1;
      out.moved = out.reevaluate = true;
      out.events.push_back({t, event::kPerturbation,
                            "grad_norm " + fmt(in.grad_norm) + " <= g_thres " + fmt(thresholds_.g_thres) +
                                ", radius " + fmt(thresholds_.radius)});
    }
    return out;
  }

 private:
  PerturbThresholds thresholds_;
  random::Rng rng_;
  std::int64_t t_noise_ = std::numeric_limits<std::int64_t>::min() / 2;  // step of the last perturbation
  double f_tilde_ = 0.0;                                                   // f there, before it
  bool pending_ = false;                                                   // its f_thres check is due
};

// Negative-curvature descent (escape.h): when ‖∇f‖ ≤ grad_threshold and the last such step is more
// than `cooldown` steps old, probe λ_min; below −lambda_tolerance, step along v_min instead of the
// optimizer's update.
class NegativeCurvaturePolicy final : public EscapePolicy {
 public:
  explicit NegativeCurvaturePolicy(const NegativeCurvatureOptions& options) : options_(options) {}

  EscapeOutcome on_step(const EscapeInput& in, Vector& x) override {
    EscapeOutcome out;
    const std::int64_t t = in.step;
    if (!(in.grad_norm <= options_.grad_threshold && t - last_step_ > options_.cooldown)) return out;
    const CurvatureProbe probe = probe_curvature(*in.objective, x, *in.probe, *in.probe_rng);
    const NegativeCurvatureStep step = negative_curvature_step(*in.objective, x, *in.gradient, probe, options_);
    out.hvp_count = probe.hvp_count + step.hvp_count;
    if (!step.taken) return out;
    out.saddles_detected = 1;
    out.events.push_back({t, event::kSaddleDetected,
                          "grad_norm " + fmt(in.grad_norm) + ", lambda_min " + fmt(probe.lambda_min) + " (" +
                              probe.method + ")"});
    x += step.step_length * step.direction;
    last_step_ = t;
    out.negative_curvature_steps = 1;
    out.moved = out.replaces_update = true;
    out.events.push_back({t, event::kNegativeCurvatureStep,
                          "lambda_min " + fmt(step.lambda_min) + ", rho " + fmt(step.rho) + ", step " +
                              fmt(step.step_length)});
    return out;
  }

 private:
  NegativeCurvatureOptions options_;
  std::int64_t last_step_ = std::numeric_limits<std::int64_t>::min() / 2;
};

}  // namespace

std::unique_ptr<EscapePolicy> make_escape_policy(const EscapeOptions& options, Index dim, double lr,
                                                 std::uint64_t seed) {
  switch (options.kind) {
    case EscapeKind::none: return std::make_unique<NoEscape>();
    case EscapeKind::perturb: return std::make_unique<PerturbPolicy>(options.perturb, dim, lr, seed);
    case EscapeKind::negative_curvature: return std::make_unique<NegativeCurvaturePolicy>(options.negative_curvature);
  }
  throw std::invalid_argument("unknown escape strategy");
}

}  // namespace saddlescope::optim
