#include "optim/recorders.h"

#include <cstdio>
#include <filesystem>

namespace saddlescope::optim {

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

void RunLogRecorder::end(const TrainSummary& s, const Vector&) {
  log_->set_status(to_string(s.status));
  log_->close();
}

void RunLogRecorder::abort_with_status(const std::string& status) {
  if (log_) {
    log_->set_status(status);
    log_->close();
  }
}

CheckpointRecorder::CheckpointRecorder(std::string final_path, io::Provenance provenance, const io::Checkpoint* source)
    : final_path_(std::move(final_path)), provenance_(std::move(provenance)), source_(source) {}

void CheckpointRecorder::on_checkpoint(std::int64_t steps_done, const Vector& x, const Optimizer& optimizer,
                                       bool final) {
  io::Checkpoint c;
  c.params = x;
  c.spec = objective_ != nullptr ? objective_->spec() : nlohmann::json::object();
  if (source_ != nullptr) {
    c.data = source_->data;
    c.data_file = source_->data_file;
    c.data_group = source_->data_group;
    if (!source_->graph.empty()) {  // a graph's spec, ONNX bytes and buffers live beside the objective
      c.spec = source_->spec;
      c.graph = source_->graph;
      c.buffers = source_->buffers;
    }
  }
  c.optimizer_state = optimizer.state();
  std::string path = final_path_;
  if (!final) {
    const std::filesystem::path p(final_path_);
    path = (p.parent_path() / (p.stem().string() + ".step" + std::to_string(steps_done) + p.extension().string())).string();
  }
  io::write_checkpoint(path, c, provenance_);
  written.push_back(path);
}

void ProgressBarRecorder::begin(const RunInfo& info) {
  total_ = info.options->steps;
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

void ProgressBarRecorder::on_step(const StepRecord& r) {
  const auto now = std::chrono::steady_clock::now();
  // Only for work that takes more than a second (DESIGN.md), then at most 10 redraws a second.
  if (now - start_ < std::chrono::seconds(1)) return;
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100) && r.step + 1 != total_) return;
  last_draw_ = now;
  drawn_ = true;
  const double fraction = total_ > 0 ? static_cast<double>(r.step + 1) / static_cast<double>(total_) : 1.0;
  const int width = 28;
  const int filled = static_cast<int>(fraction * width);
  const double seconds = std::chrono::duration<double>(now - start_).count();
  char line[256];
  std::snprintf(line, sizeof line, "\r[%-*s] %lld/%lld  loss %.6g  |g| %.3g  lr %.3g  %.0f steps/s ", width,
                std::string(static_cast<std::size_t>(filled), '#').c_str(), static_cast<long long>(r.step + 1),
                static_cast<long long>(total_), r.loss, r.grad_norm, r.lr,
                seconds > 0 ? static_cast<double>(r.step + 1) / seconds : 0.0);
  out_ << line << std::flush;
}

void ProgressBarRecorder::end(const TrainSummary&, const Vector&) {
  if (drawn_) out_ << "\n" << std::flush;
}

}  // namespace saddlescope::optim
