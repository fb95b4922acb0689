// K-FAC / KFC factors of graph models (GraphObjective::kronecker_factors, issue #16 item 2), each against
// something computed another way:
//  * one sample, a Linear layer or a convolution whose output is 1×1 (one position): A ⊗ G is exactly
//    the Gauss–Newton block of the layer (objective/kronecker.h: Σ_c (ã ⊗ δ_c)(ã ⊗ δ_c)ᵀ = ããᵀ ⊗ Σ_c δ_cδ_cᵀ),
//    compared with the engine's GGN product applied to the unit vectors;
//  * the MLP as torch exports it (Gemm, transB = 1) against models::Network, an independent
//    implementation of the same factors, for all three Fisher kinds;
//  * a CNN's convolution factors against plain loops in this file: patches extracted index by index from
//    the layer's input, and δ from the ordinary gradient pass of a copy of the graph with a zero
//    parameter added to the convolution's output (∂ℓ_i/∂P = δ_i).
// Tolerances: both sides are sums of the same products in another order, ≤ a few hundred terms of
// order 1, so they agree to ~1e-14 relative; 1e-12 leaves a 100× margin and any wrong term is O(1).
#include <gtest/gtest.h>

#include "curvature/kfac.h"
#include "graph_checks.h"
#include "models/network.h"
#include "objective/kronecker_names.h"

namespace {

using namespace saddlescope;
using namespace saddlescope::graph_test;
using objective::KroneckerFisher;
using objective::KroneckerLayer;

constexpr double kTolerance = 1e-12;

double relative(const Matrix& a, const Matrix& b) { return (a - b).norm() / std::max(1e-300, b.norm()); }

// The parameter indices of a layer in the column-major order of W̃ = [W b] (kronecker.h's layout).
std::vector<Index> layer_indices(const KroneckerLayer& layer) {
  std::vector<Index> out;
  for (Index i = 0; i < layer.in_total(); ++i)
    for (Index o = 0; o < layer.out; ++o) out.push_back(i < layer.in ? layer.weight_offset + o * layer.in + i : layer.bias_offset + o);
  return out;
}

Matrix submatrix(const Matrix& M, const std::vector<Index>& idx) {
  Matrix S(idx.size(), idx.size());
  for (std::size_t r = 0; r < idx.size(); ++r)
    for (std::size_t c = 0; c < idx.size(); ++c) S(r, c) = M(idx[r], idx[c]);
  return S;
}

// Each layer's A ⊗ G (dense, through curvature::KfacOperator) against the dense GGN's block.
void expect_layers_equal_ggn_blocks(const GraphObjective& f, const Vector& x, std::size_t expected_layers) {
  const auto layers = f.kronecker_factors(x, KroneckerFisher::exact, 0);
  ASSERT_EQ(layers.size(), expected_layers);
  const Index n = f.dim();
  Matrix ggn;
  f.gauss_newton_vector_product(x, Matrix::Identity(n, n), ggn);
  const curvature::KfacOperator kfac(n, layers, 0.0);
  Matrix dense;
  kfac.apply(Matrix::Identity(n, n), dense);
  for (const auto& layer : layers) {
    const auto idx = layer_indices(layer);
    EXPECT_LT(relative(submatrix(dense, idx), submatrix(ggn, idx)), kTolerance) << layer.name;
  }
}

TEST(GraphKfac, SingleSampleLinearFactorsAreTheExactGaussNewtonBlock) {
  for (const models::Loss loss : {models::Loss::cross_entropy, models::Loss::mse}) {
    Builder b({4}, 3);
    const auto h = b.node("Tanh", {b.linear("input", 4, 5, "fc1")});
    GraphOptions o;
    o.loss = loss;
    io::DataArrays data = class_data(1, 4, 3, 5);
    if (loss == models::Loss::mse) data.y = random_matrix(1, 3, 6);
    const GraphObjective f(b.finish(b.linear(h, 5, 3, "fc2")), o, data);
    SCOPED_TRACE(to_string(loss));
    expect_layers_equal_ggn_blocks(f, b.parameters(), 2);
  }
}

// A convolution whose output is 1×1 (kernel = input), then a grouped 1×1 convolution (groups 2: one
// factor pair per group) and a Linear: one position each, so every layer's A ⊗ G is exact for one sample.
TEST(GraphKfac, SingleSampleOnePositionConvolutionsAreTheExactGaussNewtonBlock) {
  Builder b({2, 3, 3}, 4);
  const auto w1 = b.param("conv1.weight", {4, 2, 3, 3}, 0.4);
  const auto b1 = b.param("conv1.bias", {4}, 0.1);
  auto h = b.node("Tanh", {b.node("Conv", {"input", w1, b1})});
  const auto w2 = b.param("conv2.weight", {4, 2, 1, 1}, 0.5);
  const auto b2 = b.param("conv2.bias", {4}, 0.1);
  h = b.node("Tanh", {b.node("Conv", {h, w2, b2}, {{"group", std::int64_t{2}}})});
  h = b.node("Flatten", {h});
  const GraphObjective f(b.finish(b.linear(h, 4, 3, "fc")), GraphOptions{}, class_data(1, 18, 3, 7));
  const auto layers = f.kronecker_factors(b.parameters(), KroneckerFisher::exact, 0);
  ASSERT_EQ(layers.size(), 4u);
  EXPECT_EQ(layers[1].name, "conv2.group0");
  EXPECT_EQ(layers[2].name, "conv2.group1");
  EXPECT_EQ(layers[2].weight_offset, layers[1].weight_offset + 2 * 2);  // group 1's rows follow group 0's
  expect_layers_equal_ggn_blocks(f, b.parameters(), 4);
}

TEST(GraphKfac, TorchStyleMlpFactorsEqualNetworkFactors) {
  for (const models::Loss loss : {models::Loss::cross_entropy, models::Loss::mse}) {
    Builder b({4}, 3);
    auto h = b.node("Tanh", {b.linear("input", 4, 6, "layer1")});
    h = b.node("Tanh", {b.linear(h, 6, 5, "layer2")});
    io::DataArrays data = class_data(11, 4, 3, 5);
    if (loss == models::Loss::mse) data.y = random_matrix(11, 3, 6);
    GraphOptions go;
    go.loss = loss;
    const GraphObjective graph(b.finish(b.linear(h, 5, 3, "layer3")), go, data);
    models::NetworkOptions no;
    no.widths = {4, 6, 5, 3};
    no.activation = models::Activation::tanh;
    no.loss = loss;
    const models::Network net(no, data);
    const Vector x = b.parameters();
    for (const auto which : {KroneckerFisher::exact, KroneckerFisher::sampled, KroneckerFisher::empirical})
      for (const std::vector<std::int64_t>& batch : {std::vector<std::int64_t>{}, std::vector<std::int64_t>{3, 1, 7, 7}}) {
        const auto g = graph.kronecker_factors(x, which, 17, batch), m = net.kronecker_factors(x, which, 17, batch);
        ASSERT_EQ(g.size(), m.size());
        for (std::size_t l = 0; l < g.size(); ++l) {
          SCOPED_TRACE(to_string(loss) + " " + std::string(objective::kKroneckerFisherNames.name(which)) + " layer " + m[l].name);
          EXPECT_EQ(g[l].weight_offset, m[l].weight_offset);
          EXPECT_EQ(g[l].bias_offset, m[l].bias_offset);
          EXPECT_LT(relative(g[l].A, m[l].A), kTolerance);
          EXPECT_LT(relative(g[l].G, m[l].G), kTolerance);
        }
      }
  }
}

// conv1 (2→4, 3×3, pad 1, bias) – relu – conv2 (4→4, 3×3, stride 2, pad 1, groups 2, bias) – relu – linear.
struct Cnn {
  static constexpr std::int64_t C0 = 2, H0 = 5, C1 = 4, C2 = 4, H2 = 3;
  GraphIR ir;
  Vector x;
  std::string conv1_out, conv2_out;
  // probes: add a zero parameter to each convolution's output (the gradient there is δ).
  // stop_after_relu1: the graph ends at relu(conv1) flattened (its outputs are conv2's input).
  explicit Cnn(bool probes, bool stop_after_relu1 = false) {
    Builder b({C0, H0, H0}, 9);
    const auto w1 = b.param("conv1.weight", {C1, C0, 3, 3}, 0.4);
    const auto b1 = b.param("conv1.bias", {C1}, 0.2);
    const std::vector<std::int64_t> pads{1, 1, 1, 1};
    auto h = b.node("Conv", {"input", w1, b1}, {{"pads", pads}});
    std::string p1, p2;
    if (probes) p1 = b.param("probe1", {C1, H0, H0}, 0.0);
    if (probes) h = b.node("Add", {h, p1});
    h = b.node("Relu", {h});
    if (stop_after_relu1) {
      ir = b.finish(b.node("Flatten", {h}));
      x = b.parameters();
      return;
    }
    const auto w2 = b.param("conv2.weight", {C2, C1 / 2, 3, 3}, 0.4);
    const auto b2 = b.param("conv2.bias", {C2}, 0.2);
    h = b.node("Conv", {h, w2, b2}, {{"pads", pads}, {"strides", std::vector<std::int64_t>{2, 2}}, {"group", std::int64_t{2}}});
    if (probes) p2 = b.param("probe2", {C2, H2, H2}, 0.0);
    if (probes) h = b.node("Add", {h, p2});
    h = b.node("Flatten", {b.node("Relu", {h})});
    ir = b.finish(b.linear(h, C2 * H2 * H2, 3, "fc"));
    x = b.parameters();
  }
};

// Σ over samples and positions of ã ãᵀ for a convolution, by explicit patch extraction: input
// [N, C·H·W] row-major per sample (H = W), kernel 3×3, padding 1, `stride`; channels [c0, c0 + cin) (a group).
Matrix patch_moment(const Matrix& input, std::int64_t H, std::int64_t stride, std::int64_t c0, std::int64_t cin) {
  const std::int64_t out = (H + 2 - 3) / stride + 1, d = cin * 9;
  Matrix A = Matrix::Zero(d + 1, d + 1);
  Vector a(d + 1);
  for (Index i = 0; i < input.rows(); ++i)
    for (std::int64_t oh = 0; oh < out; ++oh)
      for (std::int64_t ow = 0; ow < out; ++ow) {
        for (std::int64_t c = 0; c < cin; ++c)
          for (std::int64_t kh = 0; kh < 3; ++kh)
            for (std::int64_t kw = 0; kw < 3; ++kw) {
              const std::int64_t h = oh * stride - 1 + kh, w = ow * stride - 1 + kw;
              const bool inside = h >= 0 && h < H && w >= 0 && w < H;
              a((c * 3 + kh) * 3 + kw) = inside ? input(i, ((c0 + c) * H + h) * H + w) : 0.0;
            }
        a(d) = 1.0;
        A += a * a.transpose();
      }
  return A;
}

TEST(GraphKfac, ConvolutionFactorsEqualExplicitPatchesAndProbeGradients) {
  const Cnn cnn(false), probed(true), prefix(false, true);
  const io::DataArrays data = class_data(6, Cnn::C0 * Cnn::H0 * Cnn::H0, 3, 12);
  const GraphObjective f(cnn.ir, GraphOptions{}, data);
  const GraphObjective g(probed.ir, GraphOptions{}, data);
  GraphOptions mse;
  mse.loss = models::Loss::mse;
  io::DataArrays prefix_data = data;
  prefix_data.y = Matrix::Zero(6, Cnn::C1 * Cnn::H0 * Cnn::H0);
  const GraphObjective head(prefix.ir, mse, prefix_data);
  const auto layers = f.kronecker_factors(cnn.x, KroneckerFisher::empirical, 0);
  ASSERT_EQ(layers.size(), 4u);  // conv1, conv2.group0, conv2.group1, fc
  const double N = 6.0;

  // A: conv1 from the data, conv2's groups from relu(conv1) (the prefix graph's outputs).
  EXPECT_LT(relative(layers[0].A, patch_moment(data.X, Cnn::H0, 1, 0, Cnn::C0) / N), kTolerance);
  const Matrix relu1 = head.outputs(cnn.x.head(head.dim()));
  EXPECT_LT(relative(layers[1].A, patch_moment(relu1, Cnn::H0, 2, 0, 2) / N), kTolerance);
  EXPECT_LT(relative(layers[2].A, patch_moment(relu1, Cnn::H0, 2, 2, 2) / N), kTolerance);

  // G (empirical): δ_i = ∂ℓ_i/∂(conv output) = the probe's gradient on the one-sample batch {i};
  // G = (1/(N·T)) Σ_i Σ_t δ_it δ_itᵀ over the T output positions.
  // The probed graph's parameters: conv1.w, conv1.b, probe1, conv2.w, conv2.b, probe2, fc.w, fc.b; the
  // same point as cnn.x with the probes at 0.
  const auto blocks = g.parameter_blocks();
  ASSERT_EQ(blocks.size(), 8u);
  Vector xp = Vector::Zero(g.dim());
  for (const auto& block : blocks)
    for (const auto& mine : f.parameter_blocks())
      if (mine.name == block.name) xp.segment(block.offset, block.size) = cnn.x.segment(mine.offset, mine.size);
  Matrix G1 = Matrix::Zero(Cnn::C1, Cnn::C1), G2 = Matrix::Zero(Cnn::C2, Cnn::C2);
  for (std::int64_t i = 0; i < 6; ++i) {
    Vector grad;
    g.batch_gradient(xp, std::vector<std::int64_t>{i}, grad);
    const Eigen::Map<const Matrix> d1(grad.data() + blocks[2].offset, Cnn::H0 * Cnn::H0, Cnn::C1);  // [C, T] row-major
    const Eigen::Map<const Matrix> d2(grad.data() + blocks[5].offset, Cnn::H2 * Cnn::H2, Cnn::C2);
    G1 += d1.transpose() * d1;
    G2 += d2.transpose() * d2;
  }
  G1 /= N * Cnn::H0 * Cnn::H0;
  G2 /= N * Cnn::H2 * Cnn::H2;
  EXPECT_LT(relative(layers[0].G, G1), kTolerance);
  EXPECT_LT(relative(layers[1].G, G2.topLeftCorner(2, 2)), kTolerance);
  EXPECT_LT(relative(layers[2].G, G2.bottomRightCorner(2, 2)), kTolerance);
}

// A data set larger than one pass (a 1 MiB workspace budget: about 60 samples of this CNN per pass) is
// evaluated in chunks of samples, the last one smaller: the factors are the same sums in another order,
// and the sampled targets the same draws (one stream over the chunks in sample order).
TEST(GraphKfac, ChunkedPassesGiveTheSameFactors) {
  const Cnn cnn(false);
  const io::DataArrays data = class_data(150, Cnn::C0 * Cnn::H0 * Cnn::H0, 3, 13);
  GraphOptions small;
  small.workspace_budget_bytes = std::int64_t{1} << 20;
  const GraphObjective whole(cnn.ir, GraphOptions{}, data), chunked(cnn.ir, small, data);
  ASSERT_LT(chunked.samples_per_pass(), 75);  // at least three passes
  for (const auto which : {KroneckerFisher::exact, KroneckerFisher::sampled}) {
    const auto a = whole.kronecker_factors(cnn.x, which, 3), b = chunked.kronecker_factors(cnn.x, which, 3);
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t l = 0; l < a.size(); ++l) {
      EXPECT_LT(relative(b[l].A, a[l].A), kTolerance) << a[l].name;
      EXPECT_LT(relative(b[l].G, a[l].G), kTolerance) << a[l].name;
    }
  }
}

// Parameters no Kronecker layer covers: batch-norm scale and shift (and a weight used twice).
TEST(GraphKfac, BatchNormParametersAreOutsideEveryLayer) {
  Builder b({2, 4, 4}, 5);
  const auto w = b.param("conv.weight", {3, 2, 3, 3}, 0.4);
  auto h = b.node("Conv", {"input", w}, {{"pads", std::vector<std::int64_t>{1, 1, 1, 1}}});
  const auto gamma = b.param("bn.weight", {3}, 0.3), beta = b.param("bn.bias", {3}, 0.1);
  const auto rm = b.buffer("bn.running_mean", float_tensor({3}, {0, 0, 0}));
  const auto rv = b.buffer("bn.running_var", float_tensor({3}, {1, 1, 1}));
  h = b.node("Relu", {b.node("BatchNormalization", {h, gamma, beta, rm, rv})});
  h = b.node("Flatten", {b.node("GlobalAveragePool", {h})});
  GraphOptions o;
  o.batch_norm_mode = models::graph::BatchNormMode::train;
  const GraphObjective f(b.finish(b.linear(h, 3, 2, "fc")), o, class_data(4, 32, 2, 3));
  const auto layers = f.kronecker_factors(b.parameters(), KroneckerFisher::exact, 0);
  ASSERT_EQ(layers.size(), 2u);
  EXPECT_EQ(layers[0].name, "conv");
  EXPECT_FALSE(layers[0].has_bias());
  const curvature::KfacOperator kfac(f.dim(), layers, 0.0);
  const auto outside = curvature::kfac_uncovered_blocks(f.parameter_blocks(), kfac);
  ASSERT_EQ(outside.size(), 2u);
  EXPECT_EQ(outside[0].name, "bn.weight");
  EXPECT_EQ(outside[1].name, "bn.bias");
}

}  // namespace
