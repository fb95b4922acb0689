#include "optim/schedule.h"
#include "text/format.h"

#include "objective/spec_options.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <sstream>
#include <stdexcept>

// Compiled with -ffp-contract=off (lib/CMakeLists.txt): the factors follow torch's operation order.

namespace saddlescope::optim {
namespace {

// Python's a % b for b > 0 (non-negative result), as torch's schedulers use it.
std::int64_t py_mod(std::int64_t a, std::int64_t b) { return ((a % b) + b) % b; }

// torch's optimizer param_group as the schedulers see it.
struct ParamGroup {
  double lr = 0.0;
  double initial_lr = 0.0;
};

// One torch _LRScheduler bound to a shared group (torch/optim/lr_scheduler.py).
class Scheduler {
 public:
  Scheduler(ParamGroup* group, ScheduleConfig c) : group_(group), c_(c), base_lr_(group->initial_lr) {}
  virtual ~Scheduler() = default;
  // _initial_step(): _step_count = 0, then step().
  void initial_step() {
    step_count_ = 0;
    step();
  }
  virtual void step() {
    ++step_count_;
    ++last_epoch_;
    group_->lr = get_lr();
  }
  // step(epoch): the closed form at `epoch` (SequentialLR calls step(0) at a milestone).
  virtual void step_epoch(std::int64_t epoch) {
    ++step_count_;
    last_epoch_ = epoch;
    group_->lr = closed_form_lr();
  }
  std::int64_t last_epoch_ = -1;
  std::int64_t step_count_ = 0;

 protected:
  virtual double get_lr() const = 0;
  virtual double closed_form_lr() const = 0;
  ParamGroup* group_;
  ScheduleConfig c_;
  double base_lr_;
};

class ConstantSchedule final : public Scheduler {
 public:
  using Scheduler::Scheduler;
  double get_lr() const override { return group_->lr; }
  double closed_form_lr() const override { return base_lr_; }
};

class StepSchedule final : public Scheduler {
 public:
  using Scheduler::Scheduler;
  double get_lr() const override {
    if (last_epoch_ == 0 || last_epoch_ % c_.step_size != 0) return group_->lr;
    return group_->lr * c_.gamma;
  }
  double closed_form_lr() const override {
    return base_lr_ * std::pow(c_.gamma, static_cast<double>(last_epoch_ / c_.step_size));
  }
};

class ExponentialSchedule final : public Scheduler {
 public:
  using Scheduler::Scheduler;
  double get_lr() const override { return last_epoch_ == 0 ? group_->lr : group_->lr * c_.gamma; }
  double closed_form_lr() const override { return base_lr_ * std::pow(c_.gamma, static_cast<double>(last_epoch_)); }
};

class CosineSchedule final : public Scheduler {
 public:
  using Scheduler::Scheduler;
  double get_lr() const override {
    const double pi = std::numbers::pi;
    const double T = static_cast<double>(c_.T_max);
    const double e = static_cast<double>(last_epoch_);
    if (last_epoch_ == 0) return group_->lr;
    if (step_count_ == 1 && last_epoch_ > 0)
      return c_.eta_min + (base_lr_ - c_.eta_min) * (1 + std::cos(e * pi / T)) / 2;
    if (py_mod(last_epoch_ - 1 - c_.T_max, 2 * c_.T_max) == 0)
      return group_->lr + (base_lr_ - c_.eta_min) * (1 - std::cos(pi / T)) / 2;
    return (1 + std::cos(pi * e / T)) / (1 + std::cos(pi * (e - 1) / T)) * (group_->lr - c_.eta_min) + c_.eta_min;
  }
  double closed_form_lr() const override {
    const double pi = std::numbers::pi;
    return c_.eta_min +
           (base_lr_ - c_.eta_min) * (1 + std::cos(pi * static_cast<double>(last_epoch_) / static_cast<double>(c_.T_max))) /
               2;
  }
};

class LinearSchedule final : public Scheduler {
 public:
  using Scheduler::Scheduler;
  double get_lr() const override {
    if (last_epoch_ == 0) return group_->lr * c_.start_factor;
    if (last_epoch_ > c_.total_iters) return group_->lr;
    return group_->lr *
           (1. + (c_.end_factor - c_.start_factor) /
                     (static_cast<double>(c_.total_iters) * c_.start_factor +
                      static_cast<double>(last_epoch_ - 1) * (c_.end_factor - c_.start_factor)));
  }
  double closed_form_lr() const override {
    return base_lr_ * (c_.start_factor + (c_.end_factor - c_.start_factor) *
                                             static_cast<double>(std::min(c_.total_iters, last_epoch_)) /
                                             static_cast<double>(c_.total_iters));
  }
};

// CosineAnnealingWarmRestarts overrides step() entirely (and does not count _step_count).
class WarmRestartsSchedule final : public Scheduler {
 public:
  WarmRestartsSchedule(ParamGroup* g, ScheduleConfig c) : Scheduler(g, c), T_i_(c.T_0), T_cur_(-1) {}
  void step() override {
    if (last_epoch_ < 0) {
      step_epoch(0);
      return;
    }
    const std::int64_t epoch = last_epoch_ + 1;
    T_cur_ = T_cur_ + 1;
    if (T_cur_ >= T_i_) {
      T_cur_ = T_cur_ - T_i_;
      T_i_ = T_i_ * c_.T_mult;
    }
    last_epoch_ = epoch;
    group_->lr = get_lr();
  }
  void step_epoch(std::int64_t epoch) override {
    if (epoch >= c_.T_0) {
      if (c_.T_mult == 1) {
        T_cur_ = static_cast<double>(epoch % c_.T_0);
      } else {
        const double tm = static_cast<double>(c_.T_mult);
        const auto n = static_cast<std::int64_t>(
            std::log(static_cast<double>(epoch) / static_cast<double>(c_.T_0) * (tm - 1) + 1) / std::log(tm));
        const double power = std::pow(tm, static_cast<double>(n));
        T_cur_ = static_cast<double>(epoch) - static_cast<double>(c_.T_0) * (power - 1) / (tm - 1);
        T_i_ = static_cast<double>(c_.T_0) * power;
      }
    } else {
      T_i_ = static_cast<double>(c_.T_0);
      T_cur_ = static_cast<double>(epoch);
    }
    last_epoch_ = epoch;
    group_->lr = get_lr();
  }
  double get_lr() const override {
    return c_.eta_min + (base_lr_ - c_.eta_min) * (1 + std::cos(std::numbers::pi * T_cur_ / T_i_)) / 2;
  }
  double closed_form_lr() const override { return get_lr(); }

 private:
  double T_i_;
  double T_cur_;
};

std::unique_ptr<Scheduler> make_scheduler(ParamGroup* group, const ScheduleConfig& c) {
  switch (c.kind) {
    case ScheduleKind::constant: return std::make_unique<ConstantSchedule>(group, c);
    case ScheduleKind::step: return std::make_unique<StepSchedule>(group, c);
    case ScheduleKind::exponential: return std::make_unique<ExponentialSchedule>(group, c);
    case ScheduleKind::cosine: return std::make_unique<CosineSchedule>(group, c);
    case ScheduleKind::cosine_warm_restarts: return std::make_unique<WarmRestartsSchedule>(group, c);
    case ScheduleKind::linear: return std::make_unique<LinearSchedule>(group, c);
  }
  throw std::invalid_argument("unknown schedule kind");
}

}  // namespace

namespace {

using S = ScheduleConfig;
using SK = ScheduleKind;

std::function<bool(const S&)> schedules(std::initializer_list<SK> list) { return kind_in(&S::kind, list); }

FieldTable<S> make_schedule_fields() {
  FieldTable<S> t;
  const auto step = schedules({SK::step});
  t.push_back(number_field<S>("step_size", &S::step_size, at_least(1.0), "StepLR: period of the decay (steps)", step));
  t.back().required = step;
  t.push_back(number_field<S>("gamma", &S::gamma, above(0.0), "StepLR, ExponentialLR: multiplicative decay",
                              schedules({SK::step, SK::exponential})));
  t.back().required = schedules({SK::exponential});
  t.push_back(number_field<S>("T_max", &S::T_max, at_least(1.0), "CosineAnnealingLR: half period (steps)",
                              schedules({SK::cosine})));
  t.back().required = schedules({SK::cosine});
  t.push_back(number_field<S>("eta_min", &S::eta_min, at_least(0.0), "cosine schedules: minimum learning rate",
                              schedules({SK::cosine, SK::cosine_warm_restarts})));
  Range positive_integer = at_least(1.0);
  t.push_back(number_field<S>("T_0", &S::T_0, positive_integer, "CosineAnnealingWarmRestarts: first period (steps)",
                              schedules({SK::cosine_warm_restarts})));
  t.back().required = schedules({SK::cosine_warm_restarts});
  t.push_back(number_field<S>("T_mult", &S::T_mult, at_least(1.0),
                              "CosineAnnealingWarmRestarts: period growth factor (integer)",
                              schedules({SK::cosine_warm_restarts})));
  const auto linear = schedules({SK::linear});
  Range start = between(0.0, 1.0);
  start.low_open = true;
  t.push_back(number_field<S>("start_factor", &S::start_factor, start, "LinearLR: factor at step 0", linear));
  t.push_back(number_field<S>("end_factor", &S::end_factor, between(0.0, 1.0), "LinearLR: factor at total_iters",
                              linear));
  t.push_back(number_field<S>("total_iters", &S::total_iters, at_least(1.0), "LinearLR: steps of the ramp", linear));
  return t;
}

}  // namespace

const FieldTable<ScheduleConfig>& schedule_fields() {
  static const FieldTable<ScheduleConfig> table = make_schedule_fields();
  return table;
}

bool ScheduleConfig::IsValid(std::string* why) const {
  return check_fields(schedule_fields(), *this, "schedule " + to_string(kind), why);
}

nlohmann::json ScheduleConfig::to_json() const {
  nlohmann::json j;
  j["schedule"] = to_string(kind);
  fields_to_json(schedule_fields(), *this, j);
  return j;
}

namespace {

// torch's class names as aliases of ours.
ScheduleKind schedule_from_string(std::string name) {
  static const std::vector<std::pair<std::string, std::string>> aliases = {
      {"StepLR", "step"}, {"ExponentialLR", "exponential"}, {"CosineAnnealingLR", "cosine"},
      {"CosineAnnealingWarmRestarts", "cosine_warm_restarts"}, {"LinearLR", "linear"}, {"ConstantLR", "constant"}};
  for (const auto& [a, n] : aliases)
    if (name == a) name = n;
  return kScheduleNames.parse(name);
}

}  // namespace

ScheduleConfig ScheduleConfig::from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("schedule") || !j["schedule"].is_string())
    throw std::invalid_argument("schedule must be a JSON object with a string 'schedule'");
  ScheduleConfig c;
  c.kind = schedule_from_string(j["schedule"].get<std::string>());
  fields_from_json(schedule_fields(), c, j, "schedule", "schedule " + to_string(c.kind), "option");
  std::string why;
  if (!c.IsValid(&why)) throw std::invalid_argument(why);
  return c;
}

ScheduleConfig ScheduleConfig::parse(const std::string& spec) {
  // The one spec parser (objective/spec_options.h) splits the options; the field table types them.
  auto parsed = objective::SpecOptions::split("schedule", spec);
  objective::SpecOptions& options = parsed.second;
  ScheduleConfig c;
  c.kind = schedule_from_string(parsed.first);
  nlohmann::json j = {{"schedule", to_string(c.kind)}};
  for (const auto& f : schedule_fields()) {
    if (!f.used(c)) continue;
    if (const auto text = options.take(f.info.name)) {
      try {
        j[f.info.name] = field_value_from_text(f.info, *text);
      } catch (const std::invalid_argument& e) {
        options.fail(e.what());
      }
    }
  }
  options.finish(used_field_names(schedule_fields(), c));
  return from_json(j);
}

bool SchedulePlan::IsValid(std::string* why) const {
  if (!main.IsValid(why)) return false;
  if (warmup && !warmup->IsValid(why)) return false;
  if (milestone < 0) {
    if (why != nullptr) *why = "schedule: 'milestone' = " + std::to_string(milestone) + " must be >= 0";
    return false;
  }
  return true;
}

nlohmann::json SchedulePlan::to_json() const {
  nlohmann::json j = {{"main", main.to_json()}};
  if (warmup) {
    j["warmup"] = warmup->to_json();
    j["milestone"] = milestone > 0 ? milestone : warmup->total_iters;
  }
  return j;
}

SchedulePlan SchedulePlan::from_json(const nlohmann::json& j) {
  SchedulePlan p;
  if (j.is_object() && j.contains("schedule")) {
    p.main = ScheduleConfig::from_json(j);
    return p;
  }
  if (!j.is_object() || !j.contains("main"))
    throw std::invalid_argument("schedule plan must be a JSON object with 'main' (and optional 'warmup', 'milestone')");
  for (const auto& [k, v] : j.items())
    if (k != "main" && k != "warmup" && k != "milestone")
      throw std::invalid_argument("schedule plan has no key '" + k + "'");
  p.main = ScheduleConfig::from_json(j["main"]);
  if (j.contains("warmup")) p.warmup = ScheduleConfig::from_json(j["warmup"]);
  if (j.contains("milestone")) p.milestone = j["milestone"].get<std::int64_t>();
  std::string why;
  if (!p.IsValid(&why)) throw std::invalid_argument(why);
  return p;
}

struct Schedule::Impl {
  ParamGroup group;
  std::vector<std::unique_ptr<Scheduler>> schedulers;
  bool sequential = false;
  std::int64_t milestone = 0;
  std::int64_t last_epoch = 0;
};

Schedule::Schedule(double base_lr, const SchedulePlan& plan) : impl_(std::make_unique<Impl>()) {
  std::string why;
  if (!plan.IsValid(&why)) throw std::invalid_argument(why);
  Impl& s = *impl_;
  s.group.lr = base_lr;
  s.group.initial_lr = base_lr;
  if (!plan.warmup) {
    s.schedulers.push_back(make_scheduler(&s.group, plan.main));
    s.schedulers[0]->initial_step();
    return;
  }
  // SequentialLR([warmup, main], [milestone]): each scheduler is constructed (taking its initial
  // step on the shared group) before SequentialLR resets the group and re-runs the first one.
  s.sequential = true;
  s.milestone = plan.milestone > 0 ? plan.milestone : plan.warmup->total_iters;
  s.schedulers.push_back(make_scheduler(&s.group, *plan.warmup));
  s.schedulers[0]->initial_step();
  s.schedulers.push_back(make_scheduler(&s.group, plan.main));
  s.schedulers[1]->initial_step();
  s.group.lr = s.group.initial_lr;
  for (auto& scheduler : s.schedulers) scheduler->last_epoch_ -= 1;
  s.schedulers[0]->initial_step();
  s.last_epoch = 0;
}

Schedule::~Schedule() = default;
Schedule::Schedule(Schedule&&) noexcept = default;
Schedule& Schedule::operator=(Schedule&&) noexcept = default;

double Schedule::lr() const { return impl_->group.lr; }

std::int64_t Schedule::last_epoch() const {
  return impl_->sequential ? impl_->last_epoch : impl_->schedulers[0]->last_epoch_;
}

void Schedule::step() {
  Impl& s = *impl_;
  if (!s.sequential) {
    s.schedulers[0]->step();
    return;
  }
  ++s.last_epoch;
  const std::size_t idx = s.last_epoch >= s.milestone ? 1 : 0;  // bisect_right([milestone], epoch)
  if (idx > 0 && s.milestone == s.last_epoch) {
    s.schedulers[idx]->step_epoch(0);
  } else {
    s.schedulers[idx]->step();
  }
}

}  // namespace saddlescope::optim
