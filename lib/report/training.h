#pragma once
// The renderings of a training run (optim/trainer.h): the Trainer's recorders that write files — the
// HDF5 run log (io/run_log.h) and checkpoints — and the text summary. (The console progress line is
// cli/progress.h: the library never prints.)
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "io/run_log.h"
#include "optim/trainer.h"

namespace saddlescope::report {

using optim::CurvatureProbe;
using optim::Event;
using optim::Index;
using optim::Optimizer;
using optim::Recorder;
using optim::RunInfo;
using optim::StepRecord;
using optim::TrainSummary;
using optim::Vector;

struct RunLogRecorderOptions {
  io::RunLogOptions log;                // flush cadence
  Index max_trajectory_dim = 100000;    // /trajectory only when n ≤ this ("when n is small")
};

// Writes /config, /steps (step, loss, batch_loss, grad_norm, lr, update_norm, param_norm and
// layer_grad_norm [T, L]), /trajectory, /curvature, /histograms (when the trainer takes them), /events
// and the root status. The file is created in begin(), so the layout can follow the objective (layers, n).
class RunLogRecorder : public Recorder {
 public:
  RunLogRecorder(std::string path, io::Provenance provenance, nlohmann::json config, RunLogRecorderOptions options = {});
  void begin(const RunInfo& info) override;
  void on_step(const StepRecord& r) override;
  void on_trajectory(std::int64_t step, const Vector& x) override;
  void on_curvature(std::int64_t step, const CurvatureProbe& p) override;
  void on_event(const Event& e) override;
  void on_histograms(const optim::LayerHistograms& h, const optim::HistogramEdges& edges) override;
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
  bool histogram_edges_written_ = false;
  std::vector<io::HistogramCountRows> histogram_counts_;
};

// Writes io checkpoints (params, objective spec, optimizer state) every checkpoint_every steps and
// at the end: "<stem>.step<N>.h5" for periodic ones and `final_path` for the last. The run's histogram
// edges (or, without histograms, the source checkpoint's) go along, so a resumed run keeps them.
class CheckpointRecorder : public Recorder {
 public:
  CheckpointRecorder(std::string final_path, io::Provenance provenance, const io::Checkpoint* source = nullptr);
  void on_checkpoint(std::int64_t steps_done, const Vector& x, const Optimizer& optimizer, bool final) override;
  void begin(const RunInfo& info) override { objective_ = info.objective; }
  void on_histograms(const optim::LayerHistograms&, const optim::HistogramEdges& edges) override;
  std::vector<std::string> written;

 private:
  std::string final_path_;
  io::Provenance provenance_;
  const io::Checkpoint* source_;
  const objective::Objective* objective_ = nullptr;
  std::optional<io::HistogramEdgeSet> histogram_edges_;
};

// What run-optimizer prints after a run: the aligned summary (status, steps, loss, final gradient
// norm, the final point when n ≤ 6, escape counts, the files written). `x` is the final point.
struct TrainingSource {
  std::string optimizer;    // its name (kOptimizerNames)
  std::string objective;    // description()
  std::string source;       // "checkpoint <path>" or "problem <spec>"
  std::string log;          // run-log path, empty when none
  std::string checkpoint;   // last checkpoint written, empty when none
};
std::string summary_text(const optim::TrainSummary& summary, const Vector& x, const TrainingSource& source);

// The summary as run-optimizer's JSON: every field by its name, the status by its name, and a non-finite
// loss or gradient norm as its text ("nan", "inf"), since JSON has no such numbers.
nlohmann::json to_json(const optim::TrainSummary& summary);

}  // namespace saddlescope::report
