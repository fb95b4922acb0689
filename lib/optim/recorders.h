#pragma once
// Recorders of the Trainer (trainer.h) that write somewhere: the HDF5 run log (io/run_log.h) and a
// console progress bar. The library itself never prints: the progress bar writes to the stream the
// tool hands it (stderr, only when it is a terminal).
#include <chrono>
#include <memory>
#include <ostream>
#include <string>

#include "io/checkpoint.h"
#include "io/run_log.h"
#include "optim/trainer.h"

namespace saddlescope::optim {

struct RunLogRecorderOptions {
  io::RunLogOptions log;                // flush cadence
  Index max_trajectory_dim = 100000;    // /trajectory only when n ≤ this ("when n is small")
};

// Writes /config, /steps (step, loss, batch_loss, grad_norm, lr, update_norm, param_norm and
// layer_grad_norm [T, L]), /trajectory, /curvature, /events and the root status. The file is
// created in begin(), so the layout can follow the objective (layers, n).
class RunLogRecorder : public Recorder {
 public:
  RunLogRecorder(std::string path, io::Provenance provenance, nlohmann::json config, RunLogRecorderOptions options = {});
  void begin(const RunInfo& info) override;
  void on_step(const StepRecord& r) override;
  void on_trajectory(std::int64_t step, const Vector& x) override;
  void on_curvature(std::int64_t step, const CurvatureProbe& p) override;
  void on_event(const Event& e) override;
  void end(const TrainSummary& s, const Vector& x) override;
  // Flushes pending rows and sets the status (used by a tool on an exception path).
  void abort_with_status(const std::string& status);

 private:
  std::string path_;
  io::Provenance provenance_;
  nlohmann::json config_;
  RunLogRecorderOptions options_;
  std::unique_ptr<io::RunLog> log_;
  bool trajectory_ = false;
  std::vector<double> values_;
  std::vector<Eigen::VectorXd> rows_;
};

// Writes io checkpoints (params, objective spec, optimizer state) every checkpoint_every steps and
// at the end: "<stem>.step<N>.h5" for periodic ones and `final_path` for the last.
class CheckpointRecorder : public Recorder {
 public:
  CheckpointRecorder(std::string final_path, io::Provenance provenance, const io::Checkpoint* source = nullptr);
  void on_checkpoint(std::int64_t steps_done, const Vector& x, const Optimizer& optimizer, bool final) override;
  void begin(const RunInfo& info) override { objective_ = info.objective; }
  std::vector<std::string> written;

 private:
  std::string final_path_;
  io::Provenance provenance_;
  const io::Checkpoint* source_;
  const objective::Objective* objective_ = nullptr;
};

// A one-line progress bar, shown once the run has taken a second, redrawn at most 10 times a second:
// step, loss, ‖g‖, lr, steps per second.
class ProgressBarRecorder : public Recorder {
 public:
  explicit ProgressBarRecorder(std::ostream& out) : out_(out) {}
  void begin(const RunInfo& info) override;
  void on_step(const StepRecord& r) override;
  void end(const TrainSummary& s, const Vector& x) override;

 private:
  std::ostream& out_;
  std::int64_t total_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false;
};

}  // namespace saddlescope::optim
