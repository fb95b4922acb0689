// Per-block curvature (curvature/blocks.h): the restriction of an operator to named parameter blocks
// is the principal submatrix (checked entry by entry against the dense matrix), its eigenvalues
// interlace those of the whole (Cauchy's interlacing theorem), and the per-layer table's dense and
// Lanczos paths agree (the Lanczos bound of lanczos_test.cpp: residual-sized errors at tol 1e-10).
#include <gtest/gtest.h>

#include <Eigen/Eigenvalues>

#include "curvature/blocks.h"
#include "curvature/operator.h"
#include "models/datasets.h"
#include "models/network.h"
#include "support/networks.h"

namespace sc = saddlescope;
using sc::curvature::ParameterBlock;

namespace {

Eigen::MatrixXd random_symmetric(Eigen::Index n, unsigned seed) {
  std::srand(seed);
  const Eigen::MatrixXd A = Eigen::MatrixXd::Random(n, n);
  return (A + A.transpose()) / 2;
}

TEST(Blocks, GlobsSelectBlocksInTheirOrderAndAnUnmatchedPatternNamesItself) {
  const std::vector<ParameterBlock> blocks = {{"layer1.weight", 0, 6}, {"layer1.bias", 6, 2}, {"layer2.weight", 8, 4}, {"layer2.bias", 12, 2}};
  const auto chosen = sc::curvature::select_blocks(blocks, {"*.bias", "layer1.weight"});
  ASSERT_EQ(chosen.size(), 3u);
  EXPECT_EQ(chosen[0].name, "layer1.weight");
  EXPECT_EQ(chosen[1].name, "layer1.bias");
  EXPECT_EQ(chosen[2].name, "layer2.bias");
  try {
    sc::curvature::select_blocks(blocks, {"conv*"});
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'conv*'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("layer2.bias"), std::string::npos) << e.what();
  }
  EXPECT_THROW(sc::curvature::split_block_patterns("a,,b"), std::invalid_argument);
  const auto groups = sc::curvature::group_by_layer(blocks);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[1].name, "layer2");
  EXPECT_EQ(groups[1].blocks.size(), 2u);
}

TEST(Blocks, RestrictionIsThePrincipalSubmatrixAndItsEigenvaluesInterlace) {
  const Eigen::MatrixXd M = random_symmetric(14, 3);
  const sc::curvature::MatrixOperator A(M);
  const std::vector<ParameterBlock> chosen = {{"b", 9, 3}, {"a", 2, 4}};
  const sc::curvature::RestrictedOperator R(A, chosen);
  ASSERT_EQ(R.rows(), 7);
  std::vector<Eigen::Index> index = {9, 10, 11, 2, 3, 4, 5};
  const Eigen::MatrixXd expected = M(index, index);
  EXPECT_EQ(R.dense(), expected);  // the same products, entry by entry: exact
  const Eigen::VectorXd whole = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(M).eigenvalues();
  const Eigen::VectorXd part = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(expected).eigenvalues();
  // Cauchy: λ_j(M) ≤ λ_j(M_SS) ≤ λ_{j+n−|S|}(M).
  for (Eigen::Index j = 0; j < part.size(); ++j) {
    EXPECT_LE(whole(j), part(j) + 1e-12);
    EXPECT_LE(part(j), whole(j + 14 - 7) + 1e-12);
  }
  const Eigen::VectorXd v = Eigen::VectorXd::LinSpaced(7, 1, 7);
  EXPECT_EQ(R.restrict(R.embed(v)), v);
  EXPECT_THROW(sc::curvature::RestrictedOperator(A, {{"x", 3, 4}, {"y", 5, 2}}), std::invalid_argument);
  EXPECT_THROW(sc::curvature::RestrictedOperator(A, {{"x", 12, 4}}), std::invalid_argument);
}

TEST(Blocks, LayerTableDensePathAndLanczosPathAgreeOnANetworkHessian) {
  const sc::models::NetworkOptions o = sc::testing::classifier_options({6, 12, 3});
  const sc::models::Network net = sc::testing::on_gaussian_mixture(o, 50, 2);
  const sc::objective::Vector x = sc::models::initial_parameters(o, sc::models::Init::xavier, 1);
  const sc::curvature::ObjectiveOperator H(net, x, sc::curvature::Curvature::hessian);
  const auto groups = sc::curvature::group_by_layer(net.parameter_blocks());
  sc::curvature::LayerTableOptions dense, lanczos;
  lanczos.dense_threshold = 0;
  lanczos.lanczos.tol = 1e-10;
  lanczos.trace_samples = 400;
  const auto exact = sc::curvature::layer_table(H, groups, dense);
  const auto iterative = sc::curvature::layer_table(H, groups, lanczos);
  const Eigen::MatrixXd full = H.dense();
  ASSERT_EQ(exact.size(), 2u);
  for (std::size_t r = 0; r < exact.size(); ++r) {
    EXPECT_TRUE(exact[r].exact);
    EXPECT_FALSE(iterative[r].exact);
    const double scale = std::max(std::abs(exact[r].lambda_min), std::abs(exact[r].lambda_max));
    // Lanczos at tol 1e-10 relative to ‖A_bb‖ (lanczos_test.cpp's bound), plus rounding.
    EXPECT_NEAR(iterative[r].lambda_max, exact[r].lambda_max, 1e-8 * scale) << exact[r].name;
    EXPECT_NEAR(iterative[r].lambda_min, exact[r].lambda_min, 1e-8 * scale) << exact[r].name;
    // Hutchinson: unbiased, with the reported standard error; 5σ.
    EXPECT_NEAR(iterative[r].trace, exact[r].trace, 5 * iterative[r].trace_stderr + 1e-12) << exact[r].name;
  }
  // The dense trace is the sum of the block's diagonal of the full Hessian.
  const auto& first = groups[0].blocks;
  double trace = 0;
  for (const auto& b : first) trace += full.diagonal().segment(b.offset, b.size).sum();
  EXPECT_NEAR(exact[0].trace, trace, 1e-12 * std::abs(trace) + 1e-14);
}

}  // namespace
