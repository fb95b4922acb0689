#include "optim/optimizer.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <type_traits>

#include "optim/second_order.h"
#include "text/format.h"

// torch.optim's CPU kernels evaluate `a + alpha*b`, `a + v*t1*t2` and `a + v*t1/t2` as separate
// roundings on the scalar path; we do the same, and this file is compiled with -ffp-contract=off
// (lib/CMakeLists.txt) so that no compiler fuses them into FMAs and the last bits follow torch
// (REFERENCES.md: parity needs the same operation order).

namespace saddlescope::optim {
namespace {

// √v, correctly rounded like std::sqrt, written so the compiler sees the argument is never
// negative and drops the errno branch that keeps std::sqrt loops from vectorising. Negative inputs
// become NaN first (what std::sqrt returns for them); NaN passes through.
inline double root(double v) {
  const double safe = v >= 0.0 ? v : std::numeric_limits<double>::quiet_NaN();
  if (safe < 0.0) __builtin_unreachable();  // never true: NaN < 0 is false
  return __builtin_sqrt(safe);
}

std::string fmt(double v) { return text::format_number(v, text::kRoundTrip); }

// ---- torch-named first-order optimizers ---------------------------------------------------------
// Each loop below transcribes torch/optim/<name>.py `_single_tensor_<name>` (torch 1.13) element by
// element; comments give torch's line where the order of operations matters.

// Gradient as torch sees it: maximize negates, weight_decay adds wd·p (`grad.add(param, alpha=wd)`).
inline double effective_gradient(double g, double p, const OptimizerConfig& c) {
  double d = c.maximize ? -g : g;
  if (c.weight_decay != 0.0) d = d + c.weight_decay * p;
  return d;
}

class Sgd final : public Optimizer {
 public:
  explicit Sgd(OptimizerConfig c) : Optimizer(std::move(c)) {}
  StepReport step(Vector& x, const StepInput& in) override {
    const Vector& g = *in.gradient;
    const OptimizerConfig& c = config_;
    const Index n = x.size();
    const bool first = buffer_.size() == 0;
    if (c.momentum != 0.0 && first) buffer_.resize(n);
    const double one_minus_dampening = 1.0 - c.dampening;
    const double neg_lr = -in.lr;
    if (!first && c.momentum != 0.0 && !c.nesterov && !c.maximize && c.weight_decay == 0.0) {
      // The common heavy-ball case, branch-free so that it vectorises (same operations as below).
      double* __restrict xp = x.data();
      double* __restrict bp = buffer_.data();
      const double* __restrict gp = g.data();
      const double mu = c.momentum;
      for (Index i = 0; i < n; ++i) {
        bp[i] = bp[i] * mu + one_minus_dampening * gp[i];
        xp[i] = xp[i] + neg_lr * bp[i];
      }
      ++steps_;
      return {};
    }
    for (Index i = 0; i < n; ++i) {
      double d = effective_gradient(g(i), x(i), c);
      if (c.momentum != 0.0) {
        // torch: the buffer starts as a clone of the first (decayed) gradient, no dampening.
        if (first) {
          buffer_(i) = d;
        } else {
          buffer_(i) = buffer_(i) * c.momentum + one_minus_dampening * d;
        }
        d = c.nesterov ? d + c.momentum * buffer_(i) : buffer_(i);
      }
      x(i) = x(i) + neg_lr * d;
    }
    ++steps_;
    return {};
  }

 protected:
  void save_buffers(std::map<std::string, Vector>& b) const override {
    if (buffer_.size() > 0) b["momentum_buffer"] = buffer_;
  }
  void load_buffers(const std::map<std::string, Vector>& b) override {
    auto it = b.find("momentum_buffer");
    buffer_ = it != b.end() ? it->second : Vector();
  }

 private:
  Vector buffer_;
};

// gd: x ← x − lr·∇f, nothing else (no weight decay, no momentum): the textbook method.
class GradientDescent final : public Optimizer {
 public:
  explicit GradientDescent(OptimizerConfig c) : Optimizer(std::move(c)) {}
  StepReport step(Vector& x, const StepInput& in) override {
    x -= in.lr * *in.gradient;
    ++steps_;
    return {};
  }

 protected:
  void save_buffers(std::map<std::string, Vector>&) const override {}
  void load_buffers(const std::map<std::string, Vector>&) override {}
};

class Adagrad final : public Optimizer {
 public:
  explicit Adagrad(OptimizerConfig c) : Optimizer(std::move(c)) {}
  StepReport step(Vector& x, const StepInput& in) override {
    const Vector& g = *in.gradient;
    const OptimizerConfig& c = config_;
    if (sum_.size() == 0) sum_ = Vector::Constant(x.size(), c.initial_accumulator_value);
    ++steps_;
    const double step = static_cast<double>(steps_);
    const double clr = in.lr / (1.0 + (step - 1.0) * c.lr_decay);
    for (Index i = 0; i < x.size(); ++i) {
      const double d = effective_gradient(g(i), x(i), c);
      sum_(i) = sum_(i) + 1.0 * d * d;          // state_sum.addcmul_(grad, grad, value=1)
      const double std_dev = root(sum_(i)) + c.eps;
      x(i) = x(i) + (-clr) * d / std_dev;       // param.addcdiv_(grad, std, value=-clr)
    }
    return {};
  }

 protected:
  void save_buffers(std::map<std::string, Vector>& b) const override {
    if (sum_.size() > 0) b["sum"] = sum_;
  }
  void load_buffers(const std::map<std::string, Vector>& b) override {
    auto it = b.find("sum");
    sum_ = it != b.end() ? it->second : Vector();
  }

 private:
  Vector sum_;
};

class RmsProp final : public Optimizer {
 public:
  explicit RmsProp(OptimizerConfig c) : Optimizer(std::move(c)) {}
  StepReport step(Vector& x, const StepInput& in) override {
    const Vector& g = *in.gradient;
    const OptimizerConfig& c = config_;
    const Index n = x.size();
    if (square_avg_.size() == 0) {
      square_avg_.setZero(n);
      if (c.momentum > 0.0) momentum_buffer_.setZero(n);
      if (c.centered) grad_avg_.setZero(n);
    }
    const double one_minus_alpha = 1.0 - c.alpha;
    for (Index i = 0; i < n; ++i) {
      const double d = effective_gradient(g(i), x(i), c);
      square_avg_(i) = square_avg_(i) * c.alpha + one_minus_alpha * d * d;
      double avg;
      if (c.centered) {
        grad_avg_(i) = grad_avg_(i) * c.alpha + one_minus_alpha * d;
        avg = root(square_avg_(i) + (-1.0) * grad_avg_(i) * grad_avg_(i));
      } else {
        avg = root(square_avg_(i));
      }
      avg = avg + c.eps;
      if (c.momentum > 0.0) {
        momentum_buffer_(i) = momentum_buffer_(i) * c.momentum + 1.0 * d / avg;
        x(i) = x(i) + (-in.lr) * momentum_buffer_(i);
      } else {
        x(i) = x(i) + (-in.lr) * d / avg;
      }
    }
    ++steps_;
    return {};
  }

 protected:
  void save_buffers(std::map<std::string, Vector>& b) const override {
    if (square_avg_.size() > 0) b["square_avg"] = square_avg_;
    if (momentum_buffer_.size() > 0) b["momentum_buffer"] = momentum_buffer_;
    if (grad_avg_.size() > 0) b["grad_avg"] = grad_avg_;
  }
  void load_buffers(const std::map<std::string, Vector>& b) override {
    auto get = [&](const char* k) { auto it = b.find(k); return it != b.end() ? it->second : Vector(); };
    square_avg_ = get("square_avg");
    momentum_buffer_ = get("momentum_buffer");
    grad_avg_ = get("grad_avg");
  }

 private:
  Vector square_avg_, momentum_buffer_, grad_avg_;
};

class Adadelta final : public Optimizer {
 public:
  explicit Adadelta(OptimizerConfig c) : Optimizer(std::move(c)) {}
  StepReport step(Vector& x, const StepInput& in) override {
    const Vector& g = *in.gradient;
    const OptimizerConfig& c = config_;
    const Index n = x.size();
    if (square_avg_.size() == 0) {
      square_avg_.setZero(n);
      acc_delta_.setZero(n);
    }
    const double one_minus_rho = 1.0 - c.rho;
    for (Index i = 0; i < n; ++i) {
      const double d = effective_gradient(g(i), x(i), c);
      square_avg_(i) = square_avg_(i) * c.rho + one_minus_rho * d * d;
      const double std_dev = root(square_avg_(i) + c.eps);
      const double delta = root(acc_delta_(i) + c.eps) / std_dev * d;
      acc_delta_(i) = acc_delta_(i) * c.rho + one_minus_rho * delta * delta;
      x(i) = x(i) + (-in.lr) * delta;
    }
    ++steps_;
    return {};
  }

 protected:
  void save_buffers(std::map<std::string, Vector>& b) const override {
    if (square_avg_.size() > 0) {
      b["square_avg"] = square_avg_;
      b["acc_delta"] = acc_delta_;
    }
  }
  void load_buffers(const std::map<std::string, Vector>& b) override {
    auto get = [&](const char* k) { auto it = b.find(k); return it != b.end() ? it->second : Vector(); };
    square_avg_ = get("square_avg");
    acc_delta_ = get("acc_delta");
  }

 private:
  Vector square_avg_, acc_delta_;
};

struct AdamConstants {
  double beta1, beta2, one_minus_beta1, one_minus_beta2, bias_correction2_sqrt, neg_step_size, eps, weight_decay, decay;
};

// Blocks of 256: the moment updates and the final update vectorise as plain loops; the square roots
// go through Eigen's packet sqrt (hardware vsqrtpd, correctly rounded like std::sqrt), because
// std::sqrt's errno branch keeps GCC from vectorising a loop that calls it.
template <bool Decoupled, bool Amsgrad, bool WeightDecay, bool Maximize>
void adam_loop(Index n, double* __restrict x, const double* __restrict g, double* __restrict m, double* __restrict v,
               double* __restrict vmax, const AdamConstants& k) {
  constexpr Index kBlock = 256;
  alignas(64) double root_second[kBlock];
  for (Index start = 0; start < n; start += kBlock) {
    const Index len = std::min(kBlock, n - start);
    double* __restrict xb = x + start;
    const double* __restrict gb = g + start;
    double* __restrict mb = m + start;
    double* __restrict vb = v + start;
    for (Index i = 0; i < len; ++i) {
      double d = Maximize ? -gb[i] : gb[i];
      if constexpr (Decoupled) xb[i] = xb[i] * k.decay;
      if constexpr (WeightDecay) d = d + k.weight_decay * xb[i];
      mb[i] = mb[i] * k.beta1 + k.one_minus_beta1 * d;
      vb[i] = vb[i] * k.beta2 + k.one_minus_beta2 * d * d;
      if constexpr (Amsgrad) {
        // torch keeps the running max of the raw (uncorrected) second moment.
        vmax[start + i] = std::max(vmax[start + i], vb[i]);
        root_second[i] = vmax[start + i];
      } else {
        root_second[i] = vb[i];
      }
    }
    Eigen::Map<Eigen::ArrayXd> roots(root_second, len);
    roots = roots.sqrt();
    for (Index i = 0; i < len; ++i) {
      const double denom = root_second[i] / k.bias_correction2_sqrt + k.eps;
      xb[i] = xb[i] + k.neg_step_size * mb[i] / denom;
    }
  }
}

// adam and adamw (decoupled = true): torch/optim/adam.py and adamw.py, non-capturable branch.
class Adam final : public Optimizer {
 public:
  Adam(OptimizerConfig c, bool decoupled) : Optimizer(std::move(c)), decoupled_(decoupled) {}
  StepReport step(Vector& x, const StepInput& in) override {
    const Vector& g = *in.gradient;
    const OptimizerConfig& c = config_;
    const Index n = x.size();
    if (exp_avg_.size() == 0) {
      exp_avg_.setZero(n);
      exp_avg_sq_.setZero(n);
      if (c.amsgrad) max_exp_avg_sq_.setZero(n);
    }
    ++steps_;
    const double step = static_cast<double>(steps_);
    const double bias_correction1 = 1.0 - std::pow(c.beta1, step);
    const double bias_correction2 = 1.0 - std::pow(c.beta2, step);
    const double step_size = in.lr / bias_correction1;
    const double bias_correction2_sqrt = root(bias_correction2);
    const double one_minus_beta1 = 1.0 - c.beta1;
    const double one_minus_beta2 = 1.0 - c.beta2;
    const double decay = 1.0 - in.lr * c.weight_decay;  // adamw: param.mul_(1 - lr*weight_decay)
    const AdamConstants k{c.beta1, c.beta2, one_minus_beta1, one_minus_beta2, bias_correction2_sqrt, -step_size,
                          c.eps, c.weight_decay, decay};
    // Branch-free loops per flag combination, so that each vectorises.
    const bool wd = !decoupled_ && c.weight_decay != 0.0;
    double* m2 = c.amsgrad ? max_exp_avg_sq_.data() : nullptr;
    auto run = [&](auto decoupled, auto amsgrad, auto weight_decay, auto maximize) {
      adam_loop<decltype(decoupled)::value, decltype(amsgrad)::value, decltype(weight_decay)::value,
                decltype(maximize)::value>(n, x.data(), g.data(), exp_avg_.data(), exp_avg_sq_.data(), m2, k);
    };
    using T = std::true_type;
    using F = std::false_type;
    if (decoupled_) {
      if (c.amsgrad) c.maximize ? run(T{}, T{}, F{}, T{}) : run(T{}, T{}, F{}, F{});
      else c.maximize ? run(T{}, F{}, F{}, T{}) : run(T{}, F{}, F{}, F{});
    } else if (wd) {
      if (c.amsgrad) c.maximize ? run(F{}, T{}, T{}, T{}) : run(F{}, T{}, T{}, F{});
      else c.maximize ? run(F{}, F{}, T{}, T{}) : run(F{}, F{}, T{}, F{});
    } else {
      if (c.amsgrad) c.maximize ? run(F{}, T{}, F{}, T{}) : run(F{}, T{}, F{}, F{});
      else c.maximize ? run(F{}, F{}, F{}, T{}) : run(F{}, F{}, F{}, F{});
    }
    return {};
  }

 protected:
  void save_buffers(std::map<std::string, Vector>& b) const override {
    if (exp_avg_.size() > 0) {
      b["exp_avg"] = exp_avg_;
      b["exp_avg_sq"] = exp_avg_sq_;
    }
    if (max_exp_avg_sq_.size() > 0) b["max_exp_avg_sq"] = max_exp_avg_sq_;
  }
  void load_buffers(const std::map<std::string, Vector>& b) override {
    auto get = [&](const char* k) { auto it = b.find(k); return it != b.end() ? it->second : Vector(); };
    exp_avg_ = get("exp_avg");
    exp_avg_sq_ = get("exp_avg_sq");
    max_exp_avg_sq_ = get("max_exp_avg_sq");
  }

 private:
  bool decoupled_;
  Vector exp_avg_, exp_avg_sq_, max_exp_avg_sq_;
};

}  // namespace

OptimizerConfig OptimizerConfig::defaults(OptimizerKind kind) {
  OptimizerConfig c;
  c.kind = kind;
  switch (kind) {
    case OptimizerKind::gd:
    case OptimizerKind::sgd:
      c.lr = 1e-3;
      break;
    case OptimizerKind::adagrad:
      c.lr = 1e-2;
      c.eps = 1e-10;
      break;
    case OptimizerKind::rmsprop:
      c.lr = 1e-2;
      c.eps = 1e-8;
      break;
    case OptimizerKind::adadelta:
      c.lr = 1.0;
      c.eps = 1e-6;
      break;
    case OptimizerKind::adam:
      c.lr = 1e-3;
      c.eps = 1e-8;
      break;
    case OptimizerKind::adamw:
      c.lr = 1e-3;
      c.eps = 1e-8;
      c.weight_decay = 1e-2;
      break;
    case OptimizerKind::newton:
    case OptimizerKind::saddle_free_newton:
    case OptimizerKind::lbfgs:
      c.lr = 1.0;
      break;
  }
  return c;
}

bool OptimizerConfig::IsValid(std::string* why) const {
  auto fail = [&](const std::string& field, double value, const std::string& rule) {
    if (why != nullptr) *why = "optimizer " + to_string(kind) + ": '" + field + "' = " + fmt(value) + " " + rule;
    return false;
  };
  // Stricter than torch (which accepts lr = 0): a run that cannot move is a typo, not a request.
  if (!(lr > 0.0) || !std::isfinite(lr)) return fail("lr", lr, "must be finite and > 0");
  if (!(momentum >= 0.0) || !std::isfinite(momentum)) return fail("momentum", momentum, "must be finite and >= 0");
  if (!(weight_decay >= 0.0)) return fail("weight_decay", weight_decay, "must be >= 0");
  if (!(eps >= 0.0)) return fail("eps", eps, "must be >= 0");
  if (kind == OptimizerKind::sgd && nesterov && (momentum <= 0.0 || dampening != 0.0))
    return fail("nesterov", 1, "requires momentum > 0 and dampening = 0 (torch)");
  if (kind == OptimizerKind::adagrad) {
    if (!(lr_decay >= 0.0)) return fail("lr_decay", lr_decay, "must be >= 0");
    if (!(initial_accumulator_value >= 0.0))
      return fail("initial_accumulator_value", initial_accumulator_value, "must be >= 0");
  }
  if (kind == OptimizerKind::rmsprop && !(alpha >= 0.0)) return fail("alpha", alpha, "must be >= 0");
  if (kind == OptimizerKind::adadelta && !(rho >= 0.0 && rho <= 1.0)) return fail("rho", rho, "must be in [0, 1]");
  if (kind == OptimizerKind::adam || kind == OptimizerKind::adamw) {
    if (!(beta1 >= 0.0 && beta1 < 1.0)) return fail("betas[0]", beta1, "must be in [0, 1)");
    if (!(beta2 >= 0.0 && beta2 < 1.0)) return fail("betas[1]", beta2, "must be in [0, 1)");
  }
  if (!(damping >= 0.0)) return fail("damping", damping, "must be >= 0");
  if (kind == OptimizerKind::saddle_free_newton && subspace == SubspaceMethod::krylov && krylov_dim < 1)
    return fail("krylov_dim", static_cast<double>(krylov_dim), "must be >= 1");
  if (kind == OptimizerKind::saddle_free_newton && subspace == SubspaceMethod::krylov) {
    if (krylov_inner_steps < 1 || krylov_inner_steps > 1000)
      return fail("krylov_inner_steps", static_cast<double>(krylov_inner_steps), "must be in [1, 1000]");
    if (krylov_damping_grid < 1 || krylov_damping_grid > 30)
      return fail("krylov_damping_grid", static_cast<double>(krylov_damping_grid), "must be in [1, 30]");
  }
  if (kind == OptimizerKind::lbfgs) {
    if (max_iter < 1) return fail("max_iter", static_cast<double>(max_iter), "must be >= 1");
    if (max_eval < 0) return fail("max_eval", static_cast<double>(max_eval), "must be >= 0 (0: max_iter*5/4)");
    if (history_size < 1) return fail("history_size", static_cast<double>(history_size), "must be >= 1");
    if (line_search_fn != "strong_wolfe" && !line_search_fn.empty()) {
      if (why != nullptr) *why = "optimizer lbfgs: 'line_search_fn' = '" + line_search_fn + "' must be strong_wolfe or empty";
      return false;
    }
  }
  return true;
}

nlohmann::json OptimizerConfig::to_json() const {
  nlohmann::json j;
  j["optimizer"] = to_string(kind);
  j["lr"] = lr;
  switch (kind) {
    case OptimizerKind::gd:
      break;
    case OptimizerKind::sgd:
      j.update({{"momentum", momentum}, {"dampening", dampening}, {"nesterov", nesterov},
                {"weight_decay", weight_decay}, {"maximize", maximize}});
      break;
    case OptimizerKind::adagrad:
      j.update({{"lr_decay", lr_decay}, {"weight_decay", weight_decay},
                {"initial_accumulator_value", initial_accumulator_value}, {"eps", eps}, {"maximize", maximize}});
      break;
    case OptimizerKind::rmsprop:
      j.update({{"alpha", alpha}, {"eps", eps}, {"weight_decay", weight_decay}, {"momentum", momentum},
                {"centered", centered}, {"maximize", maximize}});
      break;
    case OptimizerKind::adadelta:
      j.update({{"rho", rho}, {"eps", eps}, {"weight_decay", weight_decay}, {"maximize", maximize}});
      break;
    case OptimizerKind::adam:
    case OptimizerKind::adamw:
      j.update({{"betas", {beta1, beta2}}, {"eps", eps}, {"weight_decay", weight_decay}, {"amsgrad", amsgrad},
                {"maximize", maximize}});
      break;
    case OptimizerKind::newton:
      j["damping"] = damping;
      break;
    case OptimizerKind::saddle_free_newton:
      j.update({{"damping", damping}, {"subspace", to_string(subspace)},
                {"krylov_dim", krylov_dim}, {"krylov_inner_steps", krylov_inner_steps},
                {"krylov_damping_grid", krylov_damping_grid}});
      break;
    case OptimizerKind::lbfgs:
      j.update({{"max_iter", max_iter}, {"max_eval", max_eval == 0 ? max_iter * 5 / 4 : max_eval},
                {"tolerance_grad", tolerance_grad}, {"tolerance_change", tolerance_change},
                {"history_size", history_size},
                {"line_search_fn", line_search_fn.empty() ? nlohmann::json(nullptr) : nlohmann::json(line_search_fn)}});
      break;
  }
  return j;
}

OptimizerConfig OptimizerConfig::from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("optimizer") || !j["optimizer"].is_string())
    throw std::invalid_argument("optimizer config must be a JSON object with a string 'optimizer'");
  OptimizerConfig c = defaults(kOptimizerNames.parse(j["optimizer"].get<std::string>()));
  const nlohmann::json allowed = c.to_json();
  for (const auto& [key, value] : j.items()) {
    if (key == "optimizer") continue;
    if (!allowed.contains(key))
      throw std::invalid_argument("optimizer " + to_string(c.kind) + " has no hyper-parameter '" + key + "'");
    try {
      if (key == "lr") c.lr = value.get<double>();
      else if (key == "momentum") c.momentum = value.get<double>();
      else if (key == "dampening") c.dampening = value.get<double>();
      else if (key == "nesterov") c.nesterov = value.get<bool>();
      else if (key == "weight_decay") c.weight_decay = value.get<double>();
      else if (key == "maximize") c.maximize = value.get<bool>();
      else if (key == "lr_decay") c.lr_decay = value.get<double>();
      else if (key == "initial_accumulator_value") c.initial_accumulator_value = value.get<double>();
      else if (key == "eps") c.eps = value.get<double>();
      else if (key == "alpha") c.alpha = value.get<double>();
      else if (key == "centered") c.centered = value.get<bool>();
      else if (key == "rho") c.rho = value.get<double>();
      else if (key == "betas") {
        if (!value.is_array() || value.size() != 2) throw std::invalid_argument("two numbers expected");
        c.beta1 = value[0].get<double>();
        c.beta2 = value[1].get<double>();
      } else if (key == "amsgrad") c.amsgrad = value.get<bool>();
      else if (key == "damping") c.damping = value.get<double>();
      else if (key == "subspace") {
        c.subspace = kSubspaceNames.parse(value.get<std::string>());
      } else if (key == "krylov_dim") c.krylov_dim = value.get<std::int64_t>();
      else if (key == "krylov_inner_steps") c.krylov_inner_steps = value.get<std::int64_t>();
      else if (key == "krylov_damping_grid") c.krylov_damping_grid = value.get<std::int64_t>();
      else if (key == "max_iter") c.max_iter = value.get<std::int64_t>();
      else if (key == "max_eval") c.max_eval = value.get<std::int64_t>();
      else if (key == "tolerance_grad") c.tolerance_grad = value.get<double>();
      else if (key == "tolerance_change") c.tolerance_change = value.get<double>();
      else if (key == "history_size") c.history_size = value.get<std::int64_t>();
      else if (key == "line_search_fn") c.line_search_fn = value.is_null() ? "" : value.get<std::string>();
    } catch (const nlohmann::json::exception& e) {
      throw std::invalid_argument("optimizer config '" + key + "': wrong type (" + value.dump() + ")");
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("optimizer config '" + key + "': " + e.what());
    }
  }
  std::string why;
  if (!c.IsValid(&why)) throw std::invalid_argument(why);
  return c;
}

io::OptimizerState Optimizer::state() const {
  io::OptimizerState s;
  s.config = config_.to_json();
  s.step = steps_;
  std::map<std::string, Vector> buffers;
  save_buffers(buffers);
  for (auto& [k, v] : buffers) s.buffers[k] = v;
  return s;
}

void Optimizer::load_state(const io::OptimizerState& s) {
  std::map<std::string, Vector> buffers(s.buffers.begin(), s.buffers.end());
  load_buffers(buffers);
  steps_ = s.step;
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config) {
  std::string why;
  if (!config.IsValid(&why)) throw std::invalid_argument(why);
  switch (config.kind) {
    case OptimizerKind::gd: return std::make_unique<GradientDescent>(config);
    case OptimizerKind::sgd: return std::make_unique<Sgd>(config);
    case OptimizerKind::adagrad: return std::make_unique<Adagrad>(config);
    case OptimizerKind::rmsprop: return std::make_unique<RmsProp>(config);
    case OptimizerKind::adadelta: return std::make_unique<Adadelta>(config);
    case OptimizerKind::adam: return std::make_unique<Adam>(config, false);
    case OptimizerKind::adamw: return std::make_unique<Adam>(config, true);
    case OptimizerKind::newton:
    case OptimizerKind::saddle_free_newton:
    case OptimizerKind::lbfgs:
      return make_second_order_optimizer(config);
  }
  throw std::invalid_argument("unknown optimizer kind");
}

}  // namespace saddlescope::optim
