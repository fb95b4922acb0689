// The graph engine's objective: cross-checked against models::Network (an independent implementation
// of the same MLP), finite differences on convolutional graphs with batch norm and residual branches,
// the fixed-point cache and the batch-norm running-statistics update.
#include <gtest/gtest.h>

#include <numeric>

#include "graph_checks.h"
#include "models/graph/plan.h"
#include "models/network.h"

namespace {

using namespace saddlescope;
using namespace saddlescope::graph_test;
using models::Loss;
using models::graph::BatchNormMode;

// The MLP [4, 6, 5, 3] as torch exports it (Gemm with transB, activations between) and as
// models::Network computes it: the parameter layouts agree, so every quantity must agree to rounding.
TEST(GraphEngine, MlpAgreesWithNetwork) {
  for (const Loss loss : {Loss::cross_entropy, Loss::mse}) {
    Builder b({4}, 3);
    auto h = b.node("Tanh", {b.linear("input", 4, 6, "layer1")});
    h = b.node("Tanh", {b.linear(h, 6, 5, "layer2")});
    const auto out = b.linear(h, 5, 3, "layer3");
    io::DataArrays data = class_data(11, 4, 3, 5);
    if (loss == Loss::mse) data.y = random_matrix(11, 3, 6);
    GraphOptions go;
    go.loss = loss;
    go.weight_decay = 0.01;
    GraphObjective graph(b.finish(out), go, data);
    models::NetworkOptions no;
    no.widths = {4, 6, 5, 3};
    no.activation = models::Activation::tanh;
    no.loss = loss;
    no.weight_decay = 0.01;
    models::Network net(no, data);
    ASSERT_EQ(graph.dim(), net.dim());
    const Vector x = b.parameters();
    Vector gg, gn;
    const double vg = graph.gradient(x, gg), vn = net.gradient(x, gn);
    // Same formulas in a different order of operations: rounding only (1e-13 relative).
    EXPECT_NEAR(vg, vn, 1e-13 * std::abs(vn));
    EXPECT_LE((gg - gn).lpNorm<Eigen::Infinity>(), 1e-13 * gn.lpNorm<Eigen::Infinity>());
    const Matrix V = random_matrix(x.size(), 5, 9);
    Matrix HG, HN, GG, GN, FG, FN;
    graph.hessian_vector_product(x, V, HG);
    net.hessian_vector_product(x, V, HN);
    EXPECT_LE((HG - HN).lpNorm<Eigen::Infinity>(), 1e-12 * HN.lpNorm<Eigen::Infinity>());
    graph.gauss_newton_vector_product(x, V, GG);
    net.gauss_newton_vector_product(x, V, GN);
    EXPECT_LE((GG - GN).lpNorm<Eigen::Infinity>(), 1e-12 * GN.lpNorm<Eigen::Infinity>());
    graph.fisher_vector_product(x, V, FG);
    net.fisher_vector_product(x, V, FN);
    EXPECT_LE((FG - FN).lpNorm<Eigen::Infinity>(), 1e-12 * FN.lpNorm<Eigen::Infinity>());
    const std::vector<std::int64_t> batch = {3, 1, 7, 7};
    Matrix BG, BN;
    graph.batch_hessian_vector_product(x, batch, V, BG);
    net.batch_hessian_vector_product(x, batch, V, BN);
    EXPECT_LE((BG - BN).lpNorm<Eigen::Infinity>(), 1e-12 * BN.lpNorm<Eigen::Infinity>());
    EXPECT_NEAR(graph.batch_value(x, batch), net.batch_value(x, batch), 1e-13 * std::abs(net.batch_value(x, batch)));
    const auto blocks = graph.parameter_blocks();
    ASSERT_EQ(blocks.size(), 6u);
    EXPECT_EQ(blocks[2].name, "layer2.weight");
    EXPECT_EQ(blocks[2].offset, 6 * 4 + 6);
    EXPECT_EQ(blocks[2].size, 5 * 6);
  }
}

// A small residual CNN: conv–BN–relu, a strided conv–BN with a 1×1 strided projection shortcut,
// relu, global average pool, linear. Exercised in both batch-norm modes.
GraphIR residual_cnn(Builder& b) {
  auto bn = [&](const std::string& x, std::int64_t c, const std::string& name) {
    const auto gamma = b.param(name + ".weight", {c}, 0.3);
    const auto beta = b.param(name + ".bias", {c}, 0.1);
    random::Rng rng(static_cast<std::uint64_t>(c) * 31, 5);
    std::vector<double> mean(c), var(c);
    for (auto& v : mean) v = 0.1 * rng.normal();
    for (auto& v : var) v = 0.5 + rng.uniform();
    const auto rm = b.buffer(name + ".running_mean", float_tensor({c}, mean));
    const auto rv = b.buffer(name + ".running_var", float_tensor({c}, var));
    return b.node("BatchNormalization", {x, gamma, beta, rm, rv}, {{"epsilon", 1e-5}, {"momentum", 0.9}});
  };
  const auto w1 = b.param("conv1.weight", {3, 2, 3, 3}, 0.4);
  auto h = b.node("Conv", {"input", w1}, {{"pads", std::vector<std::int64_t>{1, 1, 1, 1}}, {"kernel_shape", std::vector<std::int64_t>{3, 3}}});
  h = b.node("Relu", {bn(h, 3, "bn1")});
  const auto w2 = b.param("conv2.weight", {4, 3, 3, 3}, 0.4);
  const auto c2b = b.param("conv2.bias", {4}, 0.1);
  auto main = b.node("Conv", {h, w2, c2b}, {{"pads", std::vector<std::int64_t>{1, 1, 1, 1}}, {"strides", std::vector<std::int64_t>{2, 2}}});
  main = bn(main, 4, "bn2");
  const auto ws = b.param("shortcut.weight", {4, 3, 1, 1}, 0.5);
  const auto shortcut = b.node("Conv", {h, ws}, {{"strides", std::vector<std::int64_t>{2, 2}}});
  h = b.node("Relu", {b.node("Add", {main, shortcut})});
  h = b.node("Flatten", {b.node("GlobalAveragePool", {h})});
  return b.finish(b.linear(h, 4, 3, "fc"));
}

TEST(GraphEngine, ResidualCnnDerivativesBothBatchNormModes) {
  for (const auto mode : {BatchNormMode::eval, BatchNormMode::train}) {
    Builder b({2, 6, 6}, 7);
    GraphIR ir = residual_cnn(b);
    GraphOptions o;
    o.batch_norm_mode = mode;
    GraphObjective f(ir, o, class_data(5, 2 * 6 * 6, 3, 8));
    SCOPED_TRACE(to_string(mode));
    check_derivatives(f, b.parameters(), 21);
  }
}

// `decomposed`: the second LayerNorm as torch exports it below opset 17 (ReduceMean, Sub, Pow, ReduceMean,
// Add ε, Sqrt, Div, Mul γ, Add β) instead of a LayerNormalization node.
GraphIR attention_block(Builder& b, std::int64_t T, std::int64_t D, std::int64_t heads, bool decomposed = false) {
  const std::int64_t dh = D / heads;
  using Ints = std::vector<std::int64_t>;
  auto layer_norm = [&](const std::string& x, const std::string& name) {
    const auto gamma = b.param(name + ".weight", {D}, 0.5), beta = b.param(name + ".bias", {D}, 0.1);
    if (decomposed && name == "norm2") {
      const auto mean = b.node("ReduceMean", {x}, {{"axes", Ints{-1}}});
      const auto centred = b.node("Sub", {x, mean});
      const auto sq = b.node("Pow", {centred, b.constant("two", float_tensor({}, {2.0}))});
      const auto var = b.node("ReduceMean", {sq}, {{"axes", Ints{-1}}});
      const auto sd = b.node("Sqrt", {b.node("Add", {var, b.constant("eps", float_tensor({}, {1e-5}))})});
      return b.node("Add", {b.node("Mul", {b.node("Div", {centred, sd}), gamma}), beta});
    }
    return b.node("LayerNormalization", {x, gamma, beta}, {{"axis", std::int64_t{-1}}, {"epsilon", 1e-5}});
  };
  auto dense = [&](const std::string& x, std::int64_t in, std::int64_t out, const std::string& name) {
    // torch's Linear on a 3-D input: MatMul(x, Wᵀ) + b, with Wᵀ an explicit Transpose of the parameter
    const auto w = b.param(name + ".weight", {out, in}, 1.0 / std::sqrt(static_cast<double>(in)));
    const auto wt = b.node("Transpose", {w}, {{"perm", Ints{1, 0}}});
    return b.node("Add", {b.node("MatMul", {x, wt}), b.param(name + ".bias", {out}, 0.1)});
  };
  auto split_heads = [&](const std::string& x, const Ints& perm) {
    return b.node("Transpose", {b.node("Reshape", {x, b.ints("heads" + std::to_string(b.ir.nodes.size()), {0, T, heads, dh})})},
                  {{"perm", perm}});
  };
  const auto n1 = layer_norm("input", "norm1");
  const auto q = split_heads(dense(n1, D, D, "q"), {0, 2, 1, 3});  // [B, h, T, dh]
  const auto kt = split_heads(dense(n1, D, D, "k"), {0, 2, 3, 1});  // [B, h, dh, T]
  const auto v = split_heads(dense(n1, D, D, "v"), {0, 2, 1, 3});
  const auto scale = b.constant("scale", float_tensor({}, {1.0 / std::sqrt(static_cast<double>(dh))}));
  const auto probs = b.node("Softmax", {b.node("Mul", {b.node("MatMul", {q, kt}), scale})}, {{"axis", std::int64_t{-1}}});
  const auto ctx = b.node("Transpose", {b.node("MatMul", {probs, v})}, {{"perm", Ints{0, 2, 1, 3}}});
  const auto merged = b.node("Reshape", {ctx, b.ints("merge", {0, T, D})});
  const auto x1 = b.node("Add", {"input", dense(merged, D, D, "out")});
  const auto hidden = dense(layer_norm(x1, "norm2"), D, 2 * D, "fc1");
  const auto erf = b.node("Erf", {b.node("Div", {hidden, b.constant("sqrt2", float_tensor({}, {std::sqrt(2.0)}))})});
  const auto gelu = b.node("Mul", {b.node("Mul", {hidden, b.node("Add", {erf, b.constant("one", float_tensor({}, {1.0}))})}),
                                   b.constant("half", float_tensor({}, {0.5}))});
  const auto x2 = b.node("Add", {x1, dense(gelu, 2 * D, D, "fc2")});
  const auto pooled = b.node("ReduceMean", {x2}, {{"axes", Ints{1}}, {"keepdims", std::int64_t{0}}});
  return b.finish(b.linear(pooled, D, 3, "head"));
}

// A one-block pre-norm transformer encoder as torch 1.13 exports it: LayerNorm (opset 17), two-head
// self-attention through MatMul / Reshape / Transpose / Softmax with the 1/√d scaling as a Mul by a
// constant, residuals, an MLP with exact GELU in its exported form x·½(1 + erf(x/√2)), a mean over the
// sequence and a linear head.
TEST(GraphEngine, AttentionBlockDerivatives) {
  const std::int64_t T = 4, D = 6, heads = 2;
  Builder b({T, D}, 13);
  GraphObjective f(attention_block(b, T, D, heads), GraphOptions{}, class_data(4, T * D, 3, 14));
  check_derivatives(f, b.parameters(), 15);
}

// The compile-time fusions (GraphOptions::fuse_steps: the products read the head split and write the
// head merge in place, the 1/√d scale folded into the product's α, GELU's five ops one step, the
// decomposed LayerNorm one normalize step) against the op-by-op lowering of the same graph. The fused
// products run the same GEMMs on the same numbers, addressed with strides; α·(q·kᵀ) with α = fl(1/√d)
// against fl(q·kᵀ)·fl(1/√d) rounds differently (≤ 1 ulp per score), GELU's value is the decomposed
// graph's bit for bit but its derivatives come from the closed forms, and the normalize step computes
// (x − μ)·fl(1/√(σ² + ε)) where the decomposition divides by √(σ² + ε): rounding differences of a few
// ulps per element, through softmax, LayerNorm and GELU with O(1) condition numbers, so 1e-13 relative
// (a few hundred ulps). A wrong stride, a head written to the wrong place or a wrong derivative term
// changes the result by O(1e-3) or more.
TEST(GraphEngine, FusedAttentionLayoutsEqualTheOpByOpGraph) {
  const std::int64_t T = 5, D = 8, heads = 2;
  Builder b({T, D}, 21);
  const GraphIR ir = attention_block(b, T, D, heads, true);
  GraphOptions plain;
  plain.fuse_steps = false;
  const io::DataArrays data = class_data(6, T * D, 3, 22);
  // The fusions happen: 4 head Transposes, 4 Reshapes and the scale's Mul leave the compiled plan (9
  // steps), GELU's 5 steps become 1 (4), the decomposed LayerNorm's 7 before Mul γ become 1 (6).
  std::vector<models::graph::detail::BatchNormInfo> norms;
  const auto with = models::graph::detail::compile(ir, 6, BatchNormMode::eval, &norms, true);
  const auto without = models::graph::detail::compile(ir, 6, BatchNormMode::eval, &norms, false);
  EXPECT_EQ(without->steps.size() - with->steps.size(), 9u + 4u + 6u);
  GraphObjective fused(ir, GraphOptions{}, data), unfused(ir, plain, data);
  const Vector x = b.parameters();
  const double tolerance = 1e-13;
  EXPECT_NEAR(fused.value(x), unfused.value(x), tolerance * std::abs(unfused.value(x)));
  Vector g1, g2;
  fused.gradient(x, g1);
  unfused.gradient(x, g2);
  EXPECT_LE((g1 - g2).norm(), tolerance * g2.norm());
  const Matrix V = random_matrix(x.size(), 4, 23);
  Matrix H1, H2, G1, G2;
  fused.hessian_vector_product(x, V, H1);
  unfused.hessian_vector_product(x, V, H2);
  EXPECT_LE((H1 - H2).norm(), tolerance * H2.norm());
  fused.gauss_newton_vector_product(x, V, G1);
  unfused.gauss_newton_vector_product(x, V, G2);
  EXPECT_LE((G1 - G2).norm(), tolerance * G2.norm());
  // A mini-batch (another compiled batch size) through both
  const std::vector<std::int64_t> batch{4, 1, 3};
  fused.batch_hessian_vector_product(x, batch, V, H1);
  unfused.batch_hessian_vector_product(x, batch, V, H2);
  EXPECT_LE((H1 - H2).norm(), tolerance * H2.norm());
}

// A Hessian product's backward pass computes only the adjoints its second-order terms read (no weight
// gradients); the fixed-point cache must then not hand that partial pass to gradient() at the same
// point. Both orders at one point, on a CNN (conv weights) and the attention block (weights behind
// Transposes), against a fresh object's gradient and products: the same passes in the same order, but
// not bitwise (as in MiniBatchMatchesFullBatchAndCacheInvalidates: Eigen peels unaligned leading
// elements by address, so two allocations of a workspace may sum in a different order); 1e-14 relative,
// where a missing weight gradient is an O(1) error.
TEST(GraphEngine, GradientAfterAProductAtTheSamePointIsTheFullGradient) {
  Builder cnn({2, 6, 6}, 7);
  const GraphIR cnn_ir = residual_cnn(cnn);
  Builder attention({4, 6}, 13);
  const GraphIR attention_ir = attention_block(attention, 4, 6, 2);
  const std::pair<const GraphIR*, Vector> cases[] = {{&cnn_ir, cnn.parameters()}, {&attention_ir, attention.parameters()}};
  const std::int64_t features[] = {72, 24};
  for (int k = 0; k < 2; ++k) {
    const auto& [ir, x] = cases[k];
    const io::DataArrays data = class_data(5, features[k], 3, 8);
    GraphObjective f(*ir, GraphOptions{}, data), fresh(*ir, GraphOptions{}, data);
    const Matrix V = random_matrix(x.size(), 2, 9);
    Matrix H, H_fresh;
    Vector g, g_fresh;
    f.hessian_vector_product(x, V, H);
    f.gradient(x, g);
    fresh.gradient(x, g_fresh);
    EXPECT_LE((g - g_fresh).norm(), 1e-14 * g_fresh.norm());
    f.hessian_vector_product(x, V, H);
    fresh.hessian_vector_product(x, V, H_fresh);
    EXPECT_LE((H - H_fresh).norm(), 1e-14 * H_fresh.norm());
  }
}

// Full batch as an explicit index list = value(); a mini-batch's derivatives pass the same checks.
TEST(GraphEngine, MiniBatchMatchesFullBatchAndCacheInvalidates) {
  Builder b({2, 6, 6}, 7);
  GraphIR ir = residual_cnn(b);
  GraphOptions o;
  o.batch_norm_mode = BatchNormMode::train;
  GraphObjective f(ir, o, class_data(6, 72, 3, 8));
  GraphObjective fresh(ir, o, class_data(6, 72, 3, 8));
  const Vector x = b.parameters();
  std::vector<std::int64_t> all(6);
  std::iota(all.begin(), all.end(), 0);
  const double full = f.value(x);
  EXPECT_EQ(f.batch_value(x, all), full);  // same computation, same order: bitwise
  Vector g1, g2;
  f.batch_gradient(x, all, g1);
  f.gradient(x, g2);
  EXPECT_EQ(g1, g2);
  // The cache: a product after other points and batches equals a fresh object's. Not bitwise: Eigen
  // peels unaligned leading elements by address, so two allocations of the same workspace may sum in a
  // different order (seen: 5e-16 on entries that are exactly 0 in exact arithmetic); 1e-14 relative.
  const Matrix V = random_matrix(x.size(), 3, 4);
  Matrix H1, H2;
  const Vector y = x + 0.01 * random_matrix(x.size(), 1, 5).col(0);
  f.value(y);
  f.batch_value(x, std::vector<std::int64_t>{1, 2});
  f.hessian_vector_product(x, V, H1);
  fresh.hessian_vector_product(x, V, H2);
  EXPECT_LE((H1 - H2).lpNorm<Eigen::Infinity>(), 1e-14 * H2.lpNorm<Eigen::Infinity>());
  f.gradient(y, g1);
  fresh.gradient(y, g2);
  EXPECT_LE((g1 - g2).lpNorm<Eigen::Infinity>(), 1e-14 * g2.lpNorm<Eigen::Infinity>());
}

// Independent samples are evaluated in chunks when their activations exceed the workspace budget:
// the sums over chunks must equal the one-pass results (same terms, other summation order: 1e-13).
TEST(GraphEngine, ChunkedEvaluationEqualsOnePass) {
  Builder b({2, 6, 6}, 7);
  GraphIR ir = residual_cnn(b);
  const io::DataArrays data = class_data(150, 72, 3, 8);
  GraphOptions one, chunked;
  one.workspace_budget_bytes = std::int64_t{1} << 34;
  chunked.workspace_budget_bytes = std::int64_t{1} << 20;
  one.weight_decay = chunked.weight_decay = 0.01;
  GraphObjective f(ir, one, data), g(ir, chunked, data);
  ASSERT_EQ(f.samples_per_pass(), 150);
  ASSERT_LT(g.samples_per_pass(), 150) << "the test needs a budget that forces chunks";
  const Vector x = b.parameters();
  auto close = [](const Matrix& a, const Matrix& e) { return (a - e).lpNorm<Eigen::Infinity>() <= 1e-13 * e.lpNorm<Eigen::Infinity>(); };
  Vector gf, gg;
  EXPECT_NEAR(f.gradient(x, gf), g.gradient(x, gg), 1e-13 * std::abs(f.value(x)));
  EXPECT_TRUE(close(gg, gf));
  const Matrix V = random_matrix(x.size(), 3, 4);
  Matrix A, B;
  f.hessian_vector_product(x, V, A);
  g.hessian_vector_product(x, V, B);
  EXPECT_TRUE(close(B, A));
  f.gauss_newton_vector_product(x, V, A);
  g.gauss_newton_vector_product(x, V, B);
  EXPECT_TRUE(close(B, A));
  f.fisher_vector_product(x, V, A);
  g.fisher_vector_product(x, V, B);
  EXPECT_TRUE(close(B, A));
  EXPECT_TRUE(close(g.outputs(x), f.outputs(x)));
  std::vector<std::int64_t> batch(140);
  for (std::int64_t i = 0; i < 140; ++i) batch[i] = (i * 7) % 150;
  f.batch_hessian_vector_product(x, batch, V, A);
  g.batch_hessian_vector_product(x, batch, V, B);
  EXPECT_TRUE(close(B, A));
}

// BN train-mode running statistics as torch updates them: running ← (1 − μ)·running + μ·stat, with the
// batch mean and the unbiased variance of the normalised input (μ = 1 − ONNX momentum). Checked on a
// graph whose batch norm reads the data directly, so the statistics are those of X's columns.
TEST(GraphEngine, TrainStepBuffersFollowTorchMomentumUpdate) {
  Builder b({3, 2, 2}, 2);
  const auto gamma = b.param("bn.weight", {3}, 1.0);
  const auto beta = b.param("bn.bias", {3}, 1.0);
  const auto rm = b.buffer("bn.running_mean", float_tensor({3}, {0.5, -1.0, 2.0}));
  const auto rv = b.buffer("bn.running_var", float_tensor({3}, {1.0, 2.0, 0.25}));
  auto h = b.node("BatchNormalization", {"input", gamma, beta, rm, rv}, {{"momentum", 0.9}});
  h = b.node("Flatten", {h});
  GraphObjective f(b.finish(b.linear(h, 12, 2, "fc")), GraphOptions{}, class_data(7, 12, 2, 3));
  const std::vector<std::int64_t> batch = {0, 2, 3, 6, 5};
  const auto updated = f.train_step_buffers(b.parameters(), batch);
  const auto& X = f.data().X;
  for (int c = 0; c < 3; ++c) {
    std::vector<double> values;
    for (const auto i : batch)
      for (int s = 0; s < 4; ++s) values.push_back(X(i, c * 4 + s));
    const double count = static_cast<double>(values.size());
    const double mean = std::accumulate(values.begin(), values.end(), 0.0) / count;
    double ss = 0.0;
    for (const double v : values) ss += (v - mean) * (v - mean);
    const double rm0[] = {0.5, -1.0, 2.0}, rv0[] = {1.0, 2.0, 0.25};
    // Same formula, independent summation: rounding only.
    EXPECT_NEAR(updated[0].value.f64[c], 0.1 * mean + 0.9 * rm0[c], 1e-14);
    EXPECT_NEAR(updated[1].value.f64[c], 0.1 * ss / (count - 1) + 0.9 * rv0[c], 1e-14);
  }
  EXPECT_EQ(f.buffers()[0].value.f64[0], 0.5);  // the objective's own buffers are untouched
}

TEST(GraphEngine, RefusesUnsupportedOpNamingIt) {
  Builder b({4}, 1);
  const auto h = b.node("Hardmax", {b.linear("input", 4, 3, "fc")});
  try {
    GraphObjective f(b.finish(h), GraphOptions{}, class_data(3, 4, 3, 1));
    FAIL() << "accepted an unsupported op";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "unsupported op 'Hardmax' (node 'Hardmax_1')");
  }
}

TEST(GraphEngine, RefusesShapesThatDisagree) {
  Builder b({4}, 1);
  const auto out = b.linear("input", 5, 3, "fc");  // weight [3, 5] against 4 features
  try {
    GraphObjective f(b.finish(out), GraphOptions{}, class_data(3, 4, 3, 1));
    FAIL() << "accepted mismatched shapes";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("node 'Gemm_0' (Gemm): inner extents differ"), std::string::npos) << e.what();
  }
  Builder c({4}, 1);
  const auto out2 = c.linear("input", 4, 3, "fc");
  EXPECT_THROW(GraphObjective(c.finish(out2), GraphOptions{}, class_data(3, 5, 3, 1)), std::invalid_argument);  // X has 5 columns
}

}  // namespace
