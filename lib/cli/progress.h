#pragma once
// The one progress display of the tools (DESIGN.md: "a progress bar on stderr when stderr is a
// terminal and the work takes more than a second"). The library never prints: its computations report
// progress through callbacks — (stage, done, total) hooks, or the Trainer's Recorder events — and a
// tool hands them one of these, which draws a single line on stderr, redrawn in place:
//   "<tool>: <stage> <done>/<total> (<pct>%)  <detail>  <seconds> s"
// Nothing is drawn when stderr is not a terminal, with --json, or before the work has run for a second;
// the line is redrawn at most 10 times a second and erased when the work ends.
#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <mutex>
#include <string>
#include <string_view>

#include "optim/trainer.h"

namespace saddlescope::cli {

class ProgressLine {
 public:
  // Draws on std::cerr when `quiet` is false and stderr is a terminal.
  explicit ProgressLine(std::string tool, bool quiet = false);
  // Draws on `out` whenever the work has run for `delay` (for tests: no terminal check).
  ProgressLine(std::string tool, std::ostream& out, std::chrono::milliseconds delay);
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;
  ~ProgressLine() { finish(); }

  // Safe to call from several threads (calls are serialised).
  void update(std::string_view stage, std::int64_t done, std::int64_t total, const std::string& detail = "");
  // The (stage, done, total) hook the library's options take; it refers to this object.
  std::function<void(std::string_view, std::int64_t, std::int64_t)> callback();
  // Erases the line (if one was drawn). Called by the destructor too.
  void finish();

 private:
  std::string tool_;
  std::ostream* out_ = nullptr;  // null: disabled
  std::chrono::milliseconds delay_{1000};
  std::chrono::steady_clock::time_point start_, last_draw_;
  std::size_t drawn_width_ = 0;
  std::mutex mutex_;
};

// The Trainer's events on a ProgressLine: "steps <t>/<T> (<pct>%)  loss …  |g| …  lr …  <rate> steps/s".
class TrainingProgress : public optim::Recorder {
 public:
  explicit TrainingProgress(ProgressLine& line) : line_(line) {}
  void begin(const optim::RunInfo& info) override;
  void on_step(const optim::StepRecord& r) override;
  void end(const optim::TrainSummary& s, const optim::Vector& x) override;

 private:
  ProgressLine& line_;
  std::int64_t total_ = 0;
  std::int64_t first_step_ = 0;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace saddlescope::cli
