#include "cli/progress.h"

#include <unistd.h>

#include <algorithm>
#include <iostream>

#include "text/format.h"

namespace saddlescope::cli {

ProgressLine::ProgressLine(std::string tool, bool quiet)
    : tool_(std::move(tool)),
      out_(!quiet && isatty(STDERR_FILENO) != 0 ? &std::cerr : nullptr),
      start_(std::chrono::steady_clock::now()) {}

ProgressLine::ProgressLine(std::string tool, std::ostream& out, std::chrono::milliseconds delay)
    : tool_(std::move(tool)), out_(&out), delay_(delay), start_(std::chrono::steady_clock::now()) {}

void ProgressLine::update(std::string_view stage, std::int64_t done, std::int64_t total, const std::string& detail) {
  if (out_ == nullptr) return;
  const std::lock_guard<std::mutex> lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (now - start_ < delay_) return;
  // At most 10 redraws a second, but always the last unit of a stage.
  if (drawn_width_ > 0 && now - last_draw_ < std::chrono::milliseconds(100) && done != total) return;
  last_draw_ = now;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  std::string line = tool_ + ": " + std::string(stage) + " " + std::to_string(done) + "/" + std::to_string(total);
  if (total > 0) line += " (" + std::to_string(100 * done / total) + "%)";
  if (!detail.empty()) line += "  " + detail;
  line += "  " + std::to_string(static_cast<long long>(seconds)) + " s";
  // Pad over a longer previous line instead of clearing first (no flicker).
  const std::size_t width = line.size();
  if (width < drawn_width_) line += std::string(drawn_width_ - width, ' ');
  drawn_width_ = std::max(drawn_width_, width);
  *out_ << '\r' << line << std::flush;
}

std::function<void(std::string_view, std::int64_t, std::int64_t)> ProgressLine::callback() {
  return [this](std::string_view stage, std::int64_t done, std::int64_t total) { update(stage, done, total); };
}

void ProgressLine::finish() {
  if (out_ == nullptr) return;
  const std::lock_guard<std::mutex> lock(mutex_);
  if (drawn_width_ > 0) *out_ << '\r' << std::string(drawn_width_, ' ') << '\r' << std::flush;
  drawn_width_ = 0;
}

void TrainingProgress::begin(const optim::RunInfo& info) {
  total_ = info.options->steps;
  first_step_ = info.options->first_step;  // a resumed run counts its own steps
  start_ = std::chrono::steady_clock::now();
}

void TrainingProgress::on_step(const optim::StepRecord& r) {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const std::int64_t done = r.step - first_step_ + 1;
  const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0.0;
  line_.update("steps", done, total_,
               "loss " + text::format_number(r.loss) + "  |g| " + text::format_number(r.grad_norm, 3) + "  lr " +
                   text::format_number(r.lr, 3) + "  " + text::format_number(rate, 3) + " steps/s");
}

void TrainingProgress::end(const optim::TrainSummary&, const optim::Vector&) { line_.finish(); }

}  // namespace saddlescope::cli
