#pragma once
// The graph engine: a GraphIR (models/graph/ir.h) compiled into an Objective, with exact derivatives
// through any DAG of the supported ops. The gradient is reverse mode; Hessian-vector products are
// Pearlmutter's R-operator (Pearlmutter 1994, "Fast exact multiplication by the Hessian", Neural
// Computation 6(1)): an R-forward pass carries m tangent directions at once, stacked as an outer
// extent of every activation (a convolution sees its m·B tangent images as one batch), then an
// R-backward pass differentiates the backward pass along them. Gauss–Newton products drop the
// network's second-order terms (they keep only the loss's Hessian in the logits); empirical-Fisher
// products replace the loss's Hessian by ∂ℓ_i ∂ℓ_iᵀ per sample.
//
// ## The function
// The graph maps a batch of inputs [B, per-sample shape] to `ir.output` [B, k]; the objective is the
// mean per-sample loss over the batch (models/network.h's Loss, same torch conventions) plus
// (λ/2)‖θ‖² over every parameter (`weight_decay` λ), exactly as models::Network:
//     f(θ) = (1/B) Σ_i ℓ(z_i(θ), y_i) + (λ/2)‖θ‖²
// Data: X [N, d] holds sample i flattened row-major in the per-sample shape of `ir.input` (d = its
// element count), y as models::Network expects it for the loss.
//
// ## Parameter layout
// The flat vector is the concatenation of `ir.parameters`, in order, each tensor row-major (for a
// torch export, the order and storage of `model.parameters()`). parameter_blocks() names each block
// after its parameter. Buffers (batch-norm running statistics) are state, not parameters.
//
// ## Batch normalisation
// `batch_norm_mode` eval: y = γ (x − running_mean)/√(running_var + ε) + β, affine in x.
// train: the batch mean and *biased* batch variance of the batch being evaluated (the full data set
// for value(), the mini-batch for batch_*()), so f couples the samples, and the Hessian includes the
// second-order terms through the batch statistics (torch's `batchnorm_double_backward`). Evaluating
// never changes the buffers; `train_step_buffers()` returns what one torch training forward pass would
// leave in them (momentum update with the *unbiased* variance).
//
// ## Conventions of piecewise-linear ops
// As torch: relu'(0) = 0, leaky_relu'(0) = slope, max-pool ties go to the first index in the window;
// second derivatives are zero everywhere, kinks included (the one-sided limit where the Hessian does
// not exist).
//
// ## Cost and threading
// The forward and backward state at the last (x, batch) is kept: value, gradient and every product at
// the same point reuse the forward activations and the gradient pass (the fixed-point cache of issue
// 14); a new x or batch invalidates it. Workspaces are mutable members reused across calls; blocks
// of directions run in chunks whose tangent workspaces stay under `workspace_budget_bytes`. When the
// samples are independent (no train-mode batch norm), a batch whose activations would exceed
// `workspace_budget_bytes` is evaluated in chunks of samples and summed, so memory does not grow with
// the data set (the cache then holds the last chunk only). One instance must not be used from two
// threads at once (objective.h); make one per thread.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/checkpoint.h"
#include "models/graph/ir.h"
#include "models/network.h"
#include "objective/kronecker.h"
#include "objective/objective.h"
#include "objective/training_state.h"
#include "text/names.h"

namespace saddlescope::models::graph {

using objective::Batch;
using objective::Index;
using objective::Matrix;
using objective::Vector;

enum class BatchNormMode { eval, train };
// kBatchNormModeNames.parse throws std::invalid_argument naming the value and the known names.
inline constexpr auto kBatchNormModeNames =
    text::make_name_table<BatchNormMode>("batch-norm mode", {{BatchNormMode::eval, "eval"}, {BatchNormMode::train, "train"}});
inline std::string to_string(BatchNormMode mode) { return std::string(kBatchNormModeNames.name(mode)); }

struct GraphOptions {
  Loss loss = Loss::cross_entropy;
  double weight_decay = 0.0;  // λ ≥ 0 (finite) in (λ/2)‖θ‖²
  BatchNormMode batch_norm_mode = BatchNormMode::eval;
  // Upper bound on the tangent workspaces of one chunk of directions (R-forward tangents and
  // R-adjoints of every activation). At least one direction per chunk whatever the bound; ≥ 1 MiB.
  std::int64_t workspace_budget_bytes = std::int64_t{512} << 20;
  // Compile-time fusions (docs/graph-engine.md "Fused steps"): the head split/merge Transposes and
  // Reshapes of attention read and written in place by the products, a constant scale folded into a
  // product. The same values to rounding; false keeps the op-by-op lowering (the tests' reference).
  bool fuse_steps = true;
  // Short human name used by description(), e.g. "resnet8"; may be empty.
  std::string name;

  // False (with `why` naming field, value and rule) when a field is out of range.
  bool IsValid(std::string* why) const;
};

class GraphObjective final : public objective::Objective,
                             public objective::TrainingState,
                             public objective::KroneckerFactored {
 public:
  // Compiles the graph: checks that every node's op is supported (std::invalid_argument "unsupported
  // op 'Foo' (node 'bar')"), infers and checks every shape against `ir.input`'s per-sample shape and
  // the data (X has d columns, y suits the loss and the output width), evaluates the shape arithmetic
  // on constants once, and sizes nothing that depends on the batch until first use.
  GraphObjective(GraphIR ir, GraphOptions options, io::DataArrays data);
  ~GraphObjective() override;
  GraphObjective(const GraphObjective&) = delete;
  GraphObjective& operator=(const GraphObjective&) = delete;

  Index dim() const override;
  double value(const Vector& x) const override;
  double gradient(const Vector& x, Vector& gradient) const override;
  void hessian_vector_product(const Vector& x, const Matrix& V, Matrix& HV) const override;
  Index hessian_block_columns() const override;

  // G = Jᵀ H_ℓ J / B + λI; F = (1/B) Σ_i g_i g_iᵀ with g_i the gradient of sample i's loss (through the
  // whole batch when batch norm is in train mode); the regulariser is not part of F.
  bool has_gauss_newton() const override { return true; }
  void gauss_newton_vector_product(const Vector& x, const Matrix& V, Matrix& GV) const override;
  void fisher_vector_product(const Vector& x, const Matrix& V, Matrix& FV) const override;

  std::int64_t sample_count() const override;
  double batch_value(const Vector& x, Batch batch) const override;
  double batch_gradient(const Vector& x, Batch batch, Vector& gradient) const override;
  void batch_hessian_vector_product(const Vector& x, Batch batch, const Matrix& V, Matrix& HV) const override;
  // Mini-batch versions of the other curvature products (same definitions over the batch).
  void batch_gauss_newton_vector_product(const Vector& x, Batch batch, const Matrix& V, Matrix& GV) const;
  void batch_fisher_vector_product(const Vector& x, Batch batch, const Matrix& V, Matrix& FV) const;

  std::vector<Block> parameter_blocks() const override;
  // {"kind": "graph", "loss", "weight_decay", "batch_norm_mode"}: the graph, parameters and buffers
  // themselves live beside the spec in the checkpoint (problem/ and io/ own that layout).
  nlohmann::json spec() const override;
  std::string description() const override;

  // K-FAC / KFC factors (objective/kronecker.h) of every Kronecker layer, in step order: each Gemm
  // (torch's Linear: transB = 1) and each Conv (one layer per group) whose weight — and bias, when the
  // node has one — are parameters used by no other node (models/graph/plan.h, KroneckerSite). Rows of a
  // Gemm's input that belong to one sample (a Linear applied at T positions) and the T = out_h·out_w
  // spatial positions of a Conv are KFC's positions (Grosse & Martens 2016, Sec. 3):
  //     A = (1/B) Σ_i Σ_t ã_it ã_itᵀ,   G = (1/(B·T)) Σ_i Σ_t Σ_c δ_itc δ_itcᵀ,
  // ã_it the patch (im2col row) or input row with the homogeneous 1, δ the back-propagated columns of
  // the chosen kind (models/loss.h, kronecker_deltas; sampled targets from random::Rng(seed, 0) in
  // sample order) through the graph's Jacobian — the Gauss–Newton R-backward pass, so train-mode batch
  // norm couples the samples' δ exactly as the GGN does. T = 1 is K-FAC for a Linear layer. Parameters
  // outside every layer (normalisation scales and shifts, weights used twice, MatMul weights stored
  // [in, out]) have no factors: curvature/kfac.h gives them λ alone (docs/architectures.md).
  std::vector<objective::KroneckerLayer> kronecker_factors(const Vector& x, objective::KroneckerFisher which,
                                                           std::uint64_t seed, Batch batch = {}) const override;
  double kronecker_regulariser() const override { return options_.weight_decay; }

  // The graph's output (logits) for every sample at x: [N, k].
  Matrix outputs(const Vector& x) const;
  // Same for a mini-batch: [|batch|, k] (train-mode batch norm uses the mini-batch's statistics).
  Matrix batch_outputs(const Vector& x, Batch batch) const;

  // The buffers as they are (ir.buffers' names and shapes) and a replacement (same names, shapes and
  // order, finite values; std::invalid_argument otherwise). Eval-mode batch norm reads them.
  const std::vector<NamedTensor>& buffers() const;
  void set_buffers(std::vector<NamedTensor> buffers);
  // What one torch training-mode forward pass over `batch` at x leaves in the buffers: for each
  // batch norm, running ← (1 − momentum)·running + momentum·batch statistic, with the batch mean and
  // the *unbiased* batch variance (torch.nn.BatchNorm2d, momentum from the node, 0.1 by default).
  // The objective's own buffers are unchanged; set_buffers() installs the result.
  std::vector<NamedTensor> train_step_buffers(const Vector& x, Batch batch) const;
  // objective::TrainingState: in train mode with buffers, a training step installs
  // train_step_buffers(x, batch); state() is buffers() by name.
  bool trains_state() const override;
  void advance(const Vector& x, Batch batch) override { set_buffers(train_step_buffers(x, batch)); }
  std::map<std::string, Vector> state() const override;

  // Samples evaluated in one pass: the data set's size, or fewer when independent samples are
  // evaluated in chunks to keep the activations under `workspace_budget_bytes`.
  std::int64_t samples_per_pass() const;

  const GraphOptions& options() const { return options_; }
  const GraphIR& ir() const;
  const io::DataArrays& data() const { return data_; }

  // Engine internals (plan, values, op kernels); public only so engine_*.cpp can name them.
  struct Plan;
  struct State;

 private:
  enum class Product { hessian, gauss_newton, fisher };
  void check_point(const Vector& x) const;
  double evaluate(const Vector& x, Batch batch, bool full, Vector* gradient) const;
  void product(Product which, const Vector& x, Batch batch, bool full, const Matrix& V, Matrix& out) const;
  // One pass of a product over a batch evaluated whole; adds into `out` with the loss seeded by `scale`.
  void product_pass(Product which, const Vector& x, Batch batch, bool full, double scale, const Matrix& V, Matrix& out) const;
  Matrix batch_outputs_impl(const Vector& x, Batch batch, bool full) const;

  GraphOptions options_;
  io::DataArrays data_;
  std::unique_ptr<Plan> plan_;    // the compiled graph (immutable after construction, but for buffers)
  std::unique_ptr<State> state_;  // workspaces and the fixed-point cache (mutable)
};

}  // namespace saddlescope::models::graph
