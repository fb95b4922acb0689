#include "optim/optimizer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <type_traits>

#include "io/error.h"
#include "objective/kronecker_names.h"
#include "optim/kfac.h"
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
  std::vector<BufferSpec> buffer_specs() const override { return {{"momentum_buffer"}}; }

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
  std::vector<BufferSpec> buffer_specs() const override { return {{"sum", true}}; }

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
  std::vector<BufferSpec> buffer_specs() const override {
    std::vector<BufferSpec> specs = {{"square_avg", true}};
    if (config_.momentum > 0.0) specs.push_back({"momentum_buffer"});
    if (config_.centered) specs.push_back({"grad_avg"});
    return specs;
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
  std::vector<BufferSpec> buffer_specs() const override { return {{"square_avg", true}, {"acc_delta", true}}; }

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
  std::vector<BufferSpec> buffer_specs() const override {
    std::vector<BufferSpec> specs = {{"exp_avg"}, {"exp_avg_sq", true}};
    if (config_.amsgrad) specs.push_back({"max_exp_avg_sq", true});
    return specs;
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
    case OptimizerKind::kfac:
      c.lr = 1e-3;
      c.damping = 1e-3;  // KfacOptions' default
      break;
  }
  return c;
}

namespace {

using C = OptimizerConfig;
using K = OptimizerKind;

std::function<bool(const C&)> kinds(std::initializer_list<K> list) { return kind_in(&C::kind, list); }

FieldTable<C> make_optimizer_fields() {
  const auto all = always<C>();
  const auto torch_first_order = kinds({K::sgd, K::adagrad, K::rmsprop, K::adadelta, K::adam, K::adamw});
  const auto with_eps = kinds({K::adagrad, K::rmsprop, K::adadelta, K::adam, K::adamw});
  const auto sfn = kinds({K::saddle_free_newton});
  const auto krylov = [](const C& c) { return c.subspace == SubspaceMethod::krylov; };
  const auto lbfgs = kinds({K::lbfgs});
  FieldTable<C> t;
  // Stricter than torch (which accepts lr = 0): a run that cannot move is a typo, not a request.
  t.push_back(number_field<C>("lr", &C::lr, above(0.0), "learning rate", all));
  t.push_back(number_field<C>("momentum", &C::momentum, at_least(0.0), "momentum factor (sgd, rmsprop)",
                              kinds({K::sgd, K::rmsprop})));
  t.push_back(number_field<C>("dampening", &C::dampening, Range{}, "dampening for momentum (sgd)", kinds({K::sgd})));
  auto nesterov = bool_field<C>("nesterov", &C::nesterov, "Nesterov momentum (sgd)", kinds({K::sgd}));
  nesterov.check = [](const C& c) -> std::string {
    if (c.nesterov && (c.momentum <= 0.0 || c.dampening != 0.0))
      return "'nesterov' = 1 requires momentum > 0 and dampening = 0 (torch)";
    return "";
  };
  t.push_back(nesterov);
  t.push_back(number_field<C>("weight_decay", &C::weight_decay, at_least(0.0), "L2 penalty (adamw: decoupled)",
                              torch_first_order));
  t.push_back(number_field<C>("lr_decay", &C::lr_decay, at_least(0.0), "learning-rate decay (adagrad)",
                              kinds({K::adagrad})));
  t.push_back(number_field<C>("initial_accumulator_value", &C::initial_accumulator_value, at_least(0.0),
                              "initial accumulator (adagrad)", kinds({K::adagrad})));
  t.push_back(number_field<C>("eps", &C::eps, at_least(0.0), "term added to the denominator", with_eps));
  t.push_back(number_field<C>("alpha", &C::alpha, at_least(0.0), "smoothing constant (rmsprop)", kinds({K::rmsprop})));
  t.push_back(bool_field<C>("centered", &C::centered, "centered RMSprop (divide by the estimated standard deviation)",
                            kinds({K::rmsprop})));
  t.push_back(number_field<C>("rho", &C::rho, between(0.0, 1.0), "coefficient of the running averages (adadelta)",
                              kinds({K::adadelta})));
  Field<C> betas;
  betas.info = {"betas", FieldType::real_pair, "adam/adamw coefficients of the running averages, e.g. 0.9,0.999", {}};
  betas.get = [](const C& c) { return nlohmann::json::array({c.beta1, c.beta2}); };
  betas.set = [](C& c, const nlohmann::json& v) {
    if (!v.is_array() || v.size() != 2 || !v[0].is_number() || !v[1].is_number())
      throw std::invalid_argument("'betas' must be two numbers, got " + v.dump());
    c.beta1 = v[0].get<double>();
    c.beta2 = v[1].get<double>();
  };
  betas.used = kinds({K::adam, K::adamw});
  betas.check = [](const C& c) -> std::string {
    const Range unit = between(0.0, 1.0, true);
    if (!unit.contains(c.beta1)) return "'betas[0]' = " + text::format_number(c.beta1, text::kRoundTrip) + " " + unit.rule(FieldType::real);
    if (!unit.contains(c.beta2)) return "'betas[1]' = " + text::format_number(c.beta2, text::kRoundTrip) + " " + unit.rule(FieldType::real);
    return "";
  };
  t.push_back(betas);
  t.push_back(bool_field<C>("amsgrad", &C::amsgrad, "AMSGrad variant (adam, adamw)", kinds({K::adam, K::adamw})));
  t.push_back(bool_field<C>("decoupled_weight_decay", &C::decoupled_weight_decay,
                            "adam: decay the parameters, not the gradient (adam with it is adamw)", kinds({K::adam})));
  t.push_back(bool_field<C>("maximize", &C::maximize, "maximize the objective instead of minimizing",
                            torch_first_order));
  auto damping = number_field<C>("damping", &C::damping, at_least(0.0),
                                 "damping added to H or |H| (newton, saddle_free_newton); kfac: Tikhonov damping "
                                 "split between the factors (Martens & Grosse 2015, Sec. 6.3), > 0",
                                 kinds({K::newton, K::saddle_free_newton, K::kfac}));
  // kfac's damped factors are Cholesky-factorised: its damping must be > 0.
  damping.check = [general = damping.check](const C& c) -> std::string {
    if (c.kind == K::kfac && !(c.damping > 0.0 && std::isfinite(c.damping)))
      return "'damping' = " + text::format_number(c.damping, text::kRoundTrip) + " must be finite and > 0 (kfac)";
    return general(c);
  };
  t.push_back(damping);
  t.push_back(number_field<C>("factor_decay", &C::factor_decay, between(0.0, 1.0, true),
                              "kfac: weight of the old running average of the factors", kinds({K::kfac})));
  t.push_back(number_field<C>("factor_interval", &C::factor_interval, at_least(1.0),
                              "kfac: steps between refreshes of the factors", kinds({K::kfac})));
  t.push_back(number_field<C>("inverse_interval", &C::inverse_interval, at_least(1.0),
                              "kfac: steps between inversions of the damped factors", kinds({K::kfac})));
  Field<C> fisher;
  fisher.info = {"fisher", FieldType::choice, "kfac: G from exact (GGN), sampled (true Fisher) or empirical targets",
                 objective::kKroneckerFisherNames.names()};
  fisher.get = [](const C& c) { return nlohmann::json(to_string(c.fisher)); };
  fisher.set = [](C& c, const nlohmann::json& v) { c.fisher = objective::kKroneckerFisherNames.parse(v.get<std::string>()); };
  fisher.used = kinds({K::kfac});
  fisher.check = [](const C&) { return std::string(); };
  t.push_back(fisher);
  Field<C> subspace;
  subspace.info = {"subspace", FieldType::choice, "saddle_free_newton: how |H| is formed", kSubspaceNames.names()};
  subspace.get = [](const C& c) { return nlohmann::json(to_string(c.subspace)); };
  subspace.set = [](C& c, const nlohmann::json& v) { c.subspace = kSubspaceNames.parse(v.get<std::string>()); };
  subspace.used = sfn;
  subspace.check = [](const C&) { return std::string(); };
  t.push_back(subspace);
  t.push_back(number_field<C>("krylov_dim", &C::krylov_dim, at_least(1.0),
                              "saddle_free_newton krylov: subspace dimension (Lanczos steps)", sfn));
  t.back().checked_when = krylov;
  t.push_back(number_field<C>("krylov_inner_steps", &C::krylov_inner_steps, between(1.0, 1000.0),
                              "saddle_free_newton krylov: steps per subspace (Dauphin et al. 2014, Alg. 1)", sfn));
  t.back().checked_when = krylov;
  t.push_back(number_field<C>("krylov_damping_grid", &C::krylov_damping_grid, between(1.0, 30.0),
                              "saddle_free_newton krylov: damping values searched per step (1: fixed damping)", sfn));
  t.back().checked_when = krylov;
  t.push_back(number_field<C>("max_iter", &C::max_iter, at_least(1.0), "lbfgs: inner iterations per step", lbfgs));
  t.push_back(number_field<C>("max_eval", &C::max_eval, at_least(0.0, "0: max_iter*5/4"),
                              "lbfgs: evaluations per step (0: max_iter*5/4)", lbfgs));
  // torch stores max_eval = max_iter*5/4 when it is not given: the JSON shows that value.
  t.back().get = [](const C& c) { return nlohmann::json(c.max_eval == 0 ? c.max_iter * 5 / 4 : c.max_eval); };
  t.push_back(number_field<C>("tolerance_grad", &C::tolerance_grad, Range{}, "lbfgs: first-order tolerance", lbfgs));
  t.push_back(number_field<C>("tolerance_change", &C::tolerance_change, Range{},
                              "lbfgs: step and loss change tolerance", lbfgs));
  t.push_back(number_field<C>("history_size", &C::history_size, at_least(1.0), "lbfgs: history size", lbfgs));
  Field<C> line_search;
  line_search.info = {"line_search_fn", FieldType::choice, "lbfgs line search: strong_wolfe or none",
                      {"strong_wolfe", "none"}};
  // torch: line_search_fn=None is JSON null; "none" on the command line means the same.
  line_search.get = [](const C& c) {
    return c.line_search_fn.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.line_search_fn);
  };
  line_search.set = [](C& c, const nlohmann::json& v) {
    c.line_search_fn = v.is_null() ? "" : v.get<std::string>();
    if (c.line_search_fn == "none") c.line_search_fn.clear();
  };
  line_search.used = lbfgs;
  line_search.check = [](const C& c) -> std::string {
    if (c.line_search_fn == "strong_wolfe" || c.line_search_fn.empty()) return "";
    return "'line_search_fn' = '" + c.line_search_fn + "' must be strong_wolfe or empty";
  };
  t.push_back(line_search);
  return t;
}

}  // namespace

const FieldTable<OptimizerConfig>& optimizer_fields() {
  static const FieldTable<OptimizerConfig> table = make_optimizer_fields();
  return table;
}

bool OptimizerConfig::IsValid(std::string* why) const {
  return check_fields(optimizer_fields(), *this, "optimizer " + to_string(kind), why);
}

nlohmann::json OptimizerConfig::to_json() const {
  nlohmann::json j;
  j["optimizer"] = to_string(kind);
  fields_to_json(optimizer_fields(), *this, j);
  return j;
}

OptimizerConfig OptimizerConfig::from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("optimizer") || !j["optimizer"].is_string())
    throw std::invalid_argument("optimizer config must be a JSON object with a string 'optimizer'");
  OptimizerConfig c = defaults(kOptimizerNames.parse(j["optimizer"].get<std::string>()));
  fields_from_json(optimizer_fields(), c, j, "optimizer", "optimizer " + to_string(c.kind), "hyper-parameter");
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

void Optimizer::check_buffers(const std::map<std::string, Vector>& buffers, Index n) const {
  const auto specs = buffer_specs();
  // (A named pair, not a structured binding: clang 14, the fuzz build's compiler, cannot capture one.)
  for (const auto& entry : buffers) {
    const std::string& name = entry.first;
    if (std::none_of(specs.begin(), specs.end(), [&](const BufferSpec& b) { return b.name == name; }))
      throw std::invalid_argument("buffer '" + name + "' is not a buffer of " + to_string(config_.kind));
  }
  if (buffers.empty()) return;  // a fresh state
  for (const auto& spec : specs) {
    const auto it = buffers.find(spec.name);
    if (it == buffers.end()) throw std::invalid_argument("buffer '" + spec.name + "' is missing");
    const Index expected = spec.length > 0 ? spec.length : n;
    if (it->second.size() != expected)
      throw std::invalid_argument("buffer '" + spec.name + "' has " + std::to_string(it->second.size()) +
                                  " entries, expected " + std::to_string(expected));
    if (spec.non_negative && (it->second.array() < 0.0).any())
      throw std::invalid_argument("buffer '" + spec.name + "' holds a negative value (a second moment is >= 0)");
  }
}

void Optimizer::load_state(const io::OptimizerState& s, Index n) {
  if (s.step < 0) throw std::invalid_argument("'step' = " + std::to_string(s.step) + " must be >= 0");
  std::map<std::string, Vector> buffers(s.buffers.begin(), s.buffers.end());
  for (const auto& [name, buffer] : buffers)
    if (!buffer.allFinite()) throw std::invalid_argument("buffer '" + name + "' holds a non-finite value");
  if (n < 0)
    for (const auto& spec : buffer_specs())
      if (spec.length == 0 && buffers.count(spec.name) != 0) n = buffers.at(spec.name).size();
  check_buffers(buffers, n);
  load_buffers(buffers);
  steps_ = s.step;
}

void resume_from_checkpoint(Optimizer& optimizer, const io::Checkpoint& checkpoint, const std::string& path) {
  if (!checkpoint.optimizer_state) return;
  const auto& state = *checkpoint.optimizer_state;
  const auto name = state.config.find("optimizer");
  if (name == state.config.end() || !name->is_string() || *name != to_string(optimizer.config().kind)) return;
  try {
    optimizer.load_state(state, checkpoint.params.size());
  } catch (const std::invalid_argument& e) {
    throw io::FileError(path, std::string("/optimizer_state: ") + e.what());
  }
}

std::int64_t resume_step(const io::Checkpoint& checkpoint) {
  if (!checkpoint.optimizer_state) return 0;
  return checkpoint.optimizer_state->run_step.value_or(checkpoint.optimizer_state->step);
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
    case OptimizerKind::adam: return std::make_unique<Adam>(config, config.decoupled_weight_decay);
    case OptimizerKind::adamw: return std::make_unique<Adam>(config, true);
    case OptimizerKind::newton:
    case OptimizerKind::saddle_free_newton:
    case OptimizerKind::lbfgs:
      return make_second_order_optimizer(config);
    case OptimizerKind::kfac:
      return make_kfac_optimizer(config);
  }
  throw std::invalid_argument("unknown optimizer kind");
}

}  // namespace saddlescope::optim
