#include "report/training.h"

#include <cmath>
#include <filesystem>

#include "objective/training_state.h"
#include "text/format.h"

namespace saddlescope::report {

RunLogRecorder::RunLogRecorder(std::string path, io::Provenance provenance, nlohmann::json config,
                               RunLogRecorderOptions options)
    : path_(std::move(path)), provenance_(std::move(provenance)), config_(std::move(config)), options_(options) {}

void RunLogRecorder::begin(const RunInfo& info) {
  io::RunLogLayout layout;
  layout.step_columns = {"loss", "batch_loss", "grad_norm", "lr", "update_norm", "param_norm"};
  layout.step_matrices.push_back({"layer_grad_norm", info.layer_names});
  trajectory_ = info.options->trajectory_every > 0 && info.objective->dim() <= options_.max_trajectory_dim;
  layout.trajectory_dim = trajectory_ ? info.objective->dim() : 0;
  layout.curvature = info.options->curvature_every > 0;
  if (info.options->histograms.every > 0) {
    layout.histograms.blocks = info.layer_names;
    for (std::size_t q = 0; q < optim::kHistogramQuantities; ++q)
      layout.histograms.quantities.push_back(optim::to_string(static_cast<optim::HistogramQuantity>(q)));
    layout.histograms.bins = static_cast<hsize_t>(info.options->histograms.bins);
  }
  log_ = std::make_unique<io::RunLog>(path_, provenance_, config_, layout, options_.log);
  values_.resize(layout.step_columns.size());
  rows_.resize(1);
}

void RunLogRecorder::on_step(const StepRecord& r) {
  values_[0] = r.loss;
  values_[1] = r.batch_loss;
  values_[2] = r.grad_norm;
  values_[3] = r.lr;
  values_[4] = r.update_norm;
  values_[5] = r.param_norm;
  rows_[0] = r.layer_grad_norms;
  log_->append_step(r.step, values_, rows_);
  log_->maybe_flush();
}

void RunLogRecorder::on_trajectory(std::int64_t step, const Vector& x) {
  if (trajectory_) log_->append_trajectory(step, x);
}

void RunLogRecorder::on_curvature(std::int64_t step, const CurvatureProbe& p) {
  log_->append_curvature(step, p.lambda_min, p.lambda_max, p.hvp_count);
}

void RunLogRecorder::on_event(const Event& e) { log_->append_event(e.step, e.kind, e.detail); }

void RunLogRecorder::on_histograms(const optim::LayerHistograms& h, const optim::HistogramEdges& edges) {
  if (!histogram_edges_written_) {  // fixed for the run: written with the first row
    for (std::size_t q = 0; q < optim::kHistogramQuantities; ++q) log_->write_histogram_edges(q, edges.edges[q]);
    histogram_edges_written_ = true;
  }
  histogram_counts_.assign(h.counts.begin(), h.counts.end());
  log_->append_histograms(h.step, histogram_counts_);
}

void RunLogRecorder::end(const TrainSummary& s, const Vector&) {
  log_->set_status(optim::to_string(s.status));
  log_->close();
}

void RunLogRecorder::abort_with_status(const std::string& status) {
  if (log_) {
    log_->set_status(status);
    log_->close();
  }
}

CheckpointRecorder::CheckpointRecorder(std::string final_path, io::Provenance provenance, const io::Checkpoint* source)
    : final_path_(std::move(final_path)), provenance_(std::move(provenance)), source_(source) {
  if (source_ != nullptr) histogram_edges_ = source_->histogram_edges;
}

void CheckpointRecorder::on_histograms(const optim::LayerHistograms&, const optim::HistogramEdges& edges) {
  histogram_edges_ = optim::to_file(edges);  // L·(B + 1)·3 numbers: copying them per row costs nothing
}

void CheckpointRecorder::on_checkpoint(std::int64_t steps_done, const Vector& x, const Optimizer& optimizer,
                                       bool final) {
  io::Checkpoint c;
  c.params = x;
  c.spec = objective_ != nullptr ? objective_->spec() : nlohmann::json::object();
  if (source_ != nullptr) {
    // A data reference stays a reference (the source may hold the referenced set, loaded when read).
    if (source_->data_file.empty()) c.data = source_->data;
    c.data_file = source_->data_file;
    c.data_group = source_->data_group;
    if (!source_->graph.empty()) {  // a graph's spec, ONNX bytes and buffers live beside the objective
      c.spec = source_->spec;
      c.graph = source_->graph;
      c.buffers = source_->buffers;
      // The buffers as training left them (batch norm's running statistics in train mode).
      if (const auto* state = dynamic_cast<const objective::TrainingState*>(objective_); state != nullptr)
        for (auto& [name, values] : state->state()) c.buffers[name] = std::move(values);
    }
  }
  c.optimizer_state = optimizer.state();
  c.optimizer_state->run_step = steps_done;  // where a resumed run continues (optim/trainer.h first_step)
  c.histogram_edges = histogram_edges_;
  std::string path = final_path_;
  if (!final) {
    const std::filesystem::path p(final_path_);
    path = (p.parent_path() / (p.stem().string() + ".step" + std::to_string(steps_done) + p.extension().string())).string();
  }
  io::write_checkpoint(path, c, provenance_);
  written.push_back(path);
}

namespace {

// The run's counts, one list for both renderings: the JSON key, and the text summary's label (nullptr:
// JSON only), where a count shows only when it is not zero.
struct Count {
  const char* key;
  const char* label;
  std::int64_t TrainSummary::*member;
};
constexpr Count kCounts[] = {
    {"perturbations", "perturbations", &TrainSummary::perturbations},
    {"negative_curvature_steps", "neg.-curv. steps", &TrainSummary::negative_curvature_steps},
    {"saddles_detected", "saddles detected", &TrainSummary::saddles_detected},
    {"clipped_steps", "clipped steps", &TrainSummary::clipped_steps},
    {"hvp_count", nullptr, &TrainSummary::hvp_count},
    {"function_evaluations", nullptr, &TrainSummary::function_evaluations},
};

}  // namespace

std::string summary_text(const TrainSummary& summary, const Vector& x, const TrainingSource& source) {
  std::string out = "run-optimizer: " + source.optimizer + " on " + source.objective + " (n = " +
                    std::to_string(x.size()) + ") from " + source.source + "\n";
  auto line = [&](const std::string& key, const std::string& value) {
    out += "  " + key + std::string(key.size() < 20 ? 20 - key.size() : 0, ' ') + value + "\n";
  };
  line("status", optim::to_string(summary.status) + " (" + summary.message + ")");
  line("steps", std::to_string(summary.steps_taken));
  line("loss", text::format_number(summary.initial_loss) + " -> " + text::format_number(summary.final_loss));
  line("final |grad|", text::format_number(summary.final_grad_norm));
  if (x.size() <= 6 && x.allFinite()) {
    std::string p;
    for (Eigen::Index i = 0; i < x.size(); ++i) p += (i ? ", " : "") + text::format_number(x(i), 10);
    line("final point", "(" + p + ")");
  }
  for (const Count& c : kCounts)
    if (c.label != nullptr && summary.*c.member != 0) line(c.label, std::to_string(summary.*c.member));
  if (!source.log.empty()) line("run log", source.log);
  if (!source.checkpoint.empty()) line("checkpoint", source.checkpoint);
  return out;
}

nlohmann::json to_json(const TrainSummary& summary) {
  auto number = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(text::format_number(v)); };
  nlohmann::json out = {{"status", optim::to_string(summary.status)},
                        {"message", summary.message},
                        {"steps_taken", summary.steps_taken},
                        {"initial_loss", number(summary.initial_loss)},
                        {"final_loss", number(summary.final_loss)},
                        {"final_grad_norm", number(summary.final_grad_norm)}};
  for (const Count& c : kCounts) out[c.key] = summary.*c.member;
  return out;
}

}  // namespace saddlescope::report
