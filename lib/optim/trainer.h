#pragma once
// The Trainer loop: optimizer · schedule · clipping · gradient noise · saddle escape, reporting to
// Recorders (the library never prints: the HDF5 run log, the console progress bar and the in-memory
// recorder of the tests are three recorders of the same events).
//
// Step t (0-based, counted over the whole run: first_step, …, first_step + steps − 1) of a run:
//   1. evaluate at x_t: full batch f, ∇f; or, when batch_size > 0 and the objective has samples, the
//      mini-batch loss and gradient (batches drawn without replacement, a fresh permutation of the
//      samples per epoch from stream 1 of the seed) and the full-batch loss for the record;
//   2. non-finite loss or gradient → event "diverged", status diverged, stop;
//   3. the escape policy's on_step (escape_policy.h): perturb may move x_t and re-evaluate ∇f;
//      negative_curvature replaces this step's optimizer update when it fires;
//   4. clip, then add gradient noise; 5. optimizer step with lr = schedule.lr(); 6. schedule.step().
// The row recorded for step t holds loss(x_t), the batch loss, ‖∇f(x_t)‖ (before clipping and noise),
// the lr used, ‖x_{t+1} − x_t‖ and ‖x_{t+1}‖, and per-layer gradient norms over parameter_blocks().
// Trajectory and curvature records taken "at step t" are at x_t. Histograms (optim/histograms.h) of
// step t hold x_t, the step's gradient and x_{t+1} − x_t, and reach the recorders before step t's row.
//
// Resuming (first_step = k > 0, the run steps a checkpoint records): the loop continues as the
// uninterrupted run would at step k — the schedule stepped k times (torch's recursive formulas
// replayed, so the same bits), the batch sampler advanced by k batches (its permutations replayed),
// and the gradient noise (stream 2) and curvature probes (stream 4) drawn from a stream keyed by
// (seed, step), Rng(Rng(seed, s).next(), t), which needs no replay. So k steps, a checkpoint and
// `steps` more give the bits of k + steps straight, with the optimizer's state restored. Not restored:
// the escape policies' state (perturb's and negative_curvature's last firing step, perturb's stream 3),
// and the extra batch a perturbation's re-evaluation draws; runs with an escape policy resume from
// a fresh policy.
#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "objective/objective.h"
#include "objective/training_state.h"
#include "optim/escape.h"
#include "optim/escape_policy.h"
#include "optim/events.h"
#include "optim/histograms.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "text/names.h"

namespace saddlescope::optim {

enum class RunStatus { running, finished, diverged, interrupted };
inline constexpr auto kRunStatusNames = text::make_name_table<RunStatus>(
    "run status", {{RunStatus::running, "running"},
                   {RunStatus::finished, "finished"},
                   {RunStatus::diverged, "diverged"},
                   {RunStatus::interrupted, "interrupted"}});
inline std::string to_string(RunStatus status) { return std::string(kRunStatusNames.name(status)); }

struct TrainerOptions {
  std::int64_t steps = 1000;            // optimizer steps to take (≥ 0), in addition to first_step
  std::int64_t first_step = 0;          // the run's step count at x (≥ 0): a resumed run's checkpoint step
  std::int64_t batch_size = 0;          // 0: full batch; > 0 needs an objective with samples
  std::uint64_t seed = 0;               // streams: 1 batches, 2 noise, 3 perturbations, 4 probes, 5 kfac
  std::int64_t trajectory_every = 0;    // 0: off
  std::int64_t curvature_every = 0;     // 0: off
  std::int64_t checkpoint_every = 0;    // 0: only the final checkpoint
  double stop_grad_norm = 0.0;          // stop ("converged") when ‖∇f‖ ≤ this and no escape fires; 0: never
  // Saddle detection threshold for the curvature probe: an event when ‖∇f‖ ≤ this and λ_min < 0.
  double saddle_grad_norm = 1e-3;
  ClipOptions clip;
  GradNoiseOptions noise;
  EscapeOptions escape;
  CurvatureProbeOptions probe;
  SchedulePlan schedule;                // default: constant
  const std::atomic<bool>* stop_requested = nullptr;  // checked after every step (SIGINT/SIGTERM)
  // The objective's training state (objective.h), when it has one that trains: advanced once per step,
  // after the step's gradient and before the update, at that point and on that mini-batch (the full data
  // set for full-batch runs), as torch's training forward pass does. Normally the same object as `f`.
  objective::TrainingState* training_state = nullptr;
  HistogramOptions histograms;          // per-layer histograms (every = 0: off)
  bool IsValid(std::string* why) const;
};

struct StepRecord {
  std::int64_t step = 0;
  double loss = 0.0;
  double batch_loss = std::numeric_limits<double>::quiet_NaN();  // NaN for full-batch runs
  double grad_norm = 0.0;
  double lr = 0.0;
  double update_norm = 0.0;
  double param_norm = 0.0;
  Vector layer_grad_norms;  // one per parameter block
};

struct RunInfo {
  const objective::Objective* objective = nullptr;
  const Optimizer* optimizer = nullptr;
  std::vector<std::string> layer_names;
  const TrainerOptions* options = nullptr;
};

struct TrainSummary {
  RunStatus status = RunStatus::running;
  std::string message;
  std::int64_t steps_taken = 0;     // in this call (the last step is first_step + steps_taken − 1)
  double initial_loss = 0.0;
  double final_loss = 0.0;        // f at the final x (NaN when diverged)
  double final_grad_norm = 0.0;
  std::int64_t perturbations = 0;
  std::int64_t negative_curvature_steps = 0;
  std::int64_t saddles_detected = 0;
  std::int64_t clipped_steps = 0;
  std::int64_t hvp_count = 0;
  std::int64_t function_evaluations = 0;
};  // rendered by report/training.h (text and JSON)

// Recorders implement the hooks they need (defaults do nothing). They may throw (e.g. io::FileError),
// which ends the run.
class Recorder {
 public:
  virtual ~Recorder() = default;
  virtual void begin(const RunInfo&) {}
  virtual void on_step(const StepRecord&) {}
  virtual void on_trajectory(std::int64_t /*step*/, const Vector& /*x*/) {}
  virtual void on_curvature(std::int64_t /*step*/, const CurvatureProbe&) {}
  virtual void on_event(const Event&) {}
  // A histogram row and the run's fixed edges (the same edges at every call of a run).
  virtual void on_histograms(const LayerHistograms&, const HistogramEdges&) {}
  // Periodic (every checkpoint_every steps, at x after `steps_done` steps of the run, first_step
  // included) and final (final = true).
  virtual void on_checkpoint(std::int64_t /*steps_done*/, const Vector& /*x*/, const Optimizer&, bool /*final*/) {}
  virtual void end(const TrainSummary&, const Vector& /*x*/) {}
};

// Keeps everything in memory (tests).
class MemoryRecorder : public Recorder {
 public:
  void on_step(const StepRecord& r) override { steps.push_back(r); }
  void on_trajectory(std::int64_t step, const Vector& x) override { trajectory.emplace_back(step, x); }
  void on_curvature(std::int64_t step, const CurvatureProbe& p) override { curvature.emplace_back(step, p); }
  void on_event(const Event& e) override { events.push_back(e); }
  void on_histograms(const LayerHistograms& h, const HistogramEdges& e) override {
    histograms.push_back(h);
    histogram_edges = e;
  }
  void end(const TrainSummary& s, const Vector&) override { summary = s; }
  std::vector<StepRecord> steps;
  std::vector<std::pair<std::int64_t, Vector>> trajectory;
  std::vector<std::pair<std::int64_t, CurvatureProbe>> curvature;
  std::vector<Event> events;
  std::vector<LayerHistograms> histograms;
  HistogramEdges histogram_edges;
  TrainSummary summary;
  std::int64_t count(const std::string& kind) const;
};

// Runs the loop from x (updated in place to the final point). Numerical outcomes (divergence,
// interruption) are statuses in the summary; misuse (invalid options, batches without samples)
// throws std::invalid_argument.
TrainSummary train(const objective::Objective& f, Vector& x, Optimizer& optimizer, const TrainerOptions& options,
                   const std::vector<Recorder*>& recorders);

}  // namespace saddlescope::optim
