#include "models/graph/engine.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <stdexcept>

#include "models/graph/plan.h"
#include "models/loss.h"
#include "random/random.h"

namespace saddlescope::models::graph {

using detail::Buffers;
using detail::Compiled;

bool GraphOptions::IsValid(std::string* why) const {
  auto fail = [&](const std::string& message) {
    if (why) *why = message;
    return false;
  };
  if (!std::isfinite(weight_decay) || weight_decay < 0)
    return fail("'weight_decay' must be finite and >= 0, got " + std::to_string(weight_decay));
  if (workspace_budget_bytes < (std::int64_t{1} << 20))
    return fail("'workspace_budget_bytes' must be >= 1 MiB, got " + std::to_string(workspace_budget_bytes));
  return true;
}

// The IR, the data in the engine's layout and the compiled plans, one per (batch size, mode).
struct GraphObjective::Plan {
  GraphIR ir;
  Index n = 0;
  std::int64_t sample_size = 0;  // d, elements of one sample
  std::int64_t outputs = 0;      // k
  // Samples per pass when the samples are independent (no train-mode batch norm): larger batches are
  // evaluated in chunks of this many samples and summed, so memory does not grow with the data set.
  // 0: the graph couples the samples and every batch is one pass.
  std::int64_t chunk = 0;
  std::vector<double> inputs;    // X row-major [N, d]
  Matrix targets;                // y transposed [k_y, N]
  std::map<std::pair<std::int64_t, int>, std::unique_ptr<Compiled>> compiled;
  std::map<std::pair<std::int64_t, int>, std::vector<detail::BatchNormInfo>> batch_norms;
  bool fuse = true;  // GraphOptions::fuse_steps

  const Compiled& get(std::int64_t batch, BatchNormMode mode) {
    const auto key = std::make_pair(batch, static_cast<int>(mode));
    auto it = compiled.find(key);
    if (it == compiled.end()) it = compiled.emplace(key, detail::compile(ir, batch, mode, &batch_norms[key], fuse)).first;
    return *it->second;
  }
};

// Workspaces and the fixed-point cache: what the last (x, batch, plan) computed.
struct GraphObjective::State {
  Buffers buffers;
  const Compiled* at = nullptr;
  Vector x;
  std::vector<std::int64_t> batch;  // empty for the full data set
  int level = 0;                    // 1: forward and loss done, 2: the adjoints products read, 3: every adjoint
  double seed_scale = 0.0;          // the backward pass's seed: dZ times this (1 / the batch's size)
  double loss_sum = 0.0;
  Matrix targets, dZ, aux, R;
};

GraphObjective::GraphObjective(GraphIR ir, GraphOptions options, io::DataArrays data)
    : options_(std::move(options)), data_(std::move(data)), plan_(std::make_unique<Plan>()),
      state_(std::make_unique<State>()) {
  std::string why;
  if (!options_.IsValid(&why)) throw std::invalid_argument(why);
  Plan& p = *plan_;
  p.ir = std::move(ir);
  p.fuse = options_.fuse_steps;
  const Index N = data_.X.rows();
  if (N < 1) throw std::invalid_argument("the data set has no samples");
  if (data_.y.rows() != N)
    throw std::invalid_argument("X has " + std::to_string(N) + " rows but y has " + std::to_string(data_.y.rows()));
  if (!data_.X.allFinite() || !data_.y.allFinite()) throw std::invalid_argument("the data set contains NaN or Inf");
  const auto& shape = p.ir.input.shape;
  if (shape.size() < 2) throw std::invalid_argument("graph input '" + p.ir.input.name + "' needs a batch extent and a per-sample shape");
  p.sample_size = 1;
  for (std::size_t i = 1; i < shape.size(); ++i) {
    if (shape[i] < 1 || static_cast<std::uint64_t>(shape[i]) > io::kMaxElementsPerDataset / static_cast<std::uint64_t>(p.sample_size))
      throw std::invalid_argument("graph input '" + p.ir.input.name + "' has an invalid per-sample shape");
    p.sample_size *= shape[i];
  }
  if (data_.X.cols() != p.sample_size)
    throw std::invalid_argument("X has " + std::to_string(data_.X.cols()) + " columns but the graph input '" +
                                p.ir.input.name + "' has " + std::to_string(p.sample_size) + " elements per sample");
  std::uint64_t count = 0;
  for (const auto& t : p.ir.parameters) {
    for (const auto e : t.value.shape)
      if (e < 0) throw std::invalid_argument("parameter '" + t.name + "' has a negative extent");
    count += static_cast<std::uint64_t>(t.value.element_count());
    if (count > kMaxParameters) throw std::invalid_argument("the graph has more than " + std::to_string(kMaxParameters) + " parameters");
  }
  p.n = static_cast<Index>(count);
  // A plan for two samples gives the output width, whether batch norm couples the samples, and the
  // memory one sample needs (values, adjoints, one lane of tangents and R-adjoints).
  const std::int64_t probe_batch = std::min<std::int64_t>(N, 2);
  const Compiled& probe = p.get(probe_batch, options_.batch_norm_mode);
  p.outputs = probe.values[probe.output].shape[1];
  bool coupled = false;
  std::int64_t per_sample = 0;
  for (const auto& s : probe.steps) coupled = coupled || (s.kind == detail::StepKind::normalize && s.norm.batch_norm >= 0);
  for (const auto& v : probe.values)
    if (!v.unused && (v.kind == detail::ValueKind::computed || v.kind == detail::ValueKind::input))
      per_sample += v.numel * (v.active ? 4 : 1);
  per_sample = std::max<std::int64_t>(1, per_sample * static_cast<std::int64_t>(sizeof(double)) / probe_batch);
  p.chunk = coupled ? 0 : std::clamp<std::int64_t>(options_.workspace_budget_bytes / per_sample, 1, N);
  if (coupled) p.get(N, options_.batch_norm_mode);  // every shape checked at the size it will run
  check_loss_targets(options_.loss, data_.y, p.outputs);
  p.inputs.resize(static_cast<std::size_t>(N * p.sample_size));
  Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(p.inputs.data(), N, p.sample_size) = data_.X;
  p.targets = data_.y.transpose();
}

GraphObjective::~GraphObjective() = default;

Index GraphObjective::dim() const { return plan_->n; }
std::int64_t GraphObjective::sample_count() const { return data_.X.rows(); }
const GraphIR& GraphObjective::ir() const { return plan_->ir; }
std::int64_t GraphObjective::samples_per_pass() const { return plan_->chunk == 0 ? sample_count() : plan_->chunk; }
const std::vector<NamedTensor>& GraphObjective::buffers() const { return plan_->ir.buffers; }

void GraphObjective::set_buffers(std::vector<NamedTensor> buffers) {
  auto& mine = plan_->ir.buffers;
  if (buffers.size() != mine.size())
    throw std::invalid_argument("expected " + std::to_string(mine.size()) + " buffers, got " + std::to_string(buffers.size()));
  for (std::size_t i = 0; i < mine.size(); ++i) {
    const auto& b = buffers[i];
    if (b.name != mine[i].name || b.value.shape != mine[i].value.shape || b.value.f64.size() != mine[i].value.f64.size())
      throw std::invalid_argument("buffer " + std::to_string(i) + " ('" + b.name + "') does not match '" + mine[i].name + "'");
    for (const double v : b.value.f64)
      if (!std::isfinite(v)) throw std::invalid_argument("buffer '" + b.name + "' contains NaN or Inf");
  }
  // In place: compiled plans point at these values.
  for (std::size_t i = 0; i < mine.size(); ++i) std::copy(buffers[i].value.f64.begin(), buffers[i].value.f64.end(), mine[i].value.f64.begin());
  state_->at = nullptr;
}

bool GraphObjective::trains_state() const {
  return options_.batch_norm_mode == BatchNormMode::train && !plan_->ir.buffers.empty();
}

std::map<std::string, Vector> GraphObjective::state() const {
  std::map<std::string, Vector> out;
  for (const auto& b : plan_->ir.buffers)
    out.emplace(b.name, Eigen::Map<const Vector>(b.value.f64.data(), static_cast<Index>(b.value.f64.size())));
  return out;
}

namespace {
void check_batch(Batch batch, std::int64_t N) {
  if (batch.empty()) throw std::invalid_argument("mini-batch is empty");
  for (const std::int64_t i : batch)
    if (i < 0 || i >= N)
      throw std::invalid_argument("mini-batch index " + std::to_string(i) + " is outside [0, " + std::to_string(N) + ")");
}
}  // namespace

namespace {
// Forward pass and loss at (x, batch) under `mode`, then the backward pass when `level` is 2 (the
// adjoints Hessian products read) or 3 (every adjoint: the gradient); reuses
// what the last call computed at the same point, batch and plan (the fixed-point cache).
const Compiled& prepare_point(GraphObjective::Plan& p, GraphObjective::State& st, const GraphOptions& options,
                              const Vector& x, Batch batch, bool full, BatchNormMode mode, int level, std::int64_t N,
                              double seed_scale) {
  const std::int64_t B = full ? N : static_cast<std::int64_t>(batch.size());
  const Compiled& c = p.get(B, mode);
  const bool same = st.at == &c && st.level >= 1 && st.x.size() == x.size() &&
                    std::memcmp(st.x.data(), x.data(), sizeof(double) * static_cast<std::size_t>(x.size())) == 0 &&
                    (full ? st.batch.empty() : std::equal(batch.begin(), batch.end(), st.batch.begin(), st.batch.end()));
  Buffers& b = st.buffers;
  if (!same) {
    st.at = nullptr;
    detail::size_buffers(c, 0, b);
    double* in = b.value[c.input].data();
    const std::int64_t d = p.sample_size;
    if (full) {
      std::memcpy(in, p.inputs.data(), sizeof(double) * static_cast<std::size_t>(N * d));
      st.targets = p.targets;
      st.batch.clear();
    } else {
      st.targets.resize(p.targets.rows(), B);
      for (std::int64_t i = 0; i < B; ++i) {
        std::memcpy(in + i * d, p.inputs.data() + batch[i] * d, sizeof(double) * static_cast<std::size_t>(d));
        st.targets.col(i) = p.targets.col(batch[i]);
      }
      st.batch.assign(batch.begin(), batch.end());
    }
    detail::forward_pass(c, x.data(), b);
    const std::int64_t k = p.outputs;
    st.dZ.resize(k, B);
    st.aux.resize(k, B);
    const Eigen::Map<const Matrix> z(b.value[c.output].data(), k, B);
    st.loss_sum = loss_forward(options.loss, z, st.targets, st.dZ, st.aux);
    st.x = x;
    st.at = &c;
    st.level = 1;
  }
  if (level >= 2 && (st.level < level || st.seed_scale != seed_scale)) {
    Eigen::Map<Matrix>(b.adjoint[c.output].data(), p.outputs, B) = st.dZ * seed_scale;
    st.seed_scale = seed_scale;
    detail::backward_pass(c, x.data(), b, level >= 3);
    st.level = level;
  }
  return c;
}
}  // namespace

void GraphObjective::check_point(const Vector& x) const {
  if (x.size() != plan_->n)
    throw std::invalid_argument(description() + ": point has " + std::to_string(x.size()) + " entries, expected " + std::to_string(plan_->n));
}

namespace {
// The passes a batch is evaluated in: the whole batch, or consecutive chunks of `chunk` samples.
struct Passes {
  std::int64_t total = 0, chunk = 0;
  std::vector<std::int64_t> indices;  // a chunk's sample indices
  // The fewest passes of at most `limit` samples, as equal as possible: 32 samples under a limit of 30
  // run as 16 + 16, not 30 + 2 — one compiled plan and one buffer size for both passes (alternating
  // plans re-zeroed the workspaces on every call: 6% of the transformer's HVP, docs/graph.md).
  static Passes over(std::int64_t total, std::int64_t limit) {
    const std::int64_t count = (total + limit - 1) / limit;
    return Passes{total, (total + count - 1) / count, {}};
  }
  std::int64_t count() const { return (total + chunk - 1) / chunk; }
  Batch slice(Batch batch, bool full, std::int64_t k) {
    const std::int64_t begin = k * chunk, end = std::min(total, begin + chunk);
    indices.resize(static_cast<std::size_t>(end - begin));
    for (std::int64_t i = begin; i < end; ++i) indices[i - begin] = full ? i : batch[i];
    return indices;
  }
};
}  // namespace

double GraphObjective::evaluate(const Vector& x, Batch batch, bool full, Vector* gradient) const {
  check_point(x);
  if (!full) check_batch(batch, sample_count());
  State& st = *state_;
  const std::int64_t total = full ? sample_count() : static_cast<std::int64_t>(batch.size());
  const double scale = 1.0 / static_cast<double>(total);
  const int level = gradient ? 3 : 1;
  if (gradient) gradient->setZero(plan_->n);
  double loss_sum = 0.0;
  auto accumulate = [&](const Compiled& c) {
    loss_sum += st.loss_sum;
    if (!gradient) return;
    for (std::size_t v = 0; v < c.values.size(); ++v) {
      const auto& info = c.values[v];
      if (info.kind != detail::ValueKind::parameter) continue;
      gradient->segment(info.offset, info.numel) += Eigen::Map<const Vector>(st.buffers.adjoint[v].data(), info.numel);
    }
  };
  if (plan_->chunk == 0 || plan_->chunk >= total) {
    accumulate(prepare_point(*plan_, st, options_, x, batch, full, options_.batch_norm_mode, level, sample_count(), scale));
  } else {
    Passes passes = Passes::over(total, plan_->chunk);
    for (std::int64_t k = 0; k < passes.count(); ++k)
      accumulate(prepare_point(*plan_, st, options_, x, passes.slice(batch, full, k), false, options_.batch_norm_mode, level,
                               sample_count(), scale));
  }
  const double lambda = options_.weight_decay;
  double value = loss_sum * scale;
  if (lambda != 0.0) value += 0.5 * lambda * x.squaredNorm();
  if (gradient && lambda != 0.0) *gradient += lambda * x;
  return value;
}

void GraphObjective::product(Product which, const Vector& x, Batch batch, bool full, const Matrix& V, Matrix& out) const {
  const Index n = plan_->n;
  check_point(x);
  if (V.rows() != n)
    throw std::invalid_argument(description() + ": vector block has " + std::to_string(V.rows()) + " rows, expected " + std::to_string(n));
  if (!full) check_batch(batch, sample_count());
  out.setZero(n, V.cols());
  if (V.cols() == 0) return;
  const std::int64_t total = full ? sample_count() : static_cast<std::int64_t>(batch.size());
  if (plan_->chunk == 0 || plan_->chunk >= total) {
    product_pass(which, x, batch, full, 1.0 / static_cast<double>(total), V, out);
  } else {
    Passes passes = Passes::over(total, plan_->chunk);
    for (std::int64_t k = 0; k < passes.count(); ++k)
      product_pass(which, x, passes.slice(batch, full, k), false, 1.0 / static_cast<double>(total), V, out);
  }
  if (which != Product::fisher && options_.weight_decay != 0.0) out += options_.weight_decay * V;
}

void GraphObjective::product_pass(Product which, const Vector& x, Batch batch, bool full, double scale, const Matrix& V,
                                  Matrix& out) const {
  const Index n = plan_->n;
  State& st = *state_;
  const bool hessian = which == Product::hessian;
  const Compiled& c = prepare_point(*plan_, st, options_, x, batch, full, options_.batch_norm_mode, hessian ? 2 : 1, sample_count(), scale);
  Buffers& b = st.buffers;
  const std::int64_t B = c.batch, k = plan_->outputs;
  // Lanes per chunk: the tangents and R-adjoints of every active value, m copies each.
  const std::int64_t per_lane = 2 * c.active_numel * static_cast<std::int64_t>(sizeof(double));
  const Index chunk = std::clamp<Index>(options_.workspace_budget_bytes / std::max<std::int64_t>(per_lane, 1), 1, V.cols());
  detail::size_buffers(c, chunk, b);
  for (Index start = 0; start < V.cols(); start += chunk) {
    const Index m = std::min(chunk, V.cols() - start);
    detail::tangent_pass(c, x.data(), V.data() + start * n, n, m, b);
    const Eigen::Map<const Matrix> R(b.tangent[c.output].data(), k, m * B);
    Eigen::Map<Matrix> RA(b.r_adjoint[c.output].data(), k, m * B);
    if (which == Product::fisher) {
      // g_i·v = ∂ℓ_i/∂z · J_i v, so F v = (1/B) Σ_i J_iᵀ ∂ℓ_i/∂z (g_i·v): a backward pass of these rows.
      for (Index col = 0; col < m * B; ++col) RA.col(col) = st.dZ.col(col % B) * (scale * st.dZ.col(col % B).dot(R.col(col)));
    } else {
      loss_hessian_product(options_.loss, st.aux, R, scale, RA);
    }
    detail::r_backward_pass(c, x.data(), m, hessian, b);
    for (std::size_t v = 0; v < c.values.size(); ++v) {
      const auto& info = c.values[v];
      if (info.kind != detail::ValueKind::parameter) continue;
      for (Index j = 0; j < m; ++j)
        out.col(start + j).segment(info.offset, info.numel) += Eigen::Map<const Vector>(b.r_adjoint[v].data() + j * info.numel, info.numel);
    }
  }
}

Index GraphObjective::hessian_block_columns() const { return 32; }

double GraphObjective::value(const Vector& x) const { return evaluate(x, {}, true, nullptr); }
double GraphObjective::gradient(const Vector& x, Vector& g) const { return evaluate(x, {}, true, &g); }
void GraphObjective::hessian_vector_product(const Vector& x, const Matrix& V, Matrix& HV) const {
  product(Product::hessian, x, {}, true, V, HV);
}
void GraphObjective::gauss_newton_vector_product(const Vector& x, const Matrix& V, Matrix& GV) const {
  product(Product::gauss_newton, x, {}, true, V, GV);
}
void GraphObjective::fisher_vector_product(const Vector& x, const Matrix& V, Matrix& FV) const {
  product(Product::fisher, x, {}, true, V, FV);
}
double GraphObjective::batch_value(const Vector& x, Batch batch) const { return evaluate(x, batch, false, nullptr); }
double GraphObjective::batch_gradient(const Vector& x, Batch batch, Vector& g) const { return evaluate(x, batch, false, &g); }
void GraphObjective::batch_hessian_vector_product(const Vector& x, Batch batch, const Matrix& V, Matrix& HV) const {
  product(Product::hessian, x, batch, false, V, HV);
}
void GraphObjective::batch_gauss_newton_vector_product(const Vector& x, Batch batch, const Matrix& V, Matrix& GV) const {
  product(Product::gauss_newton, x, batch, false, V, GV);
}
void GraphObjective::batch_fisher_vector_product(const Vector& x, Batch batch, const Matrix& V, Matrix& FV) const {
  product(Product::fisher, x, batch, false, V, FV);
}

std::vector<objective::Objective::Block> GraphObjective::parameter_blocks() const {
  std::vector<Block> blocks;
  Index offset = 0;
  for (const auto& p : plan_->ir.parameters) {
    const Index size = p.value.element_count();
    blocks.push_back({p.name, offset, size});
    offset += size;
  }
  return blocks;
}

nlohmann::json GraphObjective::spec() const {
  return {{"kind", "graph"},
          {"loss", to_string(options_.loss)},
          {"weight_decay", options_.weight_decay},
          {"batch_norm_mode", to_string(options_.batch_norm_mode)}};
}

std::string GraphObjective::description() const {
  return (options_.name.empty() ? std::string("graph") : options_.name) + " (" + std::to_string(plan_->n) + " parameters, " +
         std::to_string(plan_->ir.nodes.size()) + " nodes) " + to_string(options_.loss);
}

Matrix GraphObjective::outputs(const Vector& x) const { return batch_outputs_impl(x, {}, true); }
Matrix GraphObjective::batch_outputs(const Vector& x, Batch batch) const { return batch_outputs_impl(x, batch, false); }

Matrix GraphObjective::batch_outputs_impl(const Vector& x, Batch batch, bool full) const {
  check_point(x);
  if (!full) check_batch(batch, sample_count());
  State& st = *state_;
  const std::int64_t total = full ? sample_count() : static_cast<std::int64_t>(batch.size());
  const double scale = 1.0 / static_cast<double>(total);
  Matrix result(total, plan_->outputs);
  auto copy_rows = [&](const Compiled& c, std::int64_t row) {
    result.middleRows(row, c.batch) = Eigen::Map<const Matrix>(st.buffers.value[c.output].data(), plan_->outputs, c.batch).transpose();
  };
  if (plan_->chunk == 0 || plan_->chunk >= total) {
    copy_rows(prepare_point(*plan_, st, options_, x, batch, full, options_.batch_norm_mode, 1, sample_count(), scale), 0);
  } else {
    Passes passes = Passes::over(total, plan_->chunk);
    for (std::int64_t k = 0; k < passes.count(); ++k)
      copy_rows(prepare_point(*plan_, st, options_, x, passes.slice(batch, full, k), false, options_.batch_norm_mode, 1,
                              sample_count(), scale),
                k * passes.chunk);
  }
  return result;
}

std::vector<NamedTensor> GraphObjective::train_step_buffers(const Vector& x, Batch batch) const {
  check_point(x);
  check_batch(batch, sample_count());
  State& st = *state_;
  const Compiled& c = prepare_point(*plan_, st, options_, x, batch, false, BatchNormMode::train, 1, sample_count(),
                                    1.0 / static_cast<double>(batch.size()));
  const auto& infos = plan_->batch_norms.at({c.batch, static_cast<int>(BatchNormMode::train)});
  std::vector<NamedTensor> result = plan_->ir.buffers;
  for (const auto& s : c.steps) {
    if (s.kind != detail::StepKind::normalize || s.norm.batch_norm < 0) continue;
    const auto& info = infos[static_cast<std::size_t>(s.norm.batch_norm)];
    const double* stats = st.buffers.scratch[s.workspace].data();
    const std::int64_t C = s.norm.groups;
    const double count = static_cast<double>(s.norm.count());
    const double mom = info.torch_momentum;
    // torch.nn.BatchNorm2d (its documentation; checked numerically against torch 1.13 here, agreement
    // to 1 ulp): running = momentum·batch_statistic + (1 − momentum)·running, with the unbiased
    // variance Σ(x − mean)²/(count − 1).
    if (info.running_mean >= 0) {
      auto& rm = result[static_cast<std::size_t>(info.running_mean)].value.f64;
      for (std::int64_t q = 0; q < C; ++q) rm[q] = mom * stats[q] + (1 - mom) * rm[q];
    }
    if (info.running_var >= 0) {
      auto& rv = result[static_cast<std::size_t>(info.running_var)].value.f64;
      for (std::int64_t q = 0; q < C; ++q) rv[q] = mom * (stats[C + q] / (count - 1)) + (1 - mom) * rv[q];
    }
  }
  return result;
}

std::vector<objective::KroneckerLayer> GraphObjective::kronecker_factors(const Vector& x, objective::KroneckerFisher which,
                                                                         std::uint64_t seed, Batch batch) const {
  check_point(x);
  const bool full = batch.empty();
  if (!full) check_batch(batch, sample_count());
  State& st = *state_;
  const std::int64_t total = full ? sample_count() : static_cast<std::int64_t>(batch.size());
  const double scale = 1.0 / static_cast<double>(total);
  random::Rng rng(seed, 0);  // one stream over every chunk, in sample order (models::Network draws the same)
  std::vector<detail::KroneckerSite> sites;
  std::vector<objective::KroneckerLayer> layers;
  std::vector<double> col;
  // One chunk of samples: A from the forward values, then the δ columns in lanes through the
  // Gauss–Newton R-backward pass (no second-order terms: δ = J_zᵀ q for each column q), G from them.
  auto accumulate = [&](const Compiled& c) {
    sites = detail::kronecker_sites(c);  // per plan: a last, smaller chunk has its own compiled plan
    if (layers.empty()) {
      for (const auto& site : sites) {
        objective::KroneckerLayer layer = site.layout;
        layer.A.setZero(layer.in_total(), layer.in_total());
        layer.G.setZero(layer.out, layer.out);
        layers.push_back(std::move(layer));
      }
    }
    for (std::size_t l = 0; l < sites.size(); ++l) detail::accumulate_input_factor(c, sites[l], st.buffers, layers[l].A, col);
    const Matrix delta = kronecker_deltas(options_.loss, which, st.dZ, st.aux, rng);  // [k, lanes·B]
    const std::int64_t B = c.batch, k = plan_->outputs, lanes = delta.cols() / B;
    const std::int64_t per_lane = 2 * c.active_numel * static_cast<std::int64_t>(sizeof(double));
    const std::int64_t chunk = std::clamp<std::int64_t>(options_.workspace_budget_bytes / std::max<std::int64_t>(per_lane, 1), 1, lanes);
    detail::size_buffers(c, chunk, st.buffers);
    for (std::int64_t start = 0; start < lanes; start += chunk) {
      const std::int64_t m = std::min(chunk, lanes - start);
      Eigen::Map<Matrix>(st.buffers.r_adjoint[c.output].data(), k, m * B) = delta.middleCols(start * B, m * B);
      detail::r_backward_pass(c, x.data(), m, false, st.buffers);
      for (std::size_t l = 0; l < sites.size(); ++l) detail::accumulate_output_factor(c, sites[l], st.buffers, m, layers[l].G);
    }
  };
  if (plan_->chunk == 0 || plan_->chunk >= total) {
    accumulate(prepare_point(*plan_, st, options_, x, batch, full, options_.batch_norm_mode, 1, sample_count(), scale));
  } else {
    Passes passes = Passes::over(total, plan_->chunk);
    for (std::int64_t k = 0; k < passes.count(); ++k)
      accumulate(prepare_point(*plan_, st, options_, x, passes.slice(batch, full, k), false, options_.batch_norm_mode, 1,
                               sample_count(), scale));
  }
  for (std::size_t l = 0; l < sites.size(); ++l) {
    layers[l].A *= scale;
    layers[l].G *= scale / static_cast<double>(sites[l].positions);
  }
  return layers;
}

}  // namespace saddlescope::models::graph
