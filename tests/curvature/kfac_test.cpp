// K-FAC (curvature/kfac.h, objective/kronecker.h, models::Network::kronecker_factors) against exact
// curvature where the Kronecker factorisation is a theorem, not an approximation:
// - linear regression with mse: δ = Q is the same for every sample, so E[ããᵀ ⊗ δδᵀ] = E[ããᵀ] ⊗ QQᵀ and
//   K-FAC(exact factors) equals the GGN, which equals the Hessian (the model is linear in θ);
// - one sample (N = 1): A = ããᵀ and G = Σ_c δ_c δ_cᵀ, so A ⊗ G is the layer's GGN block exactly (and
//   with the observed-target δ, the empirical Fisher's block);
// - the closed-form spectrum (products of the factors' eigenvalues) against a dense eigensolver of the
//   operator's assembled matrix.
// Tolerances: both sides are a few GEMMs and a symmetric eigensolver on matrices of norm O(1), so they
// agree to O(n·ε) ≈ 1e-13 relative; we check 1e-10, far below any structural error (O(1)).
#include <gtest/gtest.h>

#include <Eigen/Eigenvalues>
#include <unsupported/Eigen/KroneckerProduct>

#include "curvature/blocks.h"
#include "curvature/kfac.h"
#include "curvature/operator.h"
#include "models/datasets.h"
#include "models/network.h"
#include "support/matrices.h"

namespace sc = saddlescope;
using sc::curvature::Curvature;
using sc::curvature::KfacOperator;
using sc::curvature::ObjectiveOperator;
using sc::objective::KroneckerFisher;
using sc::testing::relative;

namespace {

constexpr double kTol = 1e-10;

sc::models::Network mlp(std::int64_t samples, sc::models::Loss loss, bool bias = true, bool residual = false) {
  sc::io::DataArrays data = sc::models::gaussian_mixture(samples, 3, 4, 2.0, 11);
  sc::models::NetworkOptions o;
  o.widths = {4, 5, 5, loss == sc::models::Loss::logistic ? 1 : 3};
  o.activation = sc::models::Activation::tanh;
  o.loss = loss;
  o.bias = bias;
  o.residual = residual;
  if (loss == sc::models::Loss::logistic)
    for (Eigen::Index i = 0; i < data.y.rows(); ++i) data.y(i, 0) = data.y(i, 0) > 0 ? 1.0 : 0.0;
  if (loss == sc::models::Loss::mse) {
    Eigen::MatrixXd y = Eigen::MatrixXd::Zero(data.y.rows(), 3);
    for (Eigen::Index i = 0; i < y.rows(); ++i) y(i, static_cast<Eigen::Index>(data.y(i, 0))) = 1.0;
    data.y = y;
  }
  return sc::models::Network(o, data);
}

// The GGN block of a layer's parameters (weight and bias) from the dense GGN.
Eigen::MatrixXd ggn_block(const Eigen::MatrixXd& G, const sc::objective::KroneckerLayer& layer) {
  std::vector<Eigen::Index> index;
  for (Eigen::Index i = 0; i < layer.out * layer.in; ++i) index.push_back(layer.weight_offset + i);
  for (Eigen::Index i = 0; layer.has_bias() && i < layer.out; ++i) index.push_back(layer.bias_offset + i);
  return G(index, index);
}

TEST(Kfac, LinearRegressionWithMseIsExactlyTheGaussNewtonAndTheHessian) {
  sc::io::DataArrays data = sc::models::teacher_student(40, {3, 2}, sc::models::Activation::identity, 0.1, 4);
  sc::models::NetworkOptions o;
  o.widths = {3, 2};
  o.activation = sc::models::Activation::identity;
  o.loss = sc::models::Loss::mse;
  o.weight_decay = 0.05;
  o.kind = "linear_regression";
  const sc::models::Network net(o, data);
  const sc::objective::Vector x = sc::models::initial_parameters(o, sc::models::Init::normal, 2, 0.5);
  const KfacOperator kfac = KfacOperator::at(net, x, KroneckerFisher::exact);
  const Eigen::MatrixXd H = ObjectiveOperator(net, x, Curvature::hessian).dense();
  const Eigen::MatrixXd G = ObjectiveOperator(net, x, Curvature::ggn).dense();
  EXPECT_LT(relative(kfac.dense(), G), kTol);
  EXPECT_LT(relative(kfac.dense(), H), kTol);
}

class KfacOneSample : public ::testing::TestWithParam<sc::models::Loss> {};

TEST_P(KfacOneSample, ExactFactorsGiveTheGaussNewtonBlocksAndObservedOnesTheEmpiricalFisherBlocks) {
  const sc::models::Network net = mlp(1, GetParam(), true, true);
  const sc::objective::Vector x = sc::models::initial_parameters(net.options(), sc::models::Init::xavier, 5);
  const KfacOperator exact = KfacOperator::at(net, x, KroneckerFisher::exact);
  const KfacOperator empirical = KfacOperator::at(net, x, KroneckerFisher::empirical);
  const Eigen::MatrixXd G = ObjectiveOperator(net, x, Curvature::ggn).dense();
  const Eigen::MatrixXd F = ObjectiveOperator(net, x, Curvature::fisher).dense();
  const Eigen::MatrixXd KG = exact.dense(), KF = empirical.dense();
  ASSERT_EQ(exact.layers().size(), 3u);
  for (const auto& layer : exact.layers()) {
    EXPECT_LT(relative(ggn_block(KG, layer), ggn_block(G, layer)), kTol) << layer.name;
    EXPECT_LT(relative(ggn_block(KF, layer), ggn_block(F, layer)), kTol) << layer.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Losses, KfacOneSample,
                         ::testing::Values(sc::models::Loss::mse, sc::models::Loss::cross_entropy, sc::models::Loss::logistic));

TEST(Kfac, ClosedFormSpectrumEqualsTheDenseEigenvaluesOfTheOperator) {
  const sc::models::Network net = mlp(30, sc::models::Loss::cross_entropy);
  const sc::objective::Vector x = sc::models::initial_parameters(net.options(), sc::models::Init::xavier, 6);
  const KfacOperator kfac = KfacOperator::at(net, x, KroneckerFisher::exact);
  const Eigen::MatrixXd K = kfac.dense();
  const Eigen::VectorXd dense = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(K, Eigen::EigenvaluesOnly).eigenvalues();
  const Eigen::VectorXd closed = kfac.eigenvalues();
  ASSERT_EQ(closed.size(), dense.size());
  EXPECT_LT((closed - dense).cwiseAbs().maxCoeff(), kTol * dense.cwiseAbs().maxCoeff());
  double trace = 0.0;
  for (std::size_t l = 0; l < kfac.layers().size(); ++l) trace += kfac.layer_trace(l);
  EXPECT_NEAR(trace, K.trace(), kTol * std::abs(K.trace()));
}

TEST(Kfac, FactorsOfTheLayerLayoutAgreeWithAnExplicitKroneckerProduct) {
  // Independent of gather/scatter: the K-FAC block built with Eigen's kroneckerProduct in the
  // column-major order of W̃ = [W b], then permuted into the parameter order (W row-major, then b).
  const sc::models::Network net = mlp(12, sc::models::Loss::cross_entropy);
  const sc::objective::Vector x = sc::models::initial_parameters(net.options(), sc::models::Init::xavier, 7);
  const KfacOperator kfac = KfacOperator::at(net, x, KroneckerFisher::exact);
  const Eigen::MatrixXd K = kfac.dense();
  for (const auto& layer : kfac.layers()) {
    const Eigen::MatrixXd kron = Eigen::kroneckerProduct(layer.A, layer.G);  // index (i, o) ↦ i·out + o
    std::vector<Eigen::Index> position;  // parameter-order position of W̃'s column-major entry
    for (Eigen::Index i = 0; i < layer.in_total(); ++i)
      for (Eigen::Index o = 0; o < layer.out; ++o)
        position.push_back(i < layer.in ? o * layer.in + i : layer.out * layer.in + o);
    Eigen::MatrixXd expected(kron.rows(), kron.cols());
    for (Eigen::Index r = 0; r < kron.rows(); ++r)
      for (Eigen::Index c = 0; c < kron.cols(); ++c) expected(position[r], position[c]) = kron(r, c);
    EXPECT_LT(relative(ggn_block(K, layer), expected), kTol) << layer.name;
  }
}

TEST(Kfac, SampledFactorsAverageToTheExactOnes) {
  // E[δδᵀ] over the sampled target equals the loss Hessian's factor product, so the mean of many
  // sampled G factors converges to the exact G at the Monte Carlo rate. 4000 draws of a 30-sample
  // batch: the relative standard error of each entry is ≈ 1/√(4000·30) ≈ 3e-3; we allow 3e-2 (10σ).
  const sc::models::Network net = mlp(30, sc::models::Loss::cross_entropy);
  const sc::objective::Vector x = sc::models::initial_parameters(net.options(), sc::models::Init::xavier, 8);
  const auto exact = net.kronecker_factors(x, KroneckerFisher::exact, 0);
  Eigen::MatrixXd mean = Eigen::MatrixXd::Zero(exact.back().G.rows(), exact.back().G.cols());
  constexpr int kDraws = 4000;
  for (int d = 0; d < kDraws; ++d) mean += net.kronecker_factors(x, KroneckerFisher::sampled, d).back().G / kDraws;
  EXPECT_LT(relative(mean, exact.back().G), 3e-2);
  // A is the same whatever the targets.
  EXPECT_EQ(net.kronecker_factors(x, KroneckerFisher::sampled, 1)[1].A, exact[1].A);
}

TEST(Kfac, ComparisonReportsZeroErrorWhereKfacIsExactAndAPositiveOneElsewhere) {
  sc::curvature::LayerTableOptions options;
  {
    const sc::models::Network net = mlp(1, sc::models::Loss::cross_entropy);
    const sc::objective::Vector x = sc::models::initial_parameters(net.options(), sc::models::Init::xavier, 9);
    const ObjectiveOperator ggn(net, x, Curvature::ggn);
    const auto rows = sc::curvature::compare_kfac(ggn, KfacOperator::at(net, x, KroneckerFisher::exact), options);
    for (const auto& row : rows) {
      EXPECT_TRUE(row.frobenius_exact);
      EXPECT_LT(row.relative_frobenius_error, kTol) << row.name;
      EXPECT_NEAR(row.kfac_lambda_max, row.exact.lambda_max, kTol * row.exact.lambda_max) << row.name;
      EXPECT_NEAR(row.kfac_trace, row.exact.trace, kTol * row.exact.trace) << row.name;
    }
  }
  const sc::models::Network net = mlp(40, sc::models::Loss::cross_entropy);
  const sc::objective::Vector x = sc::models::initial_parameters(net.options(), sc::models::Init::xavier, 9);
  const ObjectiveOperator ggn(net, x, Curvature::ggn);
  const auto rows = sc::curvature::compare_kfac(ggn, KfacOperator::at(net, x, KroneckerFisher::exact), options);
  ASSERT_EQ(rows.size(), 3u);
  // With 40 samples the factorisation is an approximation: a nonzero, but bounded, error.
  for (const auto& row : rows) {
    EXPECT_GT(row.relative_frobenius_error, 1e-6) << row.name;
    EXPECT_LT(row.relative_frobenius_error, 2.0) << row.name;
  }
}

TEST(Kfac, RefusesAnObjectiveWithoutKroneckerLayers) {
  const sc::curvature::MatrixOperator A(Eigen::MatrixXd::Identity(3, 3));
  struct NoLayers final : sc::objective::Objective {
    Eigen::Index dim() const override { return 2; }
    double value(const sc::objective::Vector& x) const override { return x.squaredNorm(); }
    double gradient(const sc::objective::Vector& x, sc::objective::Vector& g) const override {
      g = 2 * x;
      return x.squaredNorm();
    }
    void hessian_vector_product(const sc::objective::Vector&, const sc::objective::Matrix& V,
                                sc::objective::Matrix& HV) const override {
      HV = 2 * V;
    }
    nlohmann::json spec() const override { return {}; }
    std::string description() const override { return "bowl"; }
  } bowl;
  EXPECT_THROW(KfacOperator::at(bowl, sc::objective::Vector::Zero(2), KroneckerFisher::exact), std::invalid_argument);
}

}  // namespace
