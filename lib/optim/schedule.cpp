#include "optim/schedule.h"
#include "text/format.h"

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

std::string fmt(double v) { return text::format_number(v, text::kRoundTrip); }

}  // namespace

bool ScheduleConfig::IsValid(std::string* why) const {
  auto fail = [&](const std::string& field, double v, const std::string& rule) {
    if (why != nullptr) *why = "schedule " + to_string(kind) + ": '" + field + "' = " + fmt(v) + " " + rule;
    return false;
  };
  switch (kind) {
    case ScheduleKind::constant: break;
    case ScheduleKind::step:
      if (step_size < 1) return fail("step_size", static_cast<double>(step_size), "must be >= 1");
      if (!(gamma > 0.0) || !std::isfinite(gamma)) return fail("gamma", gamma, "must be finite and > 0");
      break;
    case ScheduleKind::exponential:
      if (!(gamma > 0.0) || !std::isfinite(gamma)) return fail("gamma", gamma, "must be finite and > 0");
      break;
    case ScheduleKind::cosine:
      if (T_max < 1) return fail("T_max", static_cast<double>(T_max), "must be >= 1");
      if (!(eta_min >= 0.0)) return fail("eta_min", eta_min, "must be >= 0");
      break;
    case ScheduleKind::cosine_warm_restarts:
      if (T_0 < 1) return fail("T_0", static_cast<double>(T_0), "must be a positive integer");
      if (T_mult < 1) return fail("T_mult", static_cast<double>(T_mult), "must be an integer >= 1");
      if (!(eta_min >= 0.0)) return fail("eta_min", eta_min, "must be >= 0");
      break;
    case ScheduleKind::linear:
      if (!(start_factor > 0.0 && start_factor <= 1.0))
        return fail("start_factor", start_factor, "must be in (0, 1]");
      if (!(end_factor >= 0.0 && end_factor <= 1.0)) return fail("end_factor", end_factor, "must be in [0, 1]");
      if (total_iters < 1) return fail("total_iters", static_cast<double>(total_iters), "must be >= 1");
      break;
  }
  return true;
}

nlohmann::json ScheduleConfig::to_json() const {
  nlohmann::json j;
  j["schedule"] = to_string(kind);
  switch (kind) {
    case ScheduleKind::constant: break;
    case ScheduleKind::step: j.update({{"step_size", step_size}, {"gamma", gamma}}); break;
    case ScheduleKind::exponential: j["gamma"] = gamma; break;
    case ScheduleKind::cosine: j.update({{"T_max", T_max}, {"eta_min", eta_min}}); break;
    case ScheduleKind::cosine_warm_restarts: j.update({{"T_0", T_0}, {"T_mult", T_mult}, {"eta_min", eta_min}}); break;
    case ScheduleKind::linear:
      j.update({{"start_factor", start_factor}, {"end_factor", end_factor}, {"total_iters", total_iters}});
      break;
  }
  return j;
}

ScheduleConfig ScheduleConfig::from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("schedule") || !j["schedule"].is_string())
    throw std::invalid_argument("schedule must be a JSON object with a string 'schedule'");
  std::string spec = j["schedule"].get<std::string>();
  bool first = true;
  for (const auto& [k, v] : j.items()) {
    if (k == "schedule") continue;
    spec += (first ? ':' : ',');
    spec += k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
    first = false;
  }
  return parse(spec);
}

ScheduleConfig ScheduleConfig::parse(const std::string& spec) {
  const std::size_t colon = spec.find(':');
  std::string name = spec.substr(0, colon);
  static const std::vector<std::pair<std::string, std::string>> aliases = {
      {"StepLR", "step"}, {"ExponentialLR", "exponential"}, {"CosineAnnealingLR", "cosine"},
      {"CosineAnnealingWarmRestarts", "cosine_warm_restarts"}, {"LinearLR", "linear"}, {"ConstantLR", "constant"}};
  for (const auto& [a, n] : aliases)
    if (name == a) name = n;
  ScheduleConfig c;
  c.kind = kScheduleNames.parse(name);
  std::vector<std::string> given;
  if (colon != std::string::npos) {
    std::stringstream items(spec.substr(colon + 1));
    std::string item;
    while (std::getline(items, item, ',')) {
      const std::size_t eq = item.find('=');
      if (eq == std::string::npos)
        throw std::invalid_argument("schedule " + name + ": '" + item + "' is not key=value");
      const std::string key = item.substr(0, eq), text = item.substr(eq + 1);
      double value = 0;
      try {
        std::size_t used = 0;
        value = std::stod(text, &used);
        if (used != text.size()) throw std::invalid_argument("");
      } catch (const std::exception&) {
        throw std::invalid_argument("schedule " + name + ": '" + key + "' must be a number, got '" + text + "'");
      }
      auto integer = [&]() {
        if (value != std::floor(value) || std::abs(value) > 1e15)
          throw std::invalid_argument("schedule " + name + ": '" + key + "' must be an integer, got '" + text + "'");
        return static_cast<std::int64_t>(value);
      };
      const nlohmann::json allowed = c.to_json();
      if (!allowed.contains(key) || key == "schedule")
        throw std::invalid_argument("schedule " + name + " has no option '" + key + "'");
      if (key == "step_size") c.step_size = integer();
      else if (key == "gamma") c.gamma = value;
      else if (key == "T_max") c.T_max = integer();
      else if (key == "eta_min") c.eta_min = value;
      else if (key == "T_0") c.T_0 = integer();
      else if (key == "T_mult") c.T_mult = integer();
      else if (key == "start_factor") c.start_factor = value;
      else if (key == "end_factor") c.end_factor = value;
      else if (key == "total_iters") c.total_iters = integer();
      given.push_back(key);
    }
  }
  auto require = [&](const std::string& key) {
    if (std::find(given.begin(), given.end(), key) == given.end())
      throw std::invalid_argument("schedule " + name + " needs '" + key + "' (torch has no default)");
  };
  if (c.kind == ScheduleKind::step) require("step_size");
  if (c.kind == ScheduleKind::exponential) require("gamma");
  if (c.kind == ScheduleKind::cosine) require("T_max");
  if (c.kind == ScheduleKind::cosine_warm_restarts) require("T_0");
  std::string why;
  if (!c.IsValid(&why)) throw std::invalid_argument(why);
  return c;
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
