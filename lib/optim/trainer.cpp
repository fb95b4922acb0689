#include "optim/trainer.h"
#include "text/format.h"

#include <cmath>
#include <numeric>
#include <stdexcept>

namespace saddlescope::optim {
namespace {

std::string fmt(double v) { return text::format_number(v); }

// Mini-batches without replacement: a fresh permutation of [0, N) per epoch (Fisher–Yates).
class BatchSampler {
 public:
  BatchSampler(std::int64_t samples, std::int64_t batch, std::uint64_t seed)
      : order_(static_cast<std::size_t>(samples)), batch_(batch), rng_(seed, 1) {
    std::iota(order_.begin(), order_.end(), std::int64_t{0});
    shuffle();
  }
  objective::Batch next() {
    if (position_ + batch_ > static_cast<std::int64_t>(order_.size())) {
      shuffle();
      position_ = 0;
    }
    objective::Batch b(order_.data() + position_, static_cast<std::size_t>(batch_));
    position_ += batch_;
    return b;
  }

 private:
  void shuffle() {
    for (std::size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng_.below(i)]);
  }
  std::vector<std::int64_t> order_;
  std::int64_t batch_;
  std::int64_t position_ = 0;
  random::Rng rng_;
};

}  // namespace

bool TrainerOptions::IsValid(std::string* why) const {
  auto fail = [&](const std::string& field, double v, const std::string& rule) {
    if (why != nullptr) *why = "trainer: '" + field + "' = " + fmt(v) + " " + rule;
    return false;
  };
  if (steps < 0) return fail("steps", static_cast<double>(steps), "must be >= 0");
  if (batch_size < 0) return fail("batch_size", static_cast<double>(batch_size), "must be >= 0 (0: full batch)");
  if (trajectory_every < 0) return fail("trajectory_every", static_cast<double>(trajectory_every), "must be >= 0");
  if (curvature_every < 0) return fail("curvature_every", static_cast<double>(curvature_every), "must be >= 0");
  if (checkpoint_every < 0) return fail("checkpoint_every", static_cast<double>(checkpoint_every), "must be >= 0");
  if (!(stop_grad_norm >= 0.0)) return fail("stop_grad_norm", stop_grad_norm, "must be >= 0");
  if (!(saddle_grad_norm >= 0.0)) return fail("saddle_grad_norm", saddle_grad_norm, "must be >= 0");
  return clip.IsValid(why) && noise.IsValid(why) && escape.IsValid(why) && probe.IsValid(why) && schedule.IsValid(why);
}

nlohmann::json TrainSummary::to_json() const {
  auto number = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(fmt(v)); };
  return {{"status", to_string(status)},
          {"message", message},
          {"steps_taken", steps_taken},
          {"initial_loss", number(initial_loss)},
          {"final_loss", number(final_loss)},
          {"final_grad_norm", number(final_grad_norm)},
          {"perturbations", perturbations},
          {"negative_curvature_steps", negative_curvature_steps},
          {"saddles_detected", saddles_detected},
          {"clipped_steps", clipped_steps},
          {"hvp_count", hvp_count},
          {"function_evaluations", function_evaluations}};
}

std::int64_t MemoryRecorder::count(const std::string& kind) const {
  return std::count_if(events.begin(), events.end(), [&](const Event& e) { return e.kind == kind; });
}

TrainSummary train(const objective::Objective& f, Vector& x, Optimizer& optimizer, const TrainerOptions& o,
                   const std::vector<Recorder*>& recorders) {
  std::string why;
  if (!o.IsValid(&why)) throw std::invalid_argument(why);
  if (x.size() != f.dim())
    throw std::invalid_argument("trainer: x has " + std::to_string(x.size()) + " entries, the objective " +
                                std::to_string(f.dim()));
  const bool stochastic = o.batch_size > 0;
  if (stochastic && f.sample_count() <= 0)
    throw std::invalid_argument("trainer: --batch-size needs an objective over a data set (" + f.description() +
                                " has no samples)");
  if (stochastic && o.batch_size > f.sample_count())
    throw std::invalid_argument("trainer: 'batch_size' = " + std::to_string(o.batch_size) + " exceeds the " +
                                std::to_string(f.sample_count()) + " samples");

  const auto blocks = f.parameter_blocks();
  RunInfo info;
  info.objective = &f;
  info.optimizer = &optimizer;
  info.options = &o;
  for (const auto& b : blocks) info.layer_names.push_back(b.name);
  for (auto* r : recorders) r->begin(info);
  auto emit = [&](std::int64_t step, const std::string& kind, const std::string& detail) {
    const Event e{step, kind, detail};
    for (auto* r : recorders) r->on_event(e);
  };

  Schedule schedule(optimizer.config().lr, o.schedule);
  std::optional<BatchSampler> sampler;
  if (stochastic) sampler.emplace(f.sample_count(), o.batch_size, o.seed);
  random::Rng noise_rng(o.seed, 2), perturb_rng(o.seed, 3), probe_rng(o.seed, 4);

  const PerturbThresholds thresholds = perturb_thresholds(o.escape.perturb, f.dim(), optimizer.config().lr);
  std::int64_t t_noise = std::numeric_limits<std::int64_t>::min() / 2;
  double f_tilde = 0.0;
  bool perturbation_pending = false;
  std::int64_t last_nc_step = std::numeric_limits<std::int64_t>::min() / 2;

  TrainSummary s;
  Vector g, g_used, x_before;
  StepRecord row;
  row.layer_grad_norms.resize(static_cast<Index>(blocks.size()));
  auto evaluate = [&](double& loss, double& batch_loss) {
    if (stochastic) {
      batch_loss = f.batch_gradient(x, sampler->next(), g);
      loss = f.value(x);
      s.function_evaluations += 2;
    } else {
      loss = f.gradient(x, g);
      batch_loss = std::numeric_limits<double>::quiet_NaN();
      s.function_evaluations += 1;
    }
  };

  std::int64_t t = 0;
  for (; t < o.steps; ++t) {
    double loss = 0.0, batch_loss = 0.0;
    evaluate(loss, batch_loss);
    if (t == 0) s.initial_loss = loss;
    row.step = t;
    row.loss = loss;
    row.batch_loss = batch_loss;
    row.grad_norm = g.norm();
    row.lr = schedule.lr();
    for (std::size_t b = 0; b < blocks.size(); ++b)
      row.layer_grad_norms(static_cast<Index>(b)) = g.segment(blocks[b].offset, blocks[b].size).norm();
    if (o.trajectory_every > 0 && t % o.trajectory_every == 0)
      for (auto* r : recorders) r->on_trajectory(t, x);

    const bool finite = std::isfinite(loss) && std::isfinite(batch_loss == batch_loss ? batch_loss : 0.0) && g.allFinite();
    if (!finite) {
      row.update_norm = 0.0;
      row.param_norm = x.norm();
      for (auto* r : recorders) r->on_step(row);
      emit(t, event::kDiverged, "loss " + fmt(loss) + ", gradient norm " + fmt(row.grad_norm));
      s.status = RunStatus::diverged;
      s.message = "non-finite loss or gradient at step " + std::to_string(t);
      break;
    }

    if (o.curvature_every > 0 && t % o.curvature_every == 0) {
      const CurvatureProbe probe = probe_curvature(f, x, o.probe, probe_rng);
      s.hvp_count += probe.hvp_count;
      for (auto* r : recorders) r->on_curvature(t, probe);
      if (row.grad_norm <= o.saddle_grad_norm && probe.lambda_min < 0.0) {
        ++s.saddles_detected;
        emit(t, event::kSaddleDetected,
             "grad_norm " + fmt(row.grad_norm) + ", lambda_min " + fmt(probe.lambda_min) + " (curvature probe)");
      }
    }

    x_before = x;
    bool escaped = false;
    bool replace_step = false;
    if (o.escape.kind == EscapeKind::perturb) {
      if (perturbation_pending && t - t_noise == thresholds.t_thres) {
        perturbation_pending = false;
        if (loss - f_tilde > -thresholds.f_thres)
          emit(t, event::kPerturbationNoDecrease,
               "decrease " + fmt(f_tilde - loss) + " < f_thres " + fmt(thresholds.f_thres) + " after " +
                   std::to_string(thresholds.t_thres) + " steps");
      }
      if (row.grad_norm <= thresholds.g_thres && t - t_noise > thresholds.t_thres) {
        f_tilde = loss;
        t_noise = t;
        perturbation_pending = true;
        x += uniform_in_ball(x.size(), thresholds.radius, perturb_rng);
        ++s.perturbations;
        escaped = true;
        emit(t, event::kPerturbation,
             "grad_norm " + fmt(row.grad_norm) + " <= g_thres " + fmt(thresholds.g_thres) + ", radius " +
                 fmt(thresholds.radius));
        double unused_loss = 0.0, unused_batch = 0.0;
        evaluate(unused_loss, unused_batch);  // Alg. 2 steps from the perturbed point with ∇f there
      }
    } else if (o.escape.kind == EscapeKind::negative_curvature) {
      const auto& nc = o.escape.negative_curvature;
      if (row.grad_norm <= nc.grad_threshold && t - last_nc_step > nc.cooldown) {
        const CurvatureProbe probe = probe_curvature(f, x, o.probe, probe_rng);
        s.hvp_count += probe.hvp_count;
        const NegativeCurvatureStep step = negative_curvature_step(f, x, g, probe, nc);
        s.hvp_count += step.hvp_count;
        if (step.taken) {
          ++s.saddles_detected;
          emit(t, event::kSaddleDetected,
               "grad_norm " + fmt(row.grad_norm) + ", lambda_min " + fmt(probe.lambda_min) + " (" + probe.method + ")");
          x += step.step_length * step.direction;
          last_nc_step = t;
          ++s.negative_curvature_steps;
          escaped = replace_step = true;
          emit(t, event::kNegativeCurvatureStep,
               "lambda_min " + fmt(step.lambda_min) + ", rho " + fmt(step.rho) + ", step " + fmt(step.step_length));
        }
      }
    }

    if (!escaped && o.stop_grad_norm > 0.0 && row.grad_norm <= o.stop_grad_norm) {
      emit(t, event::kConverged, "grad_norm " + fmt(row.grad_norm) + " <= " + fmt(o.stop_grad_norm));
      s.status = RunStatus::finished;
      s.message = "gradient norm below stop_grad_norm at step " + std::to_string(t);
      break;
    }

    if (!replace_step) {
      g_used = g;
      if (o.clip.enabled() && clip_gradient(g_used, o.clip)) {
        ++s.clipped_steps;
        emit(t, event::kClipping, "grad_norm " + fmt(row.grad_norm) + " clipped to " + fmt(g_used.norm()));
      }
      add_gradient_noise(g_used, t, o.noise, noise_rng);
      StepInput in;
      in.objective = &f;
      in.loss = stochastic ? batch_loss : loss;
      in.gradient = &g_used;
      in.lr = row.lr;
      const StepReport report = optimizer.step(x, in);
      s.function_evaluations += report.function_evaluations;
      s.hvp_count += report.hvp_count;
      if (!report.note.empty()) emit(t, event::kOptimizerNote, report.note);
    }
    row.update_norm = (x - x_before).norm();
    row.param_norm = x.norm();
    for (auto* r : recorders) r->on_step(row);
    schedule.step();
    s.steps_taken = t + 1;

    if (o.checkpoint_every > 0 && (t + 1) % o.checkpoint_every == 0 && x.allFinite())
      for (auto* r : recorders) r->on_checkpoint(t + 1, x, optimizer, false);
    if (o.stop_requested != nullptr && o.stop_requested->load()) {
      emit(t, event::kInterrupted, "stop requested (signal)");
      s.status = RunStatus::interrupted;
      s.message = "interrupted after step " + std::to_string(t);
      break;
    }
  }
  if (s.status == RunStatus::running) {
    s.status = RunStatus::finished;
    s.message = "completed " + std::to_string(s.steps_taken) + " steps";
  }
  if (s.status != RunStatus::diverged) {
    Vector g_final;
    s.final_loss = f.gradient(x, g_final);
    s.final_grad_norm = g_final.norm();
    ++s.function_evaluations;
    if (s.steps_taken == 0) s.initial_loss = s.final_loss;
    if (!std::isfinite(s.final_loss) || !g_final.allFinite()) {
      s.status = RunStatus::diverged;
      s.message = "non-finite loss at the final point";
      emit(s.steps_taken, event::kDiverged, "loss " + fmt(s.final_loss) + " at the final point");
    }
  } else {
    s.final_loss = std::numeric_limits<double>::quiet_NaN();
    s.final_grad_norm = std::numeric_limits<double>::quiet_NaN();
  }
  if (o.trajectory_every > 0 && x.allFinite() && s.steps_taken % o.trajectory_every == 0 && s.steps_taken > 0)
    for (auto* r : recorders) r->on_trajectory(s.steps_taken, x);
  if (x.allFinite())
    for (auto* r : recorders) r->on_checkpoint(s.steps_taken, x, optimizer, true);
  for (auto* r : recorders) r->end(s, x);
  return s;
}

}  // namespace saddlescope::optim
