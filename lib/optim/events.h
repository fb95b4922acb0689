#pragma once
// The events of a run (the strings stored in a run log's /events/kind), shared by the trainer loop
// (trainer.h) and the escape policies (escape_policy.h) that raise some of them.
#include <cstdint>
#include <string>

namespace saddlescope::optim {

namespace event {
inline constexpr const char* kPerturbation = "perturbation";
inline constexpr const char* kPerturbationNoDecrease = "perturbation_no_decrease";
inline constexpr const char* kNegativeCurvatureStep = "negative_curvature_step";
inline constexpr const char* kSaddleDetected = "saddle_detected";
inline constexpr const char* kClipping = "clipping";
inline constexpr const char* kDiverged = "diverged";
inline constexpr const char* kConverged = "converged";
inline constexpr const char* kInterrupted = "interrupted";
inline constexpr const char* kOptimizerNote = "optimizer_note";
}  // namespace event

struct Event {
  std::int64_t step = 0;
  std::string kind;
  std::string detail;
};

}  // namespace saddlescope::optim
