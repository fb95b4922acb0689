#pragma once
// Saddle-escape strategies as policies the trainer calls once per step (as ensmallen's update
// policies and callbacks are called), so the trainer loop (trainer.h) knows no strategy by name.
//
// At step t the trainer evaluates f and ∇f at x_t, then calls on_step() once, before clipping, noise
// and the optimizer's update. A policy keeps its own state between calls (when it last fired, what
// it expects) and may move x. Its outcome tells the loop what happened:
//   moved            x changed (the convergence stop does not apply at this step);
//   reevaluate       ∇f must be evaluated again at the new x before the optimizer's update (perturbed
//                    GD steps from the perturbed point with the gradient there, Jin et al. 2017, Alg. 2);
//   replaces_update  the optimizer's update is skipped at this step (a negative-curvature step is the
//                    step);
// plus the counts and events it adds to the run's summary. The strategies' mathematics (thresholds,
// the step along v_min) is in escape.h; this file is their schedule within a run.
//
// Random streams (trainer.h): perturbations draw from Rng(seed, 3), owned by the perturb policy;
// curvature probes share the trainer's stream 4 with its periodic probe, so the policy receives it.
#include <cstdint>
#include <memory>
#include <vector>

#include "objective/objective.h"
#include "optim/escape.h"
#include "optim/events.h"
#include "random/random.h"

namespace saddlescope::optim {

// What a policy sees at step t: x_t's loss, gradient and gradient norm, and what a curvature probe
// needs.
struct EscapeInput {
  const objective::Objective* objective = nullptr;
  std::int64_t step = 0;
  double loss = 0.0;
  double grad_norm = 0.0;
  const Vector* gradient = nullptr;
  const CurvatureProbeOptions* probe = nullptr;
  random::Rng* probe_rng = nullptr;
};

struct EscapeOutcome {
  bool moved = false;
  bool reevaluate = false;
  bool replaces_update = false;
  std::int64_t perturbations = 0;
  std::int64_t negative_curvature_steps = 0;
  std::int64_t saddles_detected = 0;
  std::int64_t hvp_count = 0;
  std::vector<Event> events;  // in the order they happened, at step t
};

class EscapePolicy {
 public:
  virtual ~EscapePolicy() = default;
  // Called once per step; may move x (x_t on entry).
  virtual EscapeOutcome on_step(const EscapeInput& input, Vector& x) = 0;
};

// The policy of `options.kind` (none: one that never acts) for a problem of dimension `dim` run with
// base learning rate `lr` (perturb's default smoothness ℓ = 1/lr) and root seed `seed`.
std::unique_ptr<EscapePolicy> make_escape_policy(const EscapeOptions& options, Index dim, double lr,
                                                 std::uint64_t seed);

}  // namespace saddlescope::optim
