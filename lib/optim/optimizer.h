#pragma once
// Optimizers (DESIGN.md, module `optim`).
//
// The torch-named optimizers (sgd, adagrad, rmsprop, adadelta, adam, adamw, lbfgs) follow torch.optim
// 1.13's names, defaults and arithmetic (the single-tensor code paths in
// torch/optim/{sgd,adagrad,rmsprop,adadelta,adam,adamw,lbfgs}.py), operation by operation, so a user's
// torch settings give torch's trajectory (tests/optim/torch_parity_test.cpp checks it to 1e-12).
// The others are textbook methods: gd, newton (damped), saddle_free_newton (Dauphin et al. 2014,
// arXiv:1406.2572), each documented at its options.
//
// An optimizer holds its state (moment buffers, step counter) for one parameter vector. The caller
// computes the gradient at x and passes it to step(); the learning rate is passed per step because
// schedules change it (torch: param_group['lr']). Second-order methods and L-BFGS also evaluate the
// objective themselves (Hessian products, line search), through the StepInput's objective.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "objective/kronecker.h"
#include "objective/objective.h"
#include "optim/fields.h"
#include "text/names.h"

namespace saddlescope::optim {

using objective::Index;
using objective::Matrix;
using objective::Vector;

enum class OptimizerKind { gd, sgd, adagrad, rmsprop, adadelta, adam, adamw, newton, saddle_free_newton, lbfgs, kfac };

// Name table: "gd", "sgd", ... as above (flags, config files and logs use these names).
inline constexpr auto kOptimizerNames = text::make_name_table<OptimizerKind>(
    "optimizer", {{OptimizerKind::gd, "gd"},
                  {OptimizerKind::sgd, "sgd"},
                  {OptimizerKind::adagrad, "adagrad"},
                  {OptimizerKind::rmsprop, "rmsprop"},
                  {OptimizerKind::adadelta, "adadelta"},
                  {OptimizerKind::adam, "adam"},
                  {OptimizerKind::adamw, "adamw"},
                  {OptimizerKind::newton, "newton"},
                  {OptimizerKind::saddle_free_newton, "saddle_free_newton"},
                  {OptimizerKind::lbfgs, "lbfgs"},
                  {OptimizerKind::kfac, "kfac"}});
inline std::string to_string(OptimizerKind kind) { return std::string(kOptimizerNames.name(kind)); }
// Throws std::invalid_argument listing the known names.

// How saddle_free_newton forms |H|: the dense eigen-decomposition, or a k-dimensional Krylov
// (Lanczos) subspace of H started at the gradient (Dauphin et al. 2014, Sec. 6).
enum class SubspaceMethod { dense, krylov };
inline constexpr auto kSubspaceNames = text::make_name_table<SubspaceMethod>(
    "subspace", {{SubspaceMethod::dense, "dense"}, {SubspaceMethod::krylov, "krylov"}});
inline std::string to_string(SubspaceMethod method) { return std::string(kSubspaceNames.name(method)); }

// Every hyper-parameter of every optimizer. Fields named as in torch; a field an optimizer does not
// use is ignored. Each field has one entry in optimizer_fields() (its name, meaning, range rule and
// the optimizers that use it), from which IsValid, to_json, from_json and run-optimizer's flags follow:
// a new hyper-parameter is a member here plus one table entry. Defaults differ between torch optimizers (lr, eps, weight_decay), so use
// OptimizerConfig::defaults(kind) to get torch's defaults for one optimizer.
struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::sgd;
  // Learning rate. torch defaults: sgd has none (required; we use 1e-3), adagrad 1e-2, rmsprop 1e-2,
  // adadelta 1.0, adam/adamw 1e-3, lbfgs 1. gd 1e-3, newton and saddle_free_newton 1 (full step).
  double lr = 1e-3;
  double momentum = 0.0;        // sgd, rmsprop
  double dampening = 0.0;       // sgd: b ← μb + (1−dampening)g (not on the first step)
  bool nesterov = false;        // sgd: g + μb; needs momentum > 0 and dampening = 0
  double weight_decay = 0.0;    // L2 added to the gradient (adamw: decoupled, default 1e-2)
  double lr_decay = 0.0;        // adagrad: clr = lr / (1 + (t−1)·lr_decay)
  double initial_accumulator_value = 0.0;  // adagrad
  double eps = 1e-8;            // adagrad 1e-10, rmsprop 1e-8, adadelta 1e-6, adam/adamw 1e-8
  double alpha = 0.99;          // rmsprop smoothing constant
  bool centered = false;        // rmsprop: divide by the estimated standard deviation
  double rho = 0.9;             // adadelta
  double beta1 = 0.9;           // adam/adamw betas
  double beta2 = 0.999;
  bool amsgrad = false;         // adam/adamw: running max of the raw second moment
  bool decoupled_weight_decay = false;  // adam: decay the parameters, not the gradient (AdamW's rule)
  bool maximize = false;        // torch's maximize flag (first-order torch optimizers)
  // newton / saddle_free_newton: Δ = −lr·(H + damping·I)⁻¹g, resp. −lr·(|H| + damping·I)⁻¹g.
  double damping = 1e-4;
  SubspaceMethod subspace = SubspaceMethod::dense;  // saddle_free_newton
  Index krylov_dim = 20;        // saddle_free_newton krylov: Lanczos steps (subspace dimension)
  // saddle_free_newton krylov (Dauphin et al. 2014, Alg. 1; second_order.cpp): inner steps m per
  // Krylov subspace, and the number G of damping values searched (1: fixed λ = damping, no search).
  std::int64_t krylov_inner_steps = 1;
  std::int64_t krylov_damping_grid = 8;
  // lbfgs (torch names and defaults): max_iter inner iterations per step, max_eval (default
  // max_iter·5/4), tolerance_grad, tolerance_change, history_size, line_search_fn "strong_wolfe" or "".
  std::int64_t max_iter = 20;
  std::int64_t max_eval = 0;    // 0: max_iter·5/4 as torch
  double tolerance_grad = 1e-7;
  double tolerance_change = 1e-9;
  std::int64_t history_size = 100;
  std::string line_search_fn = "strong_wolfe";
  // kfac (Martens & Grosse 2015; optim/kfac.h): Δ = −lr·[diag_l (Ā_l + π√γ I) ⊗ (Ḡ_l + (√γ/π) I)]⁻¹ g
  // with γ = damping (default 1e-3 for kfac) + the objective's weight decay; running averages of the
  // factors with weight min(1 − 1/k, factor_decay), refreshed every factor_interval steps (on the step's
  // mini-batch), inverted every inverse_interval steps; `fisher`: which δ the G factor uses.
  double factor_decay = 0.95;
  std::int64_t factor_interval = 1;
  std::int64_t inverse_interval = 20;
  objective::KroneckerFisher fisher = objective::KroneckerFisher::sampled;

  // torch's defaults for `kind`.
  static OptimizerConfig defaults(OptimizerKind kind);
  bool IsValid(std::string* why) const;
  // JSON with the fields this optimizer uses (and "optimizer": name); from_json starts from
  // defaults(kind) and applies the keys given, refusing unknown keys (std::invalid_argument).
  nlohmann::json to_json() const;
  static OptimizerConfig from_json(const nlohmann::json& j);
};

// What an optimizer's step sees. `gradient` is ∇f (or a mini-batch gradient, after clipping/noise)
// at x; `loss` the matching value. `objective` is needed by newton, saddle_free_newton and lbfgs.
struct StepInput {
  const objective::Objective* objective = nullptr;
  double loss = 0.0;
  const Vector* gradient = nullptr;
  double lr = 0.0;
  // The mini-batch `gradient` was computed on (empty: the full data set); kfac refreshes its factors on it.
  objective::Batch batch;
  // The run's seed (TrainerOptions::seed), for optimizers that draw random numbers (kfac's sampled targets).
  std::uint64_t seed = 0;
};

struct StepReport {
  std::int64_t function_evaluations = 0;  // extra evaluations done inside the step (lbfgs)
  std::int64_t hvp_count = 0;             // Hessian-vector products (columns) used
  double loss_after = 0.0;                // lbfgs: loss at the new x (NaN when unknown)
  std::string note;                       // e.g. "lbfgs: converged (tolerance_grad)"
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // Updates x in place. Throws std::invalid_argument when the input lacks what the method needs.
  virtual StepReport step(Vector& x, const StepInput& input) = 0;
  const OptimizerConfig& config() const { return config_; }
  std::int64_t steps_taken() const { return steps_; }
  // State for checkpoints (io::OptimizerState): config, step and named buffers; and back.
  io::OptimizerState state() const;
  // Validates before loading (a state read from a file is untrusted): step >= 0, every buffer finite,
  // known to this optimizer, of its length (n per-parameter buffers; n < 0: their common length) and
  // sign (second moments >= 0), and buffers that exist together all present. std::invalid_argument
  // naming the buffer otherwise; nothing is changed then.
  void load_state(const io::OptimizerState& state, Index n = -1);

 protected:
  explicit Optimizer(OptimizerConfig config) : config_(std::move(config)) {}
  virtual void save_buffers(std::map<std::string, Vector>& buffers) const = 0;
  virtual void load_buffers(const std::map<std::string, Vector>& buffers) = 0;
  // The buffers of a started run, which exist together (all or none); `length` 0 means n.
  struct BufferSpec {
    std::string name;
    bool non_negative = false;
    Index length = 0;
  };
  virtual std::vector<BufferSpec> buffer_specs() const { return {}; }
  // The check load_state applies (default: by buffer_specs()); throws std::invalid_argument.
  virtual void check_buffers(const std::map<std::string, Vector>& buffers, Index n) const;
  OptimizerConfig config_;
  std::int64_t steps_ = 0;
};

// The field table of OptimizerConfig (optim/fields.h), in the order the flags are listed.
const FieldTable<OptimizerConfig>& optimizer_fields();

// Throws std::invalid_argument (the IsValid message) for an invalid config.
std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config);

// Resumes `optimizer` from a checkpoint's /optimizer_state when that state is this optimizer's (same
// name); a state that load_state refuses is io::FileError naming `path` (exit code 3).
void resume_from_checkpoint(Optimizer& optimizer, const io::Checkpoint& checkpoint, const std::string& path);

}  // namespace saddlescope::optim
