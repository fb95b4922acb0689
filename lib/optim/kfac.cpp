#include "optim/kfac.h"

#include <cmath>
#include <stdexcept>

#include "optim/optimizer.h"
#include "random/random.h"

namespace saddlescope::optim {

bool KfacOptions::IsValid(std::string* why) const {
  auto fail = [&](const std::string& m) {
    if (why) *why = m;
    return false;
  };
  if (!(damping > 0) || !std::isfinite(damping)) return fail("'damping' = " + std::to_string(damping) + " must be finite and > 0");
  if (!(factor_decay >= 0 && factor_decay < 1))
    return fail("'factor_decay' = " + std::to_string(factor_decay) + " must be in [0, 1)");
  if (factor_interval < 1) return fail("'factor_interval' = " + std::to_string(factor_interval) + " must be >= 1");
  if (inverse_interval < 1) return fail("'inverse_interval' = " + std::to_string(inverse_interval) + " must be >= 1");
  return true;
}

KfacPreconditioner::KfacPreconditioner(KfacOptions options) : options_(options) {
  std::string why;
  if (!options_.IsValid(&why)) throw std::invalid_argument("kfac: " + why);
}

void KfacPreconditioner::precondition(const objective::Objective& f, const objective::Vector& x,
                                      const objective::Vector& gradient, std::int64_t step,
                                      objective::Vector& direction, objective::Batch batch) {
  const auto* source = dynamic_cast<const objective::KroneckerFactored*>(&f);
  if (!source) throw std::invalid_argument("kfac needs an objective with Kronecker-factored layers; " + f.description() + " has none");
  if (step < 1) throw std::invalid_argument("kfac: step counts from 1");
  const bool due = (step - 1) % options_.factor_interval == 0;
  std::vector<objective::KroneckerLayer> fresh;
  auto compute_fresh = [&] {
    const std::uint64_t key = random::Rng(options_.seed, kKfacStream).next();
    const std::uint64_t seed = random::Rng(key, static_cast<std::uint64_t>(step)).next();
    fresh = source->kronecker_factors(x, options_.fisher, seed, batch);
  };
  if (!pending_state_.empty()) {  // resuming: the saved running averages, in the layout of f's layers
    compute_fresh();
    factors_ = fresh;
    inverse_basis_ = fresh;
    auto restore = [&](const std::string& key, Eigen::MatrixXd& target) {
      const auto it = pending_state_.find(key);
      if (it == pending_state_.end() || it->second.size() != target.size())
        throw std::invalid_argument("kfac: the saved optimizer state has no '" + key + "' of " +
                                    std::to_string(target.size()) + " entries for this model");
      target = Eigen::Map<const Eigen::MatrixXd>(it->second.data(), target.rows(), target.cols());
    };
    for (std::size_t l = 0; l < factors_.size(); ++l) {
      const std::string prefix = "kfac." + factors_[l].name;
      restore(prefix + ".A", factors_[l].A);
      restore(prefix + ".G", factors_[l].G);
      restore(prefix + ".inverse_A", inverse_basis_[l].A);
      restore(prefix + ".inverse_G", inverse_basis_[l].G);
    }
    inverse_ = curvature::KfacDampedInverse(inverse_basis_, options_.damping + source->kronecker_regulariser());
    have_inverse_ = true;
    pending_state_.clear();
    if (!due) fresh.clear();
  }
  if (due || factors_.empty()) {
    if (fresh.empty()) compute_fresh();
    ++refreshes_;
    const double decay = std::min(1.0 - 1.0 / static_cast<double>(refreshes_), options_.factor_decay);
    if (factors_.empty()) {
      factors_ = std::move(fresh);
    } else {
      for (std::size_t l = 0; l < factors_.size(); ++l) {
        factors_[l].A = decay * factors_[l].A + (1.0 - decay) * fresh[l].A;
        factors_[l].G = decay * factors_[l].G + (1.0 - decay) * fresh[l].G;
      }
    }
  }
  if (!have_inverse_ || (step - 1) % options_.inverse_interval == 0) {
    inverse_basis_ = factors_;
    inverse_ = curvature::KfacDampedInverse(inverse_basis_, options_.damping + source->kronecker_regulariser());
    have_inverse_ = true;
  }
  Eigen::MatrixXd out;
  inverse_.apply(gradient, out);
  direction = out.col(0);
}

void KfacPreconditioner::save_state(std::map<std::string, objective::Vector>& buffers) const {
  for (const auto& layer : factors_) {
    buffers["kfac." + layer.name + ".A"] = Eigen::Map<const objective::Vector>(layer.A.data(), layer.A.size());
    buffers["kfac." + layer.name + ".G"] = Eigen::Map<const objective::Vector>(layer.G.data(), layer.G.size());
  }
  for (const auto& layer : inverse_basis_) {
    buffers["kfac." + layer.name + ".inverse_A"] = Eigen::Map<const objective::Vector>(layer.A.data(), layer.A.size());
    buffers["kfac." + layer.name + ".inverse_G"] = Eigen::Map<const objective::Vector>(layer.G.data(), layer.G.size());
  }
  buffers["kfac.refreshes"] = objective::Vector::Constant(1, static_cast<double>(refreshes_));
}

void KfacPreconditioner::load_state(const std::map<std::string, objective::Vector>& buffers) {
  const auto r = buffers.find("kfac.refreshes");
  if (r == buffers.end() || r->second.size() != 1 || !(r->second(0) >= 0) || r->second(0) != std::floor(r->second(0)))
    throw std::invalid_argument("kfac: optimizer state lacks a valid 'kfac.refreshes'");
  pending_state_.clear();
  for (const auto& [name, value] : buffers)
    if (name.rfind("kfac.", 0) == 0 && name != "kfac.refreshes") {
      if (!value.allFinite()) throw std::invalid_argument("kfac: optimizer state '" + name + "' has NaN or Inf");
      pending_state_[name] = value;
    }
  refreshes_ = static_cast<std::int64_t>(r->second(0));
  factors_.clear();
  inverse_basis_.clear();
  have_inverse_ = false;
}

namespace {

KfacOptions kfac_options(const OptimizerConfig& c) {
  KfacOptions o;
  o.damping = c.damping;
  o.factor_decay = c.factor_decay;
  o.factor_interval = c.factor_interval;
  o.inverse_interval = c.inverse_interval;
  o.fisher = c.fisher;
  return o;
}

class KfacOptimizer final : public Optimizer {
 public:
  explicit KfacOptimizer(OptimizerConfig c) : Optimizer(std::move(c)), preconditioner_(kfac_options(config_)) {}
  StepReport step(Vector& x, const StepInput& in) override {
    if (in.objective == nullptr) throw std::invalid_argument("kfac needs the objective in its StepInput");
    Vector direction;
    preconditioner_.set_seed(in.seed);
    preconditioner_.precondition(*in.objective, x, *in.gradient, steps_ + 1, direction, in.batch);
    x -= in.lr * direction;
    ++steps_;
    return {};
  }

 protected:
  void save_buffers(std::map<std::string, Vector>& buffers) const override {
    if (preconditioner_.refreshes() > 0) preconditioner_.save_state(buffers);
  }
  void load_buffers(const std::map<std::string, Vector>& buffers) override {
    if (!buffers.empty()) preconditioner_.load_state(buffers);
  }
  // The layer names and shapes are the model's: every buffer must be a "kfac." one and, when any is
  // there, "kfac.refreshes" too; shapes are checked against the model's layers at the first step.
  void check_buffers(const std::map<std::string, Vector>& buffers, Index) const override {
    for (const auto& [name, buffer] : buffers)
      if (name.rfind("kfac.", 0) != 0) throw std::invalid_argument("buffer '" + name + "' is not a buffer of kfac");
    if (!buffers.empty() && buffers.count("kfac.refreshes") == 0)
      throw std::invalid_argument("buffer 'kfac.refreshes' is missing");
  }

 private:
  KfacPreconditioner preconditioner_;
};

}  // namespace

std::unique_ptr<Optimizer> make_kfac_optimizer(const OptimizerConfig& config) {
  return std::make_unique<KfacOptimizer>(config);
}

}  // namespace saddlescope::optim
