// Exact derivatives of the network objectives against independent computations: central finite
// differences, the definitions of the Gauss–Newton and Fisher matrices, and identities (symmetry,
// block = columns, full batch = value()).
#include <gtest/gtest.h>

#include <Eigen/Eigenvalues>

#include <numeric>
#include <tuple>

#include "models/datasets.h"
#include "models/network.h"
#include "models/spec.h"
#include "random/random.h"

namespace {

using namespace saddlescope;
using models::Activation;
using models::Loss;
using objective::Matrix;
using objective::Vector;

Vector random_vector(objective::Index n, std::uint64_t seed, double scale = 1.0) {
  random::Rng rng(seed, 7);
  Vector v(n);
  for (auto& x : v) x = scale * rng.normal();
  return v;
}

Matrix random_matrix(objective::Index n, objective::Index m, std::uint64_t seed) {
  random::Rng rng(seed, 8);
  Matrix v(n, m);
  for (objective::Index i = 0; i < v.size(); ++i) v.data()[i] = rng.normal();
  return v;
}

// A small data set for `loss` with `inputs` features and `outputs` logits.
io::DataArrays small_data(Loss loss, std::int64_t samples, std::int64_t inputs, std::int64_t outputs, std::uint64_t seed) {
  random::Rng rng(seed, 3);
  io::DataArrays d;
  d.X.resize(samples, inputs);
  for (objective::Index i = 0; i < d.X.size(); ++i) d.X.data()[i] = rng.normal();
  if (loss == Loss::mse) {
    d.y.resize(samples, outputs);
    for (objective::Index i = 0; i < d.y.size(); ++i) d.y.data()[i] = rng.normal();
  } else {
    d.y.resize(samples, 1);
    for (objective::Index i = 0; i < samples; ++i)
      d.y(i, 0) = loss == Loss::cross_entropy ? static_cast<double>(rng.below(outputs)) : rng.uniform();
  }
  return d;
}

models::NetworkOptions options_for(Activation a, Loss loss, bool residual, double weight_decay) {
  models::NetworkOptions o;
  o.activation = a;
  o.loss = loss;
  o.residual = residual;
  o.weight_decay = weight_decay;
  const std::int64_t out = loss == Loss::logistic ? 1 : 3;
  o.widths = {3, 5, 5, 4, out};  // layers 2 and (not) 3 qualify for a residual block: 5 → 5
  return o;
}

// Central differences: error ≈ h²/6·|f'''| + ε·|f|/h. With h = 1e-5 and O(1) derivatives both terms
// are ≤ ~1e-10 relative, so 1e-6 leaves four orders of margin and still catches any wrong term (a
// missing term is O(1) relative).
constexpr double kStep = 1e-5;
constexpr double kFdTolerance = 1e-6;

using Case = std::tuple<Activation, Loss, bool>;

class NetworkDerivatives : public ::testing::TestWithParam<Case> {
 protected:
  // The case's network (options_for with `weight_decay`) on small_data of `samples` samples, 3 inputs.
  models::Network network(double weight_decay, std::int64_t samples, std::uint64_t data_seed) const {
    const auto& [activation, loss, residual] = GetParam();
    const auto o = options_for(activation, loss, residual, weight_decay);
    return models::Network(o, small_data(loss, samples, 3, o.widths.back(), data_seed));
  }
};

TEST_P(NetworkDerivatives, GradientMatchesFiniteDifferences) {
  const models::Network net = network(0.03, 7, 11);
  const Vector x = random_vector(net.dim(), 5, 0.7);
  Vector g;
  const double f = net.gradient(x, g);
  EXPECT_DOUBLE_EQ(f, net.value(x));  // the same computation, one with backprop attached
  Vector fd(net.dim());
  for (objective::Index i = 0; i < net.dim(); ++i) {
    Vector xp = x, xm = x;
    xp[i] += kStep;
    xm[i] -= kStep;
    fd[i] = (net.value(xp) - net.value(xm)) / (2 * kStep);
  }
  EXPECT_LE((g - fd).norm(), kFdTolerance * std::max(1.0, g.norm())) << net.description();
}

TEST_P(NetworkDerivatives, BlockHvpMatchesFiniteDifferencesOfGradient) {
  const models::Network net = network(0.03, 7, 12);
  const Vector x = random_vector(net.dim(), 6, 0.7);
  const Matrix V = random_matrix(net.dim(), 3, 9);
  Matrix HV;
  net.hessian_vector_product(x, V, HV);
  ASSERT_EQ(HV.rows(), net.dim());
  ASSERT_EQ(HV.cols(), 3);
  for (int j = 0; j < 3; ++j) {
    Vector gp, gm;
    net.gradient(x + kStep * V.col(j), gp);
    net.gradient(x - kStep * V.col(j), gm);
    const Vector fd = (gp - gm) / (2 * kStep);
    EXPECT_LE((HV.col(j) - fd).norm(), kFdTolerance * std::max(1.0, fd.norm())) << net.description() << " column " << j;
    // One column alone gives the same product as inside the block (same arithmetic per column, so
    // agreement to rounding: 1e-12 relative).
    Matrix single;
    net.hessian_vector_product(x, V.col(j), single);
    EXPECT_LE((single.col(0) - HV.col(j)).norm(), 1e-12 * std::max(1.0, HV.col(j).norm()));
  }
}

TEST_P(NetworkDerivatives, DenseHessianIsSymmetricBeforeSymmetrisation) {
  const models::Network net = network(0.0, 6, 13);
  const Vector x = random_vector(net.dim(), 7, 0.7);
  Matrix H;
  net.hessian_vector_product(x, Matrix::Identity(net.dim(), net.dim()), H);
  // H_ij and H_ji come from different backward paths; exact arithmetic makes them equal, so only
  // rounding (≈ 1e-15 relative per operation, a few hundred operations) separates them.
  EXPECT_LE((H - H.transpose()).norm(), 1e-11 * H.norm()) << net.description();
}

TEST_P(NetworkDerivatives, FullBatchReproducesValueGradientHvp) {
  const models::Network net = network(0.02, 8, 14);
  const Vector x = random_vector(net.dim(), 8, 0.7);
  std::vector<std::int64_t> all = {3, 0, 7, 1, 6, 2, 5, 4};  // every sample, shuffled
  const Matrix V = random_matrix(net.dim(), 2, 10);
  Vector g, gb;
  Matrix HV, HVb;
  const double f = net.gradient(x, g);
  const double fb = net.batch_gradient(x, all, gb);
  net.hessian_vector_product(x, V, HV);
  net.batch_hessian_vector_product(x, all, V, HVb);
  // Same sums in another order: agreement to rounding.
  EXPECT_NEAR(fb, f, 1e-13 * std::max(1.0, std::abs(f)));
  EXPECT_NEAR(net.batch_value(x, all), f, 1e-13 * std::max(1.0, std::abs(f)));
  EXPECT_LE((gb - g).norm(), 1e-12 * std::max(1.0, g.norm()));
  EXPECT_LE((HVb - HV).norm(), 1e-12 * std::max(1.0, HV.norm()));
}

INSTANTIATE_TEST_SUITE_P(
    AllActivationsAndLosses, NetworkDerivatives,
    ::testing::Combine(::testing::Values(Activation::identity, Activation::tanh, Activation::sigmoid, Activation::relu,
                                         Activation::leaky_relu, Activation::softplus, Activation::gelu),
                       ::testing::Values(Loss::mse, Loss::cross_entropy, Loss::logistic), ::testing::Bool()),
    [](const ::testing::TestParamInfo<Case>& info) {
      return models::to_string(std::get<0>(info.param)) + "_" + models::to_string(std::get<1>(info.param)) +
             (std::get<2>(info.param) ? "_residual" : "");
    });

TEST(Activations, DerivativesMatchFiniteDifferences) {
  // The scalar formulas against central differences (same error budget as above), away from kinks.
  for (const auto& [a, name] : models::kActivationNames)
    for (double x : {-2.3, -0.7, 0.4, 1.9}) {
      const double d1 = (models::activate(a, x + kStep, 0.01) - models::activate(a, x - kStep, 0.01)) / (2 * kStep);
      const double d2 = (models::activate_d1(a, x + kStep, 0.01) - models::activate_d1(a, x - kStep, 0.01)) / (2 * kStep);
      EXPECT_NEAR(models::activate_d1(a, x, 0.01), d1, kFdTolerance) << name << " at " << x;
      EXPECT_NEAR(models::activate_d2(a, x, 0.01), d2, kFdTolerance) << name << " at " << x;
    }
}

TEST(Batches, SubsetEqualsNetworkOnTheSubset) {
  const auto o = options_for(Activation::tanh, Loss::cross_entropy, false, 0.05);
  const io::DataArrays data = small_data(Loss::cross_entropy, 9, 3, 3, 15);
  const models::Network net(o, data);
  const std::vector<std::int64_t> batch = {2, 5, 8};
  io::DataArrays sub;
  sub.X.resize(3, 3);
  sub.y.resize(3, 1);
  for (int i = 0; i < 3; ++i) {
    sub.X.row(i) = data.X.row(batch[i]);
    sub.y.row(i) = data.y.row(batch[i]);
  }
  const models::Network on_subset(o, sub);
  const Vector x = random_vector(net.dim(), 9);
  Vector g1, g2;
  EXPECT_NEAR(net.batch_gradient(x, batch, g1), on_subset.gradient(x, g2), 1e-13);
  EXPECT_LE((g1 - g2).norm(), 1e-13 * g2.norm());
  EXPECT_THROW(net.batch_value(x, std::vector<std::int64_t>{9}), std::invalid_argument);
  EXPECT_THROW(net.batch_value(x, std::vector<std::int64_t>{}), std::invalid_argument);
}

TEST(GaussNewton, EqualsHessianForLinearLeastSquares) {
  // f(θ) = mean ‖Wx + b − y‖²/k + λ/2‖θ‖² is quadratic in θ, so J does not depend on θ and H = JᵀH_ℓJ + λI.
  const auto net = models::make_network({{"kind", "linear_regression"}, {"inputs", 4}, {"outputs", 2}, {"weight_decay", 0.1}},
                                        small_data(Loss::mse, 10, 4, 2, 16));
  const Vector x = random_vector(net->dim(), 10);
  const Matrix I = Matrix::Identity(net->dim(), net->dim());
  Matrix H, G;
  net->hessian_vector_product(x, I, H);
  net->gauss_newton_vector_product(x, I, G);
  EXPECT_LE((H - G).norm(), 1e-13 * H.norm());
}

TEST(GaussNewton, EqualsHessianAtAnInterpolatingPoint) {
  // With mse and zero residuals the second-order term Σ r_i ∇²z_i vanishes, so H = G exactly (up to
  // rounding) even for a nonlinear network: fit targets to the network's own outputs.
  models::NetworkOptions o = options_for(Activation::tanh, Loss::mse, true, 0.0);
  io::DataArrays data = small_data(Loss::mse, 6, 3, 3, 17);
  const Vector x = random_vector(o.parameter_count(), 11, 0.8);
  data.y = models::Network(o, data).outputs(x);
  const models::Network net(o, data);
  const Matrix I = Matrix::Identity(net.dim(), net.dim());
  Matrix H, G;
  net.hessian_vector_product(x, I, H);
  net.gauss_newton_vector_product(x, I, G);
  EXPECT_LE((H - G).norm(), 1e-12 * H.norm());
  // Away from interpolation the two differ (this test would notice G silently returning H).
  data.y.array() += 0.5;
  const models::Network off(o, data);
  off.hessian_vector_product(x, I, H);
  off.gauss_newton_vector_product(x, I, G);
  EXPECT_GT((H - G).norm(), 1e-3 * H.norm());
  // G is PSD: its smallest eigenvalue is ≥ −rounding.
  Eigen::SelfAdjointEigenSolver<Matrix> eig(0.5 * (G + G.transpose()));
  EXPECT_GE(eig.eigenvalues().minCoeff(), -1e-12 * eig.eigenvalues().maxCoeff());
}

TEST(Fisher, MatchesDefinitionFromPerSampleGradients) {
  for (Loss loss : {Loss::mse, Loss::cross_entropy, Loss::logistic}) {
    const auto o = options_for(Activation::softplus, loss, false, 0.07);
    const models::Network net(o, small_data(loss, 5, 3, o.widths.back(), 18));
    const Vector x = random_vector(net.dim(), 12, 0.8);
    Matrix F_def = Matrix::Zero(net.dim(), net.dim());
    for (std::int64_t i = 0; i < 5; ++i) {
      Vector gi;
      net.batch_gradient(x, std::vector<std::int64_t>{i}, gi);
      gi -= o.weight_decay * x;  // the sample's loss alone; the regulariser is not part of F
      F_def += gi * gi.transpose() / 5.0;
    }
    Matrix F;
    net.fisher_vector_product(x, Matrix::Identity(net.dim(), net.dim()), F);
    EXPECT_LE((F - F_def).norm(), 1e-12 * F_def.norm()) << models::to_string(loss);
  }
}

TEST(Layout, BlocksCoverParametersInTorchOrder) {
  const auto o = options_for(Activation::tanh, Loss::mse, false, 0.0);
  const models::Network net(o, small_data(Loss::mse, 3, 3, 3, 19));
  const auto blocks = net.parameter_blocks();
  ASSERT_EQ(blocks.size(), 8u);
  objective::Index offset = 0;
  for (const auto& b : blocks) {
    EXPECT_EQ(b.offset, offset);
    offset += b.size;
  }
  EXPECT_EQ(offset, net.dim());
  EXPECT_EQ(blocks[0].name, "layer1.weight");
  EXPECT_EQ(blocks[0].size, 15);
  EXPECT_EQ(blocks[1].name, "layer1.bias");
  // W row-major [out, in]: with x = e_(r*in + c) and a zero bias, output row r sees input column c.
  models::NetworkOptions lin;
  lin.widths = {3, 2};
  lin.activation = Activation::identity;
  io::DataArrays d = small_data(Loss::mse, 1, 3, 2, 20);
  const models::Network one(lin, d);
  Vector theta = Vector::Zero(one.dim());
  theta[1 * 3 + 2] = 1.0;  // W[1][2]
  const Matrix z = one.outputs(theta);
  EXPECT_EQ(z(0, 0), 0.0);
  EXPECT_EQ(z(0, 1), d.X(0, 2));
}

TEST(Specs, EveryKindRoundTripsAndBadFieldsAreRefused) {
  const io::DataArrays reg = small_data(Loss::mse, 4, 3, 2, 21);
  for (const nlohmann::json& spec :
       {nlohmann::json{{"kind", "mlp"}, {"widths", {3, 4, 2}}, {"activation", "gelu"}, {"loss", "mse"}},
        nlohmann::json{{"kind", "deep_linear"}, {"widths", {3, 4, 4, 2}}},
        nlohmann::json{{"kind", "linear_regression"}, {"inputs", 3}, {"outputs", 2}}}) {
    const auto net = models::make_network(spec, reg);
    const auto again = models::make_network(net->spec(), reg);
    EXPECT_EQ(again->spec(), net->spec());
    EXPECT_EQ(again->dim(), net->dim());
  }
  EXPECT_EQ(models::make_network({{"kind", "deep_linear"}, {"widths", {3, 4, 2}}}, reg)->dim(), 3 * 4 + 4 * 2);
  const auto bad = [&](const nlohmann::json& spec) {
    EXPECT_THROW(models::network_options_from_spec(spec), std::invalid_argument) << spec.dump();
  };
  bad({{"kind", "mlp"}, {"widths", {1000000, 1000000}}});  // 10^12 parameters: refused before any allocation
  bad({{"kind", "mlp"}, {"widths", {3, 0, 2}}});
  bad({{"kind", "mlp"}, {"widths", {3}}});
  bad({{"kind", "mlp"}, {"widths", {3, 2}}, {"activation", "swish"}});
  bad({{"kind", "mlp"}, {"widths", {3, 2}}, {"loss", "logistic"}});  // logistic needs one output
  bad({{"kind", "mlp"}, {"widths", {3, 2}}, {"weight_decay", -1}});
  bad({{"kind", "mlp"}, {"widths", {3, 2}}, {"parameters", 7}});  // 3·2 + 2 = 8
  bad({{"kind", "mlp"}, {"widths", {3, 2}}, {"hidden", 7}});      // unknown field
  bad({{"kind", "linear_regression"}, {"inputs", -3}});
  bad({{"kind", "logistic_regression"}, {"inputs", 3}, {"classes", 1}});
  // Data that does not fit the spec.
  EXPECT_THROW(models::make_network({{"kind", "linear_regression"}, {"inputs", 4}, {"outputs", 2}}, reg), std::invalid_argument);
  EXPECT_THROW(models::make_network({{"kind", "logistic_regression"}, {"inputs", 3}, {"classes", 3}}, reg),
               std::invalid_argument);  // y has 2 columns of reals, not class indices
}

TEST(Initialisation, SeededAndScaled) {
  models::NetworkOptions o;
  o.widths = {200, 100, 50};
  const Vector a = models::initial_parameters(o, models::Init::he, 3);
  EXPECT_EQ(a, models::initial_parameters(o, models::Init::he, 3));
  EXPECT_NE(a, models::initial_parameters(o, models::Init::he, 4));
  // He: first layer's 20000 weights have variance 2/200 = 0.01; the sample variance of 20000 normals
  // is within 3·√(2/20000) ≈ 3% of it with probability > 99.7%.
  const Vector w1 = a.head(200 * 100);
  EXPECT_NEAR(w1.squaredNorm() / w1.size(), 0.01, 0.01 * 0.03);
  EXPECT_EQ(a.segment(200 * 100, 100).norm(), 0.0);  // zero biases
  const Vector x = models::initial_parameters(o, models::Init::xavier, 3);
  // Glorot uniform on ±√(6/300): every entry inside, variance a²/3 = 2/300.
  EXPECT_LE(x.head(20000).cwiseAbs().maxCoeff(), std::sqrt(6.0 / 300));
  EXPECT_NEAR(x.head(20000).squaredNorm() / 20000, 2.0 / 300, 2.0 / 300 * 0.03);
  EXPECT_EQ(models::initial_parameters(o, models::Init::zeros, 3).norm(), 0.0);
}

TEST(Datasets, GeneratorsAreDeterministicAndShaped) {
  const auto a = models::synthetic_data("spirals:n=50,noise=0.1,seed=3");
  const auto b = models::synthetic_data("spirals:n=50,noise=0.1,seed=3");
  EXPECT_EQ(a.X, b.X);
  EXPECT_EQ(a.X.rows(), 50);
  const auto m = models::synthetic_data("mixture:n=30,classes=3,dim=4,separation=2,seed=1");
  EXPECT_EQ(m.X.cols(), 4);
  EXPECT_EQ(m.y.maxCoeff(), 2.0);
  const auto t = models::synthetic_data("teacher:n=20,widths=3-5-2,activation=relu,noise=0,seed=2");
  EXPECT_EQ(t.y.cols(), 2);
  const auto x = models::synthetic_data("xor:n=40,noise=0,seed=1");
  for (int i = 0; i < 40; ++i) EXPECT_EQ(x.y(i, 0), (x.X(i, 0) * x.X(i, 1) < 0) ? 1.0 : 0.0);
  EXPECT_THROW(models::synthetic_data("spirals:n=0"), std::invalid_argument);
  EXPECT_THROW(models::synthetic_data("spirals:bogus=1"), std::invalid_argument);
  EXPECT_THROW(models::synthetic_data("moons:n=10"), std::invalid_argument);
}

}  // namespace

namespace {

TEST(Blocks, ChunkedBlocksEqualTheirColumns) {
  // Large batches make the product split a block into chunks (network.cpp, r_chunk_columns): with
  // widths [3, 64, 3] a column's R-workspace is 4·N·70·8 bytes, so N = 3000 gives chunks of 1 and
  // N = 1500 chunks of 2 (a ragged last chunk for 5 columns). Each column must be what it is alone
  // (same arithmetic: 1e-12 relative).
  // One Eigen thread: these GEMMs are big enough for Eigen to go parallel, which on a shared,
  // oversubscribed machine costs far more than it gains.
  const int threads = Eigen::nbThreads();
  Eigen::setNbThreads(1);
  for (const std::int64_t samples : {3000, 1500}) {
    models::NetworkOptions o;
    o.widths = {3, 64, 3};
    o.activation = Activation::softplus;
    o.loss = Loss::cross_entropy;
    const models::Network net(o, small_data(Loss::cross_entropy, samples, 3, 3, 22));
    const Vector x = random_vector(net.dim(), 13, 0.5);
    const Matrix V = random_matrix(net.dim(), 5, 14);
    for (int product = 0; product < 3; ++product) {
      Matrix block, single;
      auto apply = [&](const Matrix& in, Matrix& out) {
        if (product == 0) net.hessian_vector_product(x, in, out);
        if (product == 1) net.gauss_newton_vector_product(x, in, out);
        if (product == 2) net.fisher_vector_product(x, in, out);
      };
      apply(V, block);
      for (int j = 0; j < 5; ++j) {
        apply(V.col(j), single);
        EXPECT_LE((single.col(0) - block.col(j)).norm(), 1e-12 * single.norm()) << samples << " " << product << " " << j;
      }
    }
  }
  Eigen::setNbThreads(threads);
}

}  // namespace

namespace {

TEST(Blocks, LayerSparseVectorsUseTheSamePathsAsDenseOnes) {
  // The product skips layers in which a vector is zero (network.cpp, r_forward). By linearity
  // H·s = H·(s + r) − H·r with r dense, and the right side never skips anything, so it checks the
  // sparse path against the full one (rounding: 1e-12 relative to ‖H·r‖).
  const auto o = options_for(Activation::gelu, Loss::cross_entropy, true, 0.01);
  const models::Network net(o, small_data(Loss::cross_entropy, 9, 3, 3, 23));
  const Vector x = random_vector(net.dim(), 15, 0.7);
  const auto blocks = net.parameter_blocks();
  Matrix S = Matrix::Zero(net.dim(), 4);  // zero column, last layer only, a middle layer, one entry
  S.block(blocks.back().offset, 1, blocks.back().size, 1).setConstant(0.3);
  S.block(blocks[2].offset, 2, blocks[2].size, 1).setConstant(-0.2);
  S(blocks[4].offset + 3, 3) = 1.0;
  const Matrix R = random_matrix(net.dim(), 4, 16);
  Matrix HS, HSR, HR;
  for (int product = 0; product < 2; ++product) {
    auto apply = [&](const Matrix& in, Matrix& out) {
      if (product == 0) net.hessian_vector_product(x, in, out);
      if (product == 1) net.gauss_newton_vector_product(x, in, out);
    };
    apply(S, HS);
    apply(S + R, HSR);
    apply(R, HR);
    EXPECT_LE((HS - (HSR - HR)).norm(), 1e-12 * HR.norm()) << product;
    EXPECT_EQ(HS.col(0).norm(), 0.0);
  }
}

}  // namespace
