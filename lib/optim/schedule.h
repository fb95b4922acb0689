#pragma once
// Learning-rate schedules with torch.optim.lr_scheduler's semantics (torch 1.13), including its
// recursive ("chainable") update formulas, so the learning rates agree with torch's to the last bits:
//
//   constant                                    lr unchanged
//   step:step_size=S,gamma=0.1                  StepLR: lr·γ every S steps
//   exponential:gamma=G                         ExponentialLR: lr·γ every step
//   cosine:T_max=T,eta_min=0                    CosineAnnealingLR (periodic past T_max; it does not clamp)
//   cosine_warm_restarts:T_0=T,T_mult=1,eta_min=0   CosineAnnealingWarmRestarts (SGDR); integer T_mult ≥ 1
//   linear:start_factor=1/3,end_factor=1,total_iters=5   LinearLR
//
// torch's class names (StepLR, ExponentialLR, CosineAnnealingLR, CosineAnnealingWarmRestarts,
// LinearLR) are accepted as aliases. A warm-up followed by a main schedule is torch's
// SequentialLR([warmup, main], milestones=[W]) with W = the warm-up's total_iters (LinearLR) or an
// explicit `milestone`.
//
// Convention (torch): lr() is the rate for the coming optimizer step; step() is called after it.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "optim/fields.h"
#include "text/names.h"

namespace saddlescope::optim {

enum class ScheduleKind { constant, step, exponential, cosine, cosine_warm_restarts, linear };
inline constexpr auto kScheduleNames = text::make_name_table<ScheduleKind>(
    "schedule", {{ScheduleKind::constant, "constant"},
                 {ScheduleKind::step, "step"},
                 {ScheduleKind::exponential, "exponential"},
                 {ScheduleKind::cosine, "cosine"},
                 {ScheduleKind::cosine_warm_restarts, "cosine_warm_restarts"},
                 {ScheduleKind::linear, "linear"}});
inline std::string to_string(ScheduleKind kind) { return std::string(kScheduleNames.name(kind)); }

struct ScheduleConfig {
  ScheduleKind kind = ScheduleKind::constant;
  std::int64_t step_size = 1;      // step (required in torch)
  double gamma = 0.1;              // step (default 0.1); exponential (required)
  std::int64_t T_max = 1;          // cosine (required)
  double eta_min = 0.0;            // cosine, cosine_warm_restarts
  std::int64_t T_0 = 1;            // cosine_warm_restarts (required)
  std::int64_t T_mult = 1;         // cosine_warm_restarts
  double start_factor = 1.0 / 3;   // linear
  double end_factor = 1.0;         // linear
  std::int64_t total_iters = 5;    // linear

  bool IsValid(std::string* why) const;
  nlohmann::json to_json() const;
  // "name" or "name:key=value,..." as in the table above. Throws std::invalid_argument naming the
  // schedule, the key and the rule; a required key missing is an error.
  static ScheduleConfig parse(const std::string& spec);
  static ScheduleConfig from_json(const nlohmann::json& j);
};

// The field table of ScheduleConfig (optim/fields.h): which schedule uses which option, its range and
// whether torch requires it; IsValid, to_json, from_json and parse follow from it.
const FieldTable<ScheduleConfig>& schedule_fields();

// A main schedule, optionally preceded by a warm-up (SequentialLR).
struct SchedulePlan {
  std::optional<ScheduleConfig> warmup;
  std::int64_t milestone = 0;  // step at which the main schedule takes over; 0: warm-up's total_iters
  ScheduleConfig main;
  bool IsValid(std::string* why) const;
  nlohmann::json to_json() const;
  static SchedulePlan from_json(const nlohmann::json& j);
};

class Schedule {
 public:
  Schedule(double base_lr, const SchedulePlan& plan);
  ~Schedule();
  Schedule(Schedule&&) noexcept;
  Schedule& operator=(Schedule&&) noexcept;
  double lr() const;
  void step();
  std::int64_t last_epoch() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace saddlescope::optim
