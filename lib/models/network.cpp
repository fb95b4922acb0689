#include "models/network.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <sstream>
#include <stdexcept>

#include "models/loss.h"
#include "text/format.h"
#include "random/random.h"

namespace saddlescope::models {
namespace {

// Samples per shard of a product's R-passes (see product()): enough columns for efficient GEMMs, few
// enough that a batch of 512 gives 4 shards to share among threads.
constexpr Index kShardSamples = 128;

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

double sigmoid(double x) { return x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x)); }
double softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x))); }

using Array = Eigen::ArrayXXd;
using MatrixMap = Eigen::Map<Matrix>;
using ConstMatrixMap = Eigen::Map<const Matrix>;

// H = σ(Z); D1 = σ'(Z) when wanted; D2 = σ''(Z) when wanted. The switch is outside the loops.
void apply_activation(Activation a, double slope, const Matrix& Z, Matrix& H, Matrix* D1, Matrix* D2) {
  const auto z = Z.array();
  H.resize(Z.rows(), Z.cols());
  if (D1) D1->resize(Z.rows(), Z.cols());
  if (D2) D2->resize(Z.rows(), Z.cols());
  switch (a) {
    case Activation::identity:
      H = Z;
      if (D1) D1->setOnes();
      if (D2) D2->setZero();
      return;
    case Activation::tanh:
      // tanh(z) = 1 − 2/(e^{2z} + 1): Eigen vectorises exp for double but not tanh. Absolute error
      // stays within a few ulps of 1 (overflow of e^{2z} gives exactly ±1).
      H.array() = 1.0 - 2.0 / ((2.0 * z).exp() + 1.0);
      if (D1) D1->array() = 1.0 - H.array().square();
      if (D2) D2->array() = -2.0 * H.array() * (1.0 - H.array().square());
      return;
    case Activation::sigmoid:
      H.array() = 1.0 / (1.0 + (-z).exp());  // vectorised; e^{−z} = ∞ gives exactly 0
      if (D1) D1->array() = H.array() * (1.0 - H.array());
      if (D2) D2->array() = H.array() * (1.0 - H.array()) * (1.0 - 2.0 * H.array());
      return;
    case Activation::relu:
      H.array() = z.max(0.0);
      if (D1) D1->array() = (z > 0.0).cast<double>();
      if (D2) D2->setZero();
      return;
    case Activation::leaky_relu:
      H.array() = (z > 0.0).select(z, slope * z);
      if (D1) D1->array() = (z > 0.0).select(Array::Ones(Z.rows(), Z.cols()), slope);
      if (D2) D2->setZero();
      return;
    case Activation::softplus:
      H.array() = z.unaryExpr([](double v) { return softplus(v); });
      if (D1) D1->array() = z.unaryExpr([](double v) { return sigmoid(v); });
      if (D2) D2->array() = D1->array() * (1.0 - D1->array());
      return;
    case Activation::gelu:
      // Φ(x) = ½ erfc(−x/√2); gelu = xΦ, gelu' = Φ + xφ, gelu'' = φ(2 − x²).
      if (D1) {
        for (Index i = 0; i < Z.size(); ++i) {
          const double x = Z.data()[i];
          const double Phi = 0.5 * std::erfc(-x * kInvSqrt2);
          const double phi = kInvSqrt2Pi * std::exp(-0.5 * x * x);
          H.data()[i] = x * Phi;
          D1->data()[i] = Phi + x * phi;
          if (D2) D2->data()[i] = phi * (2.0 - x * x);
        }
      } else {
        H.array() = z.unaryExpr([](double v) { return v * 0.5 * std::erfc(-v * kInvSqrt2); });
      }
      return;
  }
}

}  // namespace

double activate(Activation a, double x, double slope) {
  switch (a) {
    case Activation::identity: return x;
    case Activation::tanh: return std::tanh(x);
    case Activation::sigmoid: return sigmoid(x);
    case Activation::relu: return x > 0 ? x : 0.0;
    case Activation::leaky_relu: return x > 0 ? x : slope * x;
    case Activation::softplus: return softplus(x);
    case Activation::gelu: return x * 0.5 * std::erfc(-x * kInvSqrt2);
  }
  return 0.0;
}
double activate_d1(Activation a, double x, double slope) {
  switch (a) {
    case Activation::identity: return 1.0;
    case Activation::tanh: return 1.0 - std::tanh(x) * std::tanh(x);
    case Activation::sigmoid: return sigmoid(x) * (1.0 - sigmoid(x));
    case Activation::relu: return x > 0 ? 1.0 : 0.0;
    case Activation::leaky_relu: return x > 0 ? 1.0 : slope;
    case Activation::softplus: return sigmoid(x);
    case Activation::gelu: return 0.5 * std::erfc(-x * kInvSqrt2) + x * kInvSqrt2Pi * std::exp(-0.5 * x * x);
  }
  return 0.0;
}
double activate_d2(Activation a, double x, double) {
  switch (a) {
    case Activation::identity: case Activation::relu: case Activation::leaky_relu: return 0.0;
    case Activation::tanh: return -2.0 * std::tanh(x) * (1.0 - std::tanh(x) * std::tanh(x));
    case Activation::sigmoid: return sigmoid(x) * (1.0 - sigmoid(x)) * (1.0 - 2.0 * sigmoid(x));
    case Activation::softplus: return sigmoid(x) * (1.0 - sigmoid(x));
    case Activation::gelu: return kInvSqrt2Pi * std::exp(-0.5 * x * x) * (2.0 - x * x);
  }
  return 0.0;
}

bool NetworkOptions::IsValid(std::string* why) const {
  auto fail = [&](const std::string& message) {
    if (why) *why = message;
    return false;
  };
  if (widths.size() < 2)
    return fail("'widths' must list at least an input and an output width, got " + std::to_string(widths.size()) +
                " entries");
  for (std::size_t i = 0; i < widths.size(); ++i)
    if (widths[i] < 1 || static_cast<std::uint64_t>(widths[i]) > kMaxParameters)
      return fail("'widths[" + std::to_string(i) + "]' = " + std::to_string(widths[i]) + " must be in [1, " +
                  std::to_string(kMaxParameters) + "]");
  // Each term is ≤ 2^28·(2^28+1) < 2^57, so the running sum is checked before it can overflow.
  std::uint64_t count = 0;
  for (std::size_t l = 1; l < widths.size(); ++l) {
    const auto in = static_cast<std::uint64_t>(widths[l - 1]), out = static_cast<std::uint64_t>(widths[l]);
    count += out * in + (bias ? out : 0);
    if (count > kMaxParameters)
      return fail("'widths' claim more than " + std::to_string(kMaxParameters) + " parameters (the largest accepted)");
  }
  // Above 1e10 the penalty λ‖w‖²/2 outweighs any data loss by more than double precision resolves at
  // ‖w‖ ≥ 1e-3, and λ = 1e308 overflowed the loss to inf, failing later with a message naming nothing
  // (#17 item 20): refused here, where the field is known.
  if (!(weight_decay >= 0.0 && weight_decay <= 1e10))
    return fail("'weight_decay' = " + text::format_number(weight_decay) + " must be in [0, 1e10]");
  if (!std::isfinite(leaky_slope))
    return fail("'leaky_relu_slope' must be finite");
  if (loss == Loss::logistic && widths.back() != 1)
    return fail("loss 'logistic' needs an output width of 1, got " + std::to_string(widths.back()));
  if (loss == Loss::cross_entropy && widths.back() < 2)
    return fail("loss 'cross_entropy' needs an output width of at least 2, got " + std::to_string(widths.back()));
  return true;
}

std::int64_t NetworkOptions::parameter_count() const {
  std::int64_t count = 0;
  for (std::size_t l = 1; l < widths.size(); ++l) count += widths[l] * widths[l - 1] + (bias ? widths[l] : 0);
  return count;
}

Vector initial_parameters(const NetworkOptions& options, Init init, std::uint64_t seed, double sigma) {
  std::string why;
  if (!options.IsValid(&why)) throw std::invalid_argument(why);
  if (init == Init::normal && !(sigma > 0 && std::isfinite(sigma)))
    throw std::invalid_argument("initialisation 'normal' needs sigma > 0, got " + std::to_string(sigma));
  Vector theta = Vector::Zero(options.parameter_count());
  Index offset = 0;
  for (std::size_t l = 1; l < options.widths.size(); ++l) {
    const Index in = options.widths[l - 1], out = options.widths[l];
    const Index count = in * out + (options.bias ? out : 0);
    random::Rng rng(seed, l);
    for (Index i = 0; i < count; ++i) {
      const bool is_weight = i < in * out;
      double& p = theta[offset + i];
      switch (init) {
        case Init::xavier: {
          const double a = std::sqrt(6.0 / static_cast<double>(in + out));
          if (is_weight) p = a * (2.0 * rng.uniform() - 1.0);
          break;
        }
        case Init::he:
          if (is_weight) p = std::sqrt(2.0 / static_cast<double>(in)) * rng.normal();
          break;
        case Init::normal: p = sigma * rng.normal(); break;
        case Init::zeros: break;
      }
    }
    offset += count;
  }
  return theta;
}

// ---------------------------------------------------------------------------------------------------
// Workspaces. Index l runs over layers 1..L (entry 0 unused unless said). Shapes, with B the batch
// size, m the block width and B_s a shard's sample count:
//   Z[l], H[l], D1[l], D2[l], delta[l], G[l]   [d_l, B]            (Workspace: the point's state)
//   RZ[l], RH[l], Rdelta[l], RG[l]             [d_l, m·B_s]        (Shard: column block j ↔ vector j)
struct Network::Shard {
  Index begin = 0, count = 0;  // samples [begin, begin + count) of the batch
  std::vector<Matrix> RZ, RH, Rdelta, RG;
  // Sparsity of the current chunk (r_forward): slice[l·m + j] ≠ 0 when vector j has a nonzero entry in
  // layer l's parameters; live[l] ≠ 0 when R{z_l}, R{h_l} may be nonzero. Zero parts are skipped, which
  // is what makes dense-Hessian columns (one-hot vectors) cheaper.
  std::vector<char> slice, live;
  Matrix out;  // this shard's part of the product, n × (chunk width)
};

struct Network::Workspace {
  std::vector<Matrix> Z, H, D1, D2, delta, G;
  Matrix inputs, targets;  // gathered mini-batch, [d_0, B] and [k_y, B]
  Matrix dZ;               // ∂ℓ_i/∂z_L per sample (no 1/B), [d_L, B]
  Matrix loss_aux;         // softmax probabilities (cross_entropy) or sigmoid (logistic), [d_L, B]
  std::vector<Shard> shards;
  // What Z, H, D1, D2, dZ, loss_aux (and, when `backward_done`, delta and G) currently hold, for the
  // products to reuse at a fixed point: a copy of the point, the batch (empty with `full`), and the
  // forward level (−1: nothing reusable). Every forward pass clears it first; product() sets it after.
  Vector cached_point;
  std::vector<std::int64_t> cached_batch;
  bool cached_full = false, backward_done = false;
  int cached_level = -1;
  explicit Workspace(std::size_t layers)
      : Z(layers), H(layers), D1(layers), D2(layers), delta(layers), G(layers) {}
};

Network::Network(NetworkOptions options, io::DataArrays data) : options_(std::move(options)), data_(std::move(data)) {
  std::string why;
  if (!options_.IsValid(&why)) throw std::invalid_argument(why);
  const auto& w = options_.widths;
  const Index N = data_.X.rows();
  if (N < 1) throw std::invalid_argument("the data set has no samples");
  if (data_.y.rows() != N)
    throw std::invalid_argument("X has " + std::to_string(N) + " rows but y has " + std::to_string(data_.y.rows()));
  if (data_.X.cols() != w.front())
    throw std::invalid_argument("X has " + std::to_string(data_.X.cols()) + " columns but the input width is " +
                                std::to_string(w.front()));
  if (!data_.X.allFinite() || !data_.y.allFinite()) throw std::invalid_argument("the data set contains NaN or Inf");
  check_loss_targets(options_.loss, data_.y, w.back());
  inputs_ = data_.X.transpose();
  targets_ = data_.y.transpose();
  sample_count_ = N;
  parameter_count_ = options_.parameter_count();
  const std::size_t L = w.size() - 1;
  weight_offset_.assign(L + 1, 0);
  bias_offset_.assign(L + 1, 0);
  Index offset = 0;
  for (std::size_t l = 1; l <= L; ++l) {
    weight_offset_[l] = offset;
    offset += w[l] * w[l - 1];
    bias_offset_[l] = offset;
    if (options_.bias) offset += w[l];
  }
  ws_ = std::make_unique<Workspace>(L + 1);
}

Network::~Network() = default;

void Network::check_point(const Vector& x) const {
  if (x.size() != parameter_count_)
    throw std::invalid_argument(description() + ": point has " + std::to_string(x.size()) + " entries, expected " +
                                std::to_string(parameter_count_));
}

void Network::check_batch(Batch batch) const {
  if (batch.empty()) throw std::invalid_argument("mini-batch is empty");
  for (const std::int64_t i : batch)
    if (i < 0 || i >= sample_count_)
      throw std::invalid_argument("mini-batch index " + std::to_string(i) + " is outside [0, " +
                                  std::to_string(sample_count_) + ")");
}

namespace {
using ConstVectorMap = Eigen::Map<const Vector>;
using VectorMap = Eigen::Map<Vector>;
}  // namespace

// W_lᵀ viewed as a column-major [d_{l-1}, d_l] matrix over a parameter vector: the same bytes as the
// row-major [d_l, d_{l-1}] storage of W_l.
#define SC_WT(theta, l) ConstMatrixMap((theta) + weight_offset_[l], w[(l) - 1], w[l])
#define SC_WT_OUT(theta, l) MatrixMap((theta) + weight_offset_[l], w[(l) - 1], w[l])

void Network::gather(Batch batch, bool full, const Matrix*& inputs, const Matrix*& targets) const {
  if (full) {
    inputs = &inputs_;
    targets = &targets_;
    return;
  }
  Workspace& ws = *ws_;
  const Index B = static_cast<Index>(batch.size());
  ws.inputs.resize(inputs_.rows(), B);
  ws.targets.resize(targets_.rows(), B);
  for (Index i = 0; i < B; ++i) {
    ws.inputs.col(i) = inputs_.col(batch[i]);
    ws.targets.col(i) = targets_.col(batch[i]);
  }
  inputs = &ws.inputs;
  targets = &ws.targets;
}

double Network::forward(const double* theta, const Matrix& inputs, const Matrix& targets, int level) const {
  Workspace& ws = *ws_;
  ws.cached_level = -1;  // the state is about to change: nothing is reusable until product() says so
  const auto& w = options_.widths;
  const std::size_t L = w.size() - 1;
  const Index B = inputs.cols();
  const Matrix* prev = &inputs;
  for (std::size_t l = 1; l <= L; ++l) {
    ws.Z[l].noalias() = SC_WT(theta, l).transpose() * (*prev);
    if (options_.bias) ws.Z[l].colwise() += ConstVectorMap(theta + bias_offset_[l], w[l]);
    if (l < L) {
      apply_activation(options_.activation, options_.leaky_slope, ws.Z[l], ws.H[l], level >= 1 ? &ws.D1[l] : nullptr,
                       level >= 2 ? &ws.D2[l] : nullptr);
      if (residual_at(l)) ws.H[l] += *prev;
      prev = &ws.H[l];
    }
  }
  const Matrix& z = ws.Z[L];
  const Index k = w[L];
  ws.dZ.resize(k, B);
  ws.loss_aux.resize(k, B);
  return loss_forward(options_.loss, z, targets, ws.dZ, ws.loss_aux);
}

void Network::backward(const double* theta, const Matrix& inputs, double scale, double* grad) const {
  Workspace& ws = *ws_;
  const auto& w = options_.widths;
  const std::size_t L = w.size() - 1;
  ws.delta[L] = scale * ws.dZ;
  for (std::size_t l = L; l >= 1; --l) {
    const Matrix& prev = l > 1 ? ws.H[l - 1] : inputs;
    if (grad) {
      SC_WT_OUT(grad, l).noalias() = prev * ws.delta[l].transpose();
      if (options_.bias) VectorMap(grad + bias_offset_[l], w[l]).noalias() = ws.delta[l].rowwise().sum();
    }
    if (l > 1) {
      ws.G[l - 1].noalias() = SC_WT(theta, l) * ws.delta[l];
      if (residual_at(l)) ws.G[l - 1] += ws.G[l];
      ws.delta[l - 1] = ws.G[l - 1].cwiseProduct(ws.D1[l - 1]);
    }
  }
}

void Network::r_forward(const double* theta, const Matrix& inputs, Shard& sh, const double* V, Index m) const {
  const Workspace& ws = *ws_;
  const auto& w = options_.widths;
  const std::size_t L = w.size() - 1;
  const Index c0 = sh.begin, B = sh.count, n = parameter_count_;
  sh.live.assign(L + 1, 0);
  sh.slice.assign((L + 1) * static_cast<std::size_t>(m), 0);
  for (std::size_t l = 1; l <= L; ++l) {
    const Index layer_size = w[l] * w[l - 1] + (options_.bias ? w[l] : 0);
    bool any = false;
    for (Index j = 0; j < m; ++j) {
      const bool nonzero = (ConstVectorMap(V + j * n + weight_offset_[l], layer_size).array() != 0.0).any();
      sh.slice[l * m + j] = nonzero;
      any = any || nonzero;
    }
    const bool below = l > 1 && sh.live[l - 1];
    sh.live[l] = below || any;
    if (!sh.live[l]) continue;
    const auto prev = (l > 1 ? ws.H[l - 1] : inputs).middleCols(c0, B);
    if (below) sh.RZ[l].leftCols(m * B).noalias() = SC_WT(theta, l).transpose() * sh.RH[l - 1].leftCols(m * B);
    for (Index j = 0; j < m; ++j) {
      auto block = sh.RZ[l].middleCols(j * B, B);
      if (!sh.slice[l * m + j]) {
        if (!below) block.setZero();
        continue;
      }
      const double* v = V + j * n;
      // Assigned rather than zeroed and accumulated when nothing comes from below (the first layer).
      if (below)
        block.noalias() += SC_WT(v, l).transpose() * prev;
      else
        block.noalias() = SC_WT(v, l).transpose() * prev;
      if (options_.bias) block.colwise() += ConstVectorMap(v + bias_offset_[l], w[l]);
    }
    if (l < L) {
      const auto D1 = ws.D1[l].middleCols(c0, B);
      for (Index j = 0; j < m; ++j) sh.RH[l].middleCols(j * B, B) = D1.cwiseProduct(sh.RZ[l].middleCols(j * B, B));
      if (residual_at(l) && below) sh.RH[l].leftCols(m * B) += sh.RH[l - 1].leftCols(m * B);
    }
  }
}

void Network::r_loss(Product which, Shard& sh, Index m, double inv_B) const {
  const Workspace& ws = *ws_;
  const std::size_t L = options_.widths.size() - 1;
  const Index c0 = sh.begin, B = sh.count;
  const Matrix& RZ = sh.RZ[L];
  Matrix& Rd = sh.Rdelta[L];
  if (which == Product::fisher) {
    // g_i·v = ∂ℓ_i/∂z · J_i v, so F v = (1/B) Σ_i J_iᵀ ∂ℓ_i/∂z (g_i·v): a backward pass of these rows.
    for (Index j = 0; j < m; ++j)
      for (Index i = 0; i < B; ++i)
        Rd.col(j * B + i) = ws.dZ.col(c0 + i) * (inv_B * ws.dZ.col(c0 + i).dot(RZ.col(j * B + i)));
    return;
  }
  // Hessian of the loss in the logits, per sample, applied to R{z_L} (the shard's samples' auxiliaries).
  loss_hessian_product(options_.loss, ws.loss_aux.middleCols(c0, B), RZ.leftCols(m * B), inv_B, Rd.leftCols(m * B));
}

void Network::r_backward(const double* theta, const Matrix& inputs, Shard& sh, const double* V, Index m,
                         bool second_order, double* out) const {
  const Workspace& ws = *ws_;
  const auto& w = options_.widths;
  const std::size_t L = w.size() - 1;
  const Index c0 = sh.begin, B = sh.count, n = parameter_count_;
  for (std::size_t l = L; l >= 1; --l) {
    const auto prev = (l > 1 ? ws.H[l - 1] : inputs).middleCols(c0, B);
    const auto delta = ws.delta[l].middleCols(c0, B);
    for (Index j = 0; j < m; ++j) {
      double* o = out + j * n;
      const auto Rdelta = sh.Rdelta[l].middleCols(j * B, B);
      SC_WT_OUT(o, l).noalias() = prev * Rdelta.transpose();
      if (second_order && l > 1 && sh.live[l - 1])
        SC_WT_OUT(o, l).noalias() += sh.RH[l - 1].middleCols(j * B, B) * delta.transpose();
      if (options_.bias) VectorMap(o + bias_offset_[l], w[l]).noalias() = Rdelta.rowwise().sum();
    }
    if (l > 1) {
      sh.RG[l - 1].leftCols(m * B).noalias() = SC_WT(theta, l) * sh.Rdelta[l].leftCols(m * B);
      if (second_order)
        for (Index j = 0; j < m; ++j)
          if (sh.slice[l * m + j]) sh.RG[l - 1].middleCols(j * B, B).noalias() += SC_WT(V + j * n, l) * delta;
      if (residual_at(l)) sh.RG[l - 1].leftCols(m * B) += sh.RG[l].leftCols(m * B);
      const auto D1 = ws.D1[l - 1].middleCols(c0, B);
      for (Index j = 0; j < m; ++j) {
        auto Rd = sh.Rdelta[l - 1].middleCols(j * B, B);
        Rd = sh.RG[l - 1].middleCols(j * B, B).cwiseProduct(D1);
        if (second_order && sh.live[l - 1])
          Rd.array() += ws.G[l - 1].middleCols(c0, B).array() * ws.D2[l - 1].middleCols(c0, B).array() *
                        sh.RZ[l - 1].middleCols(j * B, B).array();
      }
    }
  }
}

double Network::evaluate(const Vector& x, Batch batch, bool full, Vector* gradient) const {
  check_point(x);
  const Matrix *inputs = nullptr, *targets = nullptr;
  gather(batch, full, inputs, targets);
  const double B = static_cast<double>(inputs->cols());
  const double sum = forward(x.data(), *inputs, *targets, gradient ? 1 : 0);
  const double lambda = options_.weight_decay;
  double value = sum / B;
  if (lambda != 0.0) value += 0.5 * lambda * x.squaredNorm();
  if (gradient) {
    gradient->resize(parameter_count_);
    backward(x.data(), *inputs, 1.0 / B, gradient->data());
    if (lambda != 0.0) *gradient += lambda * x;
  }
  return value;
}

void Network::product(Product which, const Vector& x, Batch batch, bool full, const Matrix& V, Matrix& out) const {
  check_point(x);
  if (V.rows() != parameter_count_)
    throw std::invalid_argument(description() + ": vector block has " + std::to_string(V.rows()) + " rows, expected " +
                                std::to_string(parameter_count_));
  out.resize(parameter_count_, V.cols());
  if (V.cols() == 0) return;
  Workspace& ws = *ws_;
  const Matrix *inputs = nullptr, *targets = nullptr;
  const int level = which == Product::hessian ? 2 : 1;
  const bool need_backward = which == Product::hessian;
  // The forward pass, its derivatives and the backward pass do not depend on V: a Lanczos run, SLQ or
  // Hutchinson asks for many products at one point, and pays for them once. Reused only when the point
  // and the batch are bitwise the ones they were computed for (compared, O(n + B), not assumed).
  const bool reuse = ws.cached_level >= level && (ws.backward_done || !need_backward) && ws.cached_full == full &&
                     ws.cached_point.size() == x.size() &&
                     std::equal(x.data(), x.data() + x.size(), ws.cached_point.data()) &&
                     (full || std::equal(batch.begin(), batch.end(), ws.cached_batch.begin(), ws.cached_batch.end()));
  if (reuse) {
    inputs = full ? &inputs_ : &ws.inputs;
    targets = full ? &targets_ : &ws.targets;
  } else {
    gather(batch, full, inputs, targets);
  }
  const Index B = inputs->cols();
  const double inv_B = 1.0 / static_cast<double>(B);
  const std::size_t L = options_.widths.size() - 1;
  if (!reuse) {
    forward(x.data(), *inputs, *targets, level);
    if (need_backward) backward(x.data(), *inputs, inv_B, nullptr);
    ws.cached_point = x;
    if (full)
      ws.cached_batch.clear();
    else
      ws.cached_batch.assign(batch.begin(), batch.end());
    ws.cached_full = full;
    ws.backward_done = need_backward;
    ws.cached_level = level;
  }
  // The R-passes run over shards of the batch (kShardSamples samples each, a count fixed by the batch
  // alone, so the partial sums — added in shard order — give the same bits for any thread count), in
  // parallel when threads are available, and over chunks of the block whose workspaces stay
  // cache-sized (see r_chunk_columns); the forward and backward passes above are shared by all.
  // Workspaces are sized for a full chunk once; a shorter last chunk uses their left columns, so
  // repeated calls of the same shape do not allocate.
  const Index shard_count = std::max<Index>(1, (B + kShardSamples / 2) / kShardSamples);
  if (static_cast<Index>(ws.shards.size()) != shard_count) ws.shards.assign(static_cast<std::size_t>(shard_count), Shard{});
  Index largest = 0;
  for (Index s = 0; s < shard_count; ++s) {
    Shard& sh = ws.shards[static_cast<std::size_t>(s)];
    sh.begin = s * B / shard_count;
    sh.count = (s + 1) * B / shard_count - sh.begin;
    largest = std::max(largest, sh.count);
  }
  const Index chunk = std::min(r_chunk_columns(largest), V.cols());
  for (Shard& sh : ws.shards) {
    for (std::vector<Matrix>* r : {&sh.RZ, &sh.RH, &sh.Rdelta, &sh.RG}) r->resize(L + 1);
    for (std::size_t l = 1; l <= L; ++l)
      for (Matrix* r : {&sh.RZ[l], &sh.RH[l], &sh.Rdelta[l], &sh.RG[l]})
        if (r->rows() != options_.widths[l] || r->cols() < chunk * sh.count) r->resize(options_.widths[l], chunk * sh.count);
    if (sh.out.rows() != parameter_count_ || sh.out.cols() < chunk) sh.out.resize(parameter_count_, chunk);
  }
  // The thread budget is the process's (--threads, set through Eigen::setNbThreads by cli::set_threads):
  // not the OpenMP ICV, which worker std::threads of find-critical / loss-slice would read as "all
  // cores"; and never a nested team inside someone else's parallel region.
  const int threads = omp_in_parallel() ? 1 : static_cast<int>(std::min<Index>(shard_count, Eigen::nbThreads()));
  for (Index start = 0; start < V.cols(); start += chunk) {
    const Index m = std::min(chunk, V.cols() - start);
    const double* v = V.data() + start * parameter_count_;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (Index s = 0; s < shard_count; ++s) {
      Shard& sh = ws.shards[static_cast<std::size_t>(s)];
      r_forward(x.data(), *inputs, sh, v, m);
      if (!sh.live[L]) continue;  // every vector of the chunk is zero
      r_loss(which, sh, m, inv_B);
      r_backward(x.data(), *inputs, sh, v, m, which == Product::hessian, sh.out.data());
    }
    auto dst = out.middleCols(start, m);
    if (!ws.shards[0].live[L]) {
      dst.setZero();
      continue;
    }
    dst = ws.shards[0].out.leftCols(m);
    for (Index s = 1; s < shard_count; ++s) dst += ws.shards[static_cast<std::size_t>(s)].out.leftCols(m);
  }
  if (which != Product::fisher && options_.weight_decay != 0.0) out += options_.weight_decay * V;
}

#undef SC_WT
#undef SC_WT_OUT

// R-workspace bytes per column of a block: RZ, RH, R{δ}, R{g}, each B·Σd_l doubles. Chunks keep them
// under ~8 MiB (measured on the small benchmark model: per-vector cost triples once the R-matrices
// outgrow the cache), at least one column and at most 64.
Index Network::r_chunk_columns(Index batch) const {
  std::int64_t width_sum = 0;
  for (const auto w : options_.widths) width_sum += w;
  const std::int64_t per_column = 4 * batch * width_sum * static_cast<std::int64_t>(sizeof(double));
  return std::clamp<Index>((std::int64_t{8} << 20) / std::max<std::int64_t>(1, per_column), 1, 64);
}

// The dense Hessian's blocks share one forward and backward pass over all their columns; the product
// chunks them internally, so a wide block costs no cache.
Index Network::hessian_block_columns() const { return 128; }

Matrix Network::outputs(const Vector& x) const {
  check_point(x);
  forward(x.data(), inputs_, targets_, 0);
  return ws_->Z[options_.widths.size() - 1].transpose();
}

double Network::value(const Vector& x) const { return evaluate(x, {}, true, nullptr); }
double Network::gradient(const Vector& x, Vector& g) const { return evaluate(x, {}, true, &g); }
void Network::hessian_vector_product(const Vector& x, const Matrix& V, Matrix& HV) const {
  product(Product::hessian, x, {}, true, V, HV);
}
void Network::gauss_newton_vector_product(const Vector& x, const Matrix& V, Matrix& GV) const {
  product(Product::gauss_newton, x, {}, true, V, GV);
}
void Network::fisher_vector_product(const Vector& x, const Matrix& V, Matrix& FV) const {
  product(Product::fisher, x, {}, true, V, FV);
}
double Network::batch_value(const Vector& x, Batch batch) const {
  check_batch(batch);
  return evaluate(x, batch, false, nullptr);
}
double Network::batch_gradient(const Vector& x, Batch batch, Vector& g) const {
  check_batch(batch);
  return evaluate(x, batch, false, &g);
}
void Network::batch_hessian_vector_product(const Vector& x, Batch batch, const Matrix& V, Matrix& HV) const {
  check_batch(batch);
  product(Product::hessian, x, batch, false, V, HV);
}

std::vector<objective::Objective::Block> Network::parameter_blocks() const {
  std::vector<Block> blocks;
  const auto& w = options_.widths;
  for (std::size_t l = 1; l < w.size(); ++l) {
    blocks.push_back({"layer" + std::to_string(l) + ".weight", weight_offset_[l], w[l] * w[l - 1]});
    if (options_.bias) blocks.push_back({"layer" + std::to_string(l) + ".bias", bias_offset_[l], w[l]});
  }
  return blocks;
}

nlohmann::json Network::spec() const {
  const auto& o = options_;
  nlohmann::json s = {{"kind", o.kind}};
  if (o.kind == "linear_regression") {
    s["inputs"] = o.widths.front();
    s["outputs"] = o.widths.back();
    s["bias"] = o.bias;
  } else if (o.kind == "logistic_regression") {
    s["inputs"] = o.widths.front();
    s["classes"] = o.loss == Loss::logistic ? 2 : o.widths.back();
    s["bias"] = o.bias;
  } else if (o.kind == "deep_linear") {
    s["widths"] = o.widths;
  } else {
    s["widths"] = o.widths;
    s["activation"] = to_string(o.activation);
    s["loss"] = to_string(o.loss);
    s["bias"] = o.bias;
    s["residual"] = o.residual;
    if (o.activation == Activation::leaky_relu) s["leaky_relu_slope"] = o.leaky_slope;
  }
  s["weight_decay"] = o.weight_decay;
  s["parameters"] = parameter_count_;
  return s;
}

std::string Network::description() const {
  const auto& o = options_;
  std::ostringstream out;
  out << o.kind << "[";
  for (std::size_t i = 0; i < o.widths.size(); ++i) out << (i ? "," : "") << o.widths[i];
  out << "]";
  if (o.kind == "mlp") out << " " << to_string(o.activation) << (o.residual ? " residual" : "");
  if (o.kind == "mlp" || o.kind == "logistic_regression") out << " " << to_string(o.loss);
  if (o.weight_decay != 0.0) out << " wd=" << o.weight_decay;
  return out.str();
}

// K-FAC factors (objective/kronecker.h). One forward pass; then the δ columns of the chosen kind are
// back-propagated through the layers as in backward(), with the columns of factor c of sample i at
// position c·B + i so that the activation derivatives D1 [d, B] apply block by block.
std::vector<objective::KroneckerLayer> Network::kronecker_factors(const Vector& x, objective::KroneckerFisher which,
                                                                  std::uint64_t seed, Batch batch) const {
  check_point(x);
  const bool full = batch.empty();
  if (!full) check_batch(batch);
  const Matrix* inputs = nullptr;
  const Matrix* targets = nullptr;
  gather(batch, full, inputs, targets);
  const double* theta = x.data();
  forward(theta, *inputs, *targets, 1);
  const Workspace& ws = *ws_;
  const auto& w = options_.widths;
  const std::size_t L = w.size() - 1;
  const Index B = inputs->cols();

  // δ_L: [k, c·B] for c factor columns per sample.
  random::Rng rng(seed, 0);
  Matrix delta = kronecker_deltas(options_.loss, which, ws.dZ, ws.loss_aux, rng);

  const double inv_b = 1.0 / static_cast<double>(B);
  const Index blocks = delta.cols() / B;
  std::vector<objective::KroneckerLayer> layers(L);
  Matrix grad_h, grad_h_prev;  // ∂/∂h_l of the δ columns, [d_l, blocks·B]
  for (std::size_t l = L; l >= 1; --l) {
    const Matrix& prev = l > 1 ? ws.H[l - 1] : *inputs;
    objective::KroneckerLayer& layer = layers[l - 1];
    layer.name = "layer" + std::to_string(l);
    layer.out = w[l];
    layer.in = w[l - 1];
    layer.weight_offset = weight_offset_[l];
    layer.bias_offset = options_.bias ? bias_offset_[l] : -1;
    const Index in = w[l - 1];
    layer.A.resize(layer.in_total(), layer.in_total());
    layer.A.topLeftCorner(in, in).noalias() = inv_b * prev * prev.transpose();
    if (options_.bias) {
      const Vector mean = inv_b * prev.rowwise().sum();
      layer.A.block(0, in, in, 1) = mean;
      layer.A.block(in, 0, 1, in) = mean.transpose();
      layer.A(in, in) = 1.0;
    }
    layer.G.noalias() = inv_b * delta * delta.transpose();
    if (l > 1) {
      grad_h_prev.noalias() = ConstMatrixMap(theta + weight_offset_[l], w[l - 1], w[l]) * delta;  // W_lᵀ δ_l
      if (residual_at(l)) grad_h_prev += grad_h;
      delta.resize(w[l - 1], blocks * B);
      for (Index c = 0; c < blocks; ++c)
        delta.middleCols(c * B, B) = grad_h_prev.middleCols(c * B, B).cwiseProduct(ws.D1[l - 1]);
      grad_h.swap(grad_h_prev);
    }
  }
  return layers;
}

}  // namespace saddlescope::models
