#pragma once
// Feed-forward networks over a data set as objectives: MLPs (any depth and widths, optional residual
// blocks), deep linear networks, and linear / logistic regression, which are all the same computation
// with different settings. Derivatives are exact: the gradient by backpropagation, Hessian-vector
// products by Pearlmutter's R-operator (Pearlmutter 1994, "Fast exact multiplication by the Hessian",
// Neural Computation 6(1)), for a block of m vectors in one pass whose big products are wide GEMMs.
//
// ## The function
// Widths [d_0, d_1, ..., d_L]; layer l (1..L) has a weight W_l [d_l, d_{l-1}] and (when `bias`) a bias
// b_l [d_l]. For an input column h_0 = x:
//     z_l = W_l h_{l-1} + b_l
//     h_l = σ(z_l)                 hidden layers l < L
//     h_l = h_{l-1} + σ(z_l)       hidden layers l < L with `residual` and d_l == d_{l-1} (l ≥ 2)
//     output z_L (no activation; the loss takes logits)
// The objective is the mean of the per-sample loss over the samples, plus (λ/2)‖θ‖² over every
// parameter (`weight_decay` λ, biases included):
//     mse            ℓ = (1/k) Σ_j (z_j − y_j)²       torch.nn.MSELoss(reduction="mean")
//     cross_entropy  ℓ = logsumexp(z) − z_y          torch.nn.CrossEntropyLoss; y a class index in [0,k)
//     logistic       ℓ = softplus(z) − y z           torch.nn.BCEWithLogitsLoss; k = 1, y ∈ [0, 1]
//
// ## Parameter layout (the file contract shared with tools/export_torch.py)
// Layer by layer: W_l row-major [d_l, d_{l-1}] (PyTorch's `Linear.weight` storage order), then b_l.
// parameter_blocks() names them "layer<l>.weight" / "layer<l>.bias", l counted from 1.
//
// ## Activations with kinks
// relu and leaky_relu are piecewise linear: their derivatives are those of the function almost
// everywhere, with σ'(0) taken from the right-open side as PyTorch does (relu'(0) = 0, leaky'(0) = slope)
// and a zero second derivative everywhere, kinks included. At a point where some pre-activation is
// exactly 0 the true Hessian does not exist; what is returned is the one-sided limit.
// softplus is the exact log(1 + eˣ) (PyTorch's nn.Softplus switches to x above x = 20; the two differ by
// < 2.1e-9 there). gelu is the exact x·Φ(x) (nn.GELU(approximate="none")).
//
// ## Cost and threading
// Workspaces are mutable members sized on first use for a given batch size and block width, so
// repeated calls of the same shape do not allocate in our code (Eigen's GEMM itself takes its packing
// buffers from the heap when they exceed EIGEN_STACK_ALLOCATION_LIMIT, 128 KiB). A block of m vectors
// shares one forward and backward pass; its R-passes run in chunks of columns whose workspaces stay
// near 8 MiB, since beyond the cache the per-vector cost rises. Products at a fixed point reuse its
// state: the forward pass (activations and their first two derivatives), the loss's logit derivatives
// and the backward pass are kept with a copy of the point and batch they belong to, and the next
// product at the same point and batch (compared bitwise) runs only its R-passes — a Lanczos run pays
// one forward/backward pass, not one per product. Any other evaluation (value, gradient, outputs) or a
// different point or batch recomputes. One instance must not be used from two threads at once
// (objective.h; the cached state is part of the instance); make one per thread.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "objective/kronecker.h"
#include "objective/objective.h"
#include "text/names.h"

namespace saddlescope::models {

using objective::Batch;
using objective::Index;
using objective::Matrix;
using objective::Vector;

enum class Activation { identity, tanh, sigmoid, relu, leaky_relu, softplus, gelu };
enum class Loss { mse, cross_entropy, logistic };

// Name tables: parse and print share one list (kActivationNames.parse throws std::invalid_argument
// naming the value and the known names).
inline constexpr auto kActivationNames = text::make_name_table<Activation>(
    "activation", {{Activation::identity, "identity"},
                   {Activation::tanh, "tanh"},
                   {Activation::sigmoid, "sigmoid"},
                   {Activation::relu, "relu"},
                   {Activation::leaky_relu, "leaky_relu"},
                   {Activation::softplus, "softplus"},
                   {Activation::gelu, "gelu"}});
inline constexpr auto kLossNames = text::make_name_table<Loss>(
    "loss", {{Loss::mse, "mse"}, {Loss::cross_entropy, "cross_entropy"}, {Loss::logistic, "logistic"}});
inline std::string to_string(Activation a) { return std::string(kActivationNames.name(a)); }
inline std::string to_string(Loss l) { return std::string(kLossNames.name(l)); }

// Scalar activation and its first two derivatives (for tests and generators; the network's hot loops
// use vectorised versions of the same formulas).
double activate(Activation a, double x, double leaky_slope);
double activate_d1(Activation a, double x, double leaky_slope);
double activate_d2(Activation a, double x, double leaky_slope);

// Largest parameter count a network spec may claim (same bound as any dataset a reader accepts).
inline constexpr std::uint64_t kMaxParameters = io::kMaxElementsPerDataset;

struct NetworkOptions {
  std::vector<std::int64_t> widths;  // [d_0, ..., d_L], L ≥ 1, every width ≥ 1
  Activation activation = Activation::tanh;
  Loss loss = Loss::mse;
  bool bias = true;             // layers have biases
  bool residual = false;        // hidden layers l ≥ 2 with d_l == d_{l-1} become h = h_prev + σ(z)
  double weight_decay = 0.0;    // λ ≥ 0 in (λ/2)‖θ‖²
  double leaky_slope = 0.01;    // negative-side slope of leaky_relu (PyTorch's default), finite
  // The spec kind this network was built from ("mlp", "deep_linear", "linear_regression",
  // "logistic_regression"); only spec() and description() use it.
  std::string kind = "mlp";

  // False (with `why` naming field, value and rule) when a field is out of range, including a
  // parameter count above kMaxParameters (checked without overflow, before anything is allocated).
  bool IsValid(std::string* why) const;
  // Number of parameters Σ d_l d_{l-1} (+ d_l); call only on valid options.
  std::int64_t parameter_count() const;
};

// Initialisation of the parameters (biases are zero for all but `normal`, which draws them too).
enum class Init { xavier, he, normal, zeros };
inline constexpr auto kInitNames = text::make_name_table<Init>(
    "initialisation", {{Init::xavier, "xavier"}, {Init::he, "he"}, {Init::normal, "normal"}, {Init::zeros, "zeros"}});
// xavier: W ~ U(−a, a), a = √(6/(d_in + d_out))   (Glorot & Bengio 2010, eq. 16)
// he:     W ~ N(0, 2/d_in)                        (He et al. 2015, eq. 10)
// normal: every parameter ~ N(0, σ²)
// zeros:  everything 0
// Layer l draws from random::Rng(seed, l), so the values do not depend on anything but (seed, layer).
Vector initial_parameters(const NetworkOptions& options, Init init, std::uint64_t seed, double sigma = 0.1);

class Network final : public objective::Objective, public objective::KroneckerFactored {
 public:
  // Validates `options` against the data: X has d_0 columns; for mse y has d_L columns; for
  // cross_entropy y is one column of integers in [0, d_L) and d_L ≥ 2; for logistic d_L == 1 and y is
  // one column in [0, 1]. At least one sample. Throws std::invalid_argument naming the problem.
  Network(NetworkOptions options, io::DataArrays data);
  ~Network() override;

  Index dim() const override { return parameter_count_; }
  double value(const Vector& x) const override;
  double gradient(const Vector& x, Vector& gradient) const override;
  void hessian_vector_product(const Vector& x, const Matrix& V, Matrix& HV) const override;
  Index hessian_block_columns() const override;

  // G = Jᵀ H_ℓ J / N + λI (PSD when the loss is convex in the logits, which all three are); F = (1/N) Σ
  // g_i g_iᵀ with g_i the gradient of sample i's loss (the regulariser is not part of F).
  bool has_gauss_newton() const override { return true; }
  void gauss_newton_vector_product(const Vector& x, const Matrix& V, Matrix& GV) const override;
  void fisher_vector_product(const Vector& x, const Matrix& V, Matrix& FV) const override;

  std::int64_t sample_count() const override { return sample_count_; }
  double batch_value(const Vector& x, Batch batch) const override;
  double batch_gradient(const Vector& x, Batch batch, Vector& gradient) const override;
  void batch_hessian_vector_product(const Vector& x, Batch batch, const Matrix& V, Matrix& HV) const override;

  std::vector<Block> parameter_blocks() const override;
  nlohmann::json spec() const override;
  std::string description() const override;

  // K-FAC factors of every layer (objective/kronecker.h): A from the layer's input h_{l-1} (with a 1 for
  // the bias), G from δ_l = ∂ℓ/∂z_l back-propagated from the loss-Hessian factor columns (exact), a
  // sampled target (sampled) or the observed target (empirical). Layers are named "layer<l>".
  std::vector<objective::KroneckerLayer> kronecker_factors(const Vector& x, objective::KroneckerFisher which,
                                                           std::uint64_t seed, Batch batch = {}) const override;
  double kronecker_regulariser() const override { return options_.weight_decay; }

  // The network's outputs (logits) z_L for every sample at parameters x: [N, d_L].
  Matrix outputs(const Vector& x) const;

  const NetworkOptions& options() const { return options_; }
  const io::DataArrays& data() const { return data_; }

 private:
  struct Workspace;
  enum class Product { hessian, gauss_newton, fisher };
  // Gathers a mini-batch's columns into the workspace; returns the inputs and targets to use.
  void gather(Batch batch, bool full, const Matrix*& inputs, const Matrix*& targets) const;
  // Forward pass over the columns of `inputs`; fills Z, H (and D1 when level ≥ 1, D2 when level ≥ 2),
  // ws.dZ = ∂ℓ_i/∂z_L and the loss's auxiliaries. Returns Σ_i ℓ_i (no mean, no regulariser).
  double forward(const double* theta, const Matrix& inputs, const Matrix& targets, int level) const;
  // Backpropagation of delta_L = scale·dZ: fills delta and G, writes the gradient into `grad`.
  void backward(const double* theta, const Matrix& inputs, double scale, double* grad) const;
  // The R-passes of one shard of the batch (a contiguous range of samples with its own R-workspaces),
  // so that shards run on separate threads and their partial products are summed in shard order.
  struct Shard;
  // R-forward pass over the shard's samples: RZ, RH for the m columns of V.
  // V: m contiguous columns of n entries.
  void r_forward(const double* theta, const Matrix& inputs, Shard& shard, const double* V, Index m) const;
  // The loss's Hessian in the logits applied to R{z_L} (or the Fisher's rank-one rows): R{δ_L}.
  void r_loss(Product which, Shard& shard, Index m, double inv_B) const;
  // Backward pass of the R-quantities with Rdelta[L] set; `second_order` adds the Hessian-only terms.
  // Writes the shard's part of m columns of n entries at `out`.
  void r_backward(const double* theta, const Matrix& inputs, Shard& shard, const double* V, Index m,
                  bool second_order, double* out) const;
  Index r_chunk_columns(Index batch) const;
  double evaluate(const Vector& x, Batch batch, bool full, Vector* gradient) const;
  void product(Product which, const Vector& x, Batch batch, bool full, const Matrix& V, Matrix& out) const;
  void check_point(const Vector& x) const;
  void check_batch(Batch batch) const;
  bool residual_at(std::size_t l) const {
    const auto& w = options_.widths;
    return options_.residual && l >= 2 && l + 1 < w.size() && w[l] == w[l - 1];
  }

  NetworkOptions options_;
  io::DataArrays data_;
  Matrix inputs_;   // X transposed: [d_0, N], one column per sample
  Matrix targets_;  // y transposed: [k_y, N]
  std::int64_t sample_count_ = 0;
  Index parameter_count_ = 0;
  std::vector<Index> weight_offset_, bias_offset_;
  std::unique_ptr<Workspace> ws_;
};

}  // namespace saddlescope::models
