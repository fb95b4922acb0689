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
  // Where `batches` more calls of next() would leave it, drawing the same permutations (a resumed run).
  void skip(std::int64_t batches) {
    for (std::int64_t i = 0; i < batches; ++i) next();
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
  if (first_step < 0) return fail("first_step", static_cast<double>(first_step), "must be >= 0");
  if (batch_size < 0) return fail("batch_size", static_cast<double>(batch_size), "must be >= 0 (0: full batch)");
  if (trajectory_every < 0) return fail("trajectory_every", static_cast<double>(trajectory_every), "must be >= 0");
  if (curvature_every < 0) return fail("curvature_every", static_cast<double>(curvature_every), "must be >= 0");
  if (checkpoint_every < 0) return fail("checkpoint_every", static_cast<double>(checkpoint_every), "must be >= 0");
  if (!(stop_grad_norm >= 0.0)) return fail("stop_grad_norm", stop_grad_norm, "must be >= 0");
  if (!(saddle_grad_norm >= 0.0)) return fail("saddle_grad_norm", saddle_grad_norm, "must be >= 0");
  return clip.IsValid(why) && noise.IsValid(why) && escape.IsValid(why) && probe.IsValid(why) && schedule.IsValid(why) &&
         histograms.IsValid(why);
}

std::int64_t MemoryRecorder::count(const std::string& kind) const {
  return std::count_if(events.begin(), events.end(), [&](const Event& e) { return e.kind == kind; });
}

namespace {

void check_arguments(const objective::Objective& f, const Vector& x, const TrainerOptions& o) {
  std::string why;
  if (!o.IsValid(&why)) throw std::invalid_argument(why);
  if (x.size() != f.dim())
    throw std::invalid_argument("trainer: x has " + std::to_string(x.size()) + " entries, the objective " +
                                std::to_string(f.dim()));
  if (o.batch_size > 0 && f.sample_count() <= 0)
    throw std::invalid_argument("trainer: --batch-size needs an objective over a data set (" + f.description() +
                                " has no samples)");
  if (o.batch_size > 0 && o.batch_size > f.sample_count())
    throw std::invalid_argument("trainer: 'batch_size' = " + std::to_string(o.batch_size) + " exceeds the " +
                                std::to_string(f.sample_count()) + " samples");
}

// Step 1 of the loop (trainer.h): f and ∇f at x, on the full batch or the next mini-batch.
class Evaluator {
 public:
  Evaluator(const objective::Objective& f, const TrainerOptions& o, TrainSummary& s) : f_(f), s_(s) {
    if (o.batch_size > 0) {
      sampler_.emplace(f.sample_count(), o.batch_size, o.seed);
      sampler_->skip(o.first_step);  // one batch per earlier step of the run
    }
  }
  bool stochastic() const { return sampler_.has_value(); }
  // The mini-batch of the last evaluation (empty for full batch).
  objective::Batch batch() const { return batch_; }
  // Sets g; returns {full-batch loss, batch loss (NaN for full batch)}.
  std::pair<double, double> operator()(const Vector& x, Vector& g) {
    if (sampler_) {
      batch_ = sampler_->next();
      const double batch_loss = f_.batch_gradient(x, batch_, g);
      s_.function_evaluations += 2;
      return {f_.value(x), batch_loss};
    }
    s_.function_evaluations += 1;
    return {f_.gradient(x, g), std::numeric_limits<double>::quiet_NaN()};
  }

 private:
  const objective::Objective& f_;
  TrainSummary& s_;
  std::optional<BatchSampler> sampler_;
  objective::Batch batch_;
};

struct Recorders {
  const std::vector<Recorder*>& list;
  void event(std::int64_t step, const std::string& kind, const std::string& detail) const {
    const Event e{step, kind, detail};
    for (auto* r : list) r->on_event(e);
  }
};

// The record of step t before the update: losses, gradient norms (total and per block), lr.
void fill_row(StepRecord& row, std::int64_t t, std::pair<double, double> losses, const Vector& g, double lr,
              const std::vector<objective::Objective::Block>& blocks) {
  row.step = t;
  std::tie(row.loss, row.batch_loss) = losses;
  row.grad_norm = g.norm();
  row.lr = lr;
  for (std::size_t b = 0; b < blocks.size(); ++b)
    row.layer_grad_norms(static_cast<Index>(b)) = g.segment(blocks[b].offset, blocks[b].size).norm();
}

void add_outcome(TrainSummary& s, const EscapeOutcome& e, const Recorders& rec) {
  s.perturbations += e.perturbations;
  s.negative_curvature_steps += e.negative_curvature_steps;
  s.saddles_detected += e.saddles_detected;
  s.hvp_count += e.hvp_count;
  for (const auto& ev : e.events) rec.event(ev.step, ev.kind, ev.detail);
}

// The stream of step t for stream id `stream` of the seed (trainer.h): Rng(Rng(seed, stream).next(), t),
// so a resumed run draws what the uninterrupted one does at that step without replaying earlier steps.
class StepStreams {
 public:
  StepStreams(std::uint64_t seed, std::uint64_t stream) : key_(random::Rng(seed, stream).next()) {}
  random::Rng at(std::int64_t t) const { return random::Rng(key_, static_cast<std::uint64_t>(t)); }

 private:
  std::uint64_t key_;
};

// Steps 4 and 5: clip, add noise, and the optimizer's update with learning rate `lr`.
void optimizer_update(const objective::Objective& f, objective::Batch batch, Vector& x, const Vector& g, Vector& g_used,
                      double loss, double lr, std::int64_t t, Optimizer& optimizer, const TrainerOptions& o, random::Rng& noise_rng,
                      TrainSummary& s, const Recorders& rec) {
  g_used = g;
  if (o.clip.enabled() && clip_gradient(g_used, o.clip)) {
    ++s.clipped_steps;
    rec.event(t, event::kClipping, "grad_norm " + fmt(g.norm()) + " clipped to " + fmt(g_used.norm()));
  }
  add_gradient_noise(g_used, t, o.noise, noise_rng);
  StepInput in;
  in.objective = &f;
  in.loss = loss;
  in.gradient = &g_used;
  in.lr = lr;
  in.batch = batch;
  in.seed = o.seed;
  const StepReport report = optimizer.step(x, in);
  s.function_evaluations += report.function_evaluations;
  s.hvp_count += report.hvp_count;
  if (!report.note.empty()) rec.event(t, event::kOptimizerNote, report.note);
}

// After the loop: f and ∇f at the final x (a non-finite value there is divergence), the last
// trajectory point, the final checkpoint, end().
void finish(const objective::Objective& f, const Vector& x, Optimizer& optimizer, const TrainerOptions& o,
            TrainSummary& s, const Recorders& rec) {
  const std::int64_t steps_done = o.first_step + s.steps_taken;  // of the whole run
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
      rec.event(steps_done, event::kDiverged, "loss " + fmt(s.final_loss) + " at the final point");
    }
  } else {
    s.final_loss = std::numeric_limits<double>::quiet_NaN();
    s.final_grad_norm = std::numeric_limits<double>::quiet_NaN();
  }
  if (o.trajectory_every > 0 && x.allFinite() && steps_done % o.trajectory_every == 0 && s.steps_taken > 0)
    for (auto* r : rec.list) r->on_trajectory(steps_done, x);
  if (x.allFinite())
    for (auto* r : rec.list) r->on_checkpoint(steps_done, x, optimizer, true);
  for (auto* r : rec.list) r->end(s, x);
}

}  // namespace

TrainSummary train(const objective::Objective& f, Vector& x, Optimizer& optimizer, const TrainerOptions& o,
                   const std::vector<Recorder*>& recorders) {
  check_arguments(f, x, o);
  const auto blocks = f.parameter_blocks();
  RunInfo info{&f, &optimizer, {}, &o};
  for (const auto& b : blocks) info.layer_names.push_back(b.name);
  for (auto* r : recorders) r->begin(info);
  const Recorders rec{recorders};

  TrainSummary s;
  Schedule schedule(optimizer.config().lr, o.schedule);
  for (std::int64_t t = 0; t < o.first_step; ++t) schedule.step();  // the recursion, as the run took it
  Evaluator evaluate(f, o, s);
  const StepStreams noise_streams(o.seed, 2), probe_streams(o.seed, 4);
  const auto escape = make_escape_policy(o.escape, f.dim(), optimizer.config().lr, o.seed);
  Vector g, g_used, x_before;
  std::vector<std::int64_t> all_samples;
  StepRecord row;
  row.layer_grad_norms.resize(static_cast<Index>(blocks.size()));
  HistogramTaker histograms(o.histograms, blocks);

  for (std::int64_t t = o.first_step; t < o.first_step + o.steps; ++t) {
    random::Rng noise_rng = noise_streams.at(t), probe_rng = probe_streams.at(t);
    const auto losses = evaluate(x, g);
    const auto [loss, batch_loss] = losses;
    if (t == o.first_step) s.initial_loss = loss;
    fill_row(row, t, losses, g, schedule.lr(), blocks);
    if (o.trajectory_every > 0 && t % o.trajectory_every == 0)
      for (auto* r : recorders) r->on_trajectory(t, x);

    if (!std::isfinite(loss) || !std::isfinite(batch_loss == batch_loss ? batch_loss : 0.0) || !g.allFinite()) {
      row.update_norm = 0.0;
      row.param_norm = x.norm();
      for (auto* r : recorders) r->on_step(row);
      rec.event(t, event::kDiverged, "loss " + fmt(loss) + ", gradient norm " + fmt(row.grad_norm));
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
        rec.event(t, event::kSaddleDetected,
                  "grad_norm " + fmt(row.grad_norm) + ", lambda_min " + fmt(probe.lambda_min) + " (curvature probe)");
      }
    }

    if (o.training_state != nullptr && o.training_state->trains_state()) {
      if (evaluate.stochastic()) {
        o.training_state->advance(x, evaluate.batch());
      } else {
        // Full batch: every sample, in order (the statistics do not depend on the order).
        if (all_samples.empty())
          for (std::int64_t i = 0; i < f.sample_count(); ++i) all_samples.push_back(i);
        o.training_state->advance(x, all_samples);
      }
    }

    x_before = x;
    const bool histogram_step = histograms.due(t);
    if (histogram_step) histograms.before(t, x, g);  // g before the escape policy may re-evaluate it
    const EscapeOutcome escaped = escape->on_step({&f, t, loss, row.grad_norm, &g, &o.probe, &probe_rng}, x);
    add_outcome(s, escaped, rec);
    if (escaped.reevaluate) evaluate(x, g);  // its losses are not this step's record

    if (!escaped.moved && o.stop_grad_norm > 0.0 && row.grad_norm <= o.stop_grad_norm) {
      rec.event(t, event::kConverged, "grad_norm " + fmt(row.grad_norm) + " <= " + fmt(o.stop_grad_norm));
      s.status = RunStatus::finished;
      s.message = "gradient norm below stop_grad_norm at step " + std::to_string(t);
      break;
    }
    if (!escaped.replaces_update)
      optimizer_update(f, evaluate.batch(), x, g, g_used, evaluate.stochastic() ? batch_loss : loss, row.lr, t, optimizer, o, noise_rng,
                       s, rec);
    row.update_norm = (x - x_before).norm();
    row.param_norm = x.norm();
    if (histogram_step) {
      const LayerHistograms& h = histograms.after(x_before, x);
      for (auto* r : recorders) r->on_histograms(h, histograms.edges());
    }
    for (auto* r : recorders) r->on_step(row);
    schedule.step();
    s.steps_taken = t + 1 - o.first_step;

    if (o.checkpoint_every > 0 && (t + 1) % o.checkpoint_every == 0 && x.allFinite())
      for (auto* r : recorders) r->on_checkpoint(t + 1, x, optimizer, false);
    if (o.stop_requested != nullptr && o.stop_requested->load()) {
      rec.event(t, event::kInterrupted, "stop requested (signal)");
      s.status = RunStatus::interrupted;
      s.message = "interrupted after step " + std::to_string(t);
      break;
    }
  }
  finish(f, x, optimizer, o, s, rec);
  return s;
}

}  // namespace saddlescope::optim
