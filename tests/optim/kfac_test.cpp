// The K-FAC preconditioner (optim/kfac.h) against an independent dense computation of the same update:
// the damped Kronecker factors are formed explicitly with Eigen's kroneckerProduct, permuted into the
// parameter layout, inverted by a dense LU, and applied to the gradient; running averages and intervals
// are recomputed by hand from the objective's factors. Agreement to 1e-10 relative (both sides are
// well-conditioned solves of size ≤ 70: O(κ·n·ε) ≈ 1e-12).
#include <gtest/gtest.h>

#include <Eigen/LU>
#include <unsupported/Eigen/KroneckerProduct>

#include "curvature/kfac.h"
#include "graph/graph_checks.h"
#include "random/random.h"
#include "models/datasets.h"
#include "models/network.h"
#include "optim/kfac.h"
#include "support/networks.h"
#include "support/options.h"

namespace sc = saddlescope;
using sc::objective::KroneckerFisher;
using sc::objective::KroneckerLayer;

namespace {

Eigen::MatrixXd dense_damped(const std::vector<KroneckerLayer>& layers, Eigen::Index n, double damping) {
  Eigen::MatrixXd M = damping * Eigen::MatrixXd::Identity(n, n);
  for (const auto& layer : layers) {
    const double pi = sc::curvature::kfac_pi(layer), root = std::sqrt(damping);
    const Eigen::MatrixXd A = layer.A + pi * root * Eigen::MatrixXd::Identity(layer.A.rows(), layer.A.rows());
    const Eigen::MatrixXd G = layer.G + root / pi * Eigen::MatrixXd::Identity(layer.G.rows(), layer.G.rows());
    const Eigen::MatrixXd kron = Eigen::kroneckerProduct(A, G);
    std::vector<Eigen::Index> position;
    for (Eigen::Index i = 0; i < layer.in_total(); ++i)
      for (Eigen::Index o = 0; o < layer.out; ++o)
        position.push_back(i < layer.in ? layer.weight_offset + o * layer.in + i : layer.bias_offset + o);
    for (Eigen::Index r = 0; r < kron.rows(); ++r)
      for (Eigen::Index c = 0; c < kron.cols(); ++c) M(position[r], position[c]) = kron(r, c);
  }
  return M;
}

// M&G Sec. 5's running average, written out: Ā ← ε Ā + (1 − ε) A (the first refresh takes the factors).
void running_average(std::vector<KroneckerLayer>& average, const std::vector<KroneckerLayer>& fresh, double decay) {
  if (average.empty()) {
    average = fresh;
    return;
  }
  for (std::size_t l = 0; l < fresh.size(); ++l) {
    average[l].A = decay * average[l].A + (1 - decay) * fresh[l].A;
    average[l].G = decay * average[l].G + (1 - decay) * fresh[l].G;
  }
}

TEST(KfacOptimizer, FirstStepsEqualADenseSolveWithRunningAveragesAndIntervals) {
  sc::models::NetworkOptions o = sc::testing::classifier_options({4, 6, 3});
  o.weight_decay = 1e-3;
  const sc::models::Network net = sc::testing::on_gaussian_mixture(o, 24, 3);
  sc::objective::Vector x = sc::models::initial_parameters(o, sc::models::Init::xavier, 4);

  sc::optim::KfacOptions options;
  options.damping = 0.05;
  options.factor_decay = 0.8;
  options.factor_interval = 2;
  options.inverse_interval = 3;
  options.fisher = KroneckerFisher::exact;
  sc::optim::KfacPreconditioner kfac(options);

  const double lr = 0.3, gamma = options.damping + o.weight_decay;
  std::vector<KroneckerLayer> average;
  Eigen::MatrixXd inverse;
  int refreshes = 0;
  for (std::int64_t step = 1; step <= 7; ++step) {
    sc::objective::Vector g, direction;
    net.gradient(x, g);
    if ((step - 1) % options.factor_interval == 0) {
      const auto fresh = net.kronecker_factors(x, KroneckerFisher::exact, 0);
      ++refreshes;
      running_average(average, fresh, std::min(1.0 - 1.0 / refreshes, options.factor_decay));
    }
    if ((step - 1) % options.inverse_interval == 0) inverse = dense_damped(average, net.dim(), gamma).inverse();
    const sc::objective::Vector expected = inverse * g;
    kfac.precondition(net, x, g, step, direction);
    EXPECT_LT((direction - expected).norm(), 1e-10 * expected.norm()) << "step " << step;
    x -= lr * direction;
  }
  EXPECT_EQ(kfac.refreshes(), 4);
}

TEST(KfacOptimizer, ResumingFromSavedStateContinuesTheSameTrajectory) {
  const sc::models::NetworkOptions o = sc::testing::classifier_options({3, 4, 2});
  const sc::models::Network net = sc::testing::on_gaussian_mixture(o, 20, 5);
  sc::optim::KfacOptions options;
  options.factor_interval = 2;
  options.inverse_interval = 3;
  auto run = [&](int steps, sc::optim::KfacPreconditioner& kfac, sc::objective::Vector& x, int first) {
    for (int step = first; step < first + steps; ++step) {
      sc::objective::Vector g, d;
      net.gradient(x, g);
      kfac.precondition(net, x, g, step, d);
      x -= 0.2 * d;
    }
  };
  const sc::objective::Vector start = sc::models::initial_parameters(o, sc::models::Init::xavier, 2);
  sc::objective::Vector straight = start, resumed = start;
  sc::optim::KfacPreconditioner a(options), b(options);
  run(8, a, straight, 1);
  run(4, b, resumed, 1);
  std::map<std::string, sc::objective::Vector> state;
  b.save_state(state);
  sc::optim::KfacPreconditioner c(options);
  c.load_state(state);
  // Step 5 refreshes the averages but keeps the inverse formed at step 4 from the older ones: the state
  // carries both, so the resumed run repeats the same operations and the same bits.
  run(4, c, resumed, 5);
  EXPECT_EQ(straight, resumed);
}

// The same dense check on a graph CNN (conv 1→3 3×3 pad 1 with bias, relu, average pool, a strided
// conv without bias, linear): KFC factors (GraphObjective::kronecker_factors, checked against explicit
// patches in tests/graph/graph_kfac_test.cpp), sampled targets keyed by the run's seed and the step
// (KfacOptions::seed), factor_interval 1 and inverse_interval 2.
TEST(KfacOptimizer, GraphCnnFirstStepsEqualADenseSolveWithSampledTargetsKeyedBySeedAndStep) {
  namespace gt = sc::graph_test;
  gt::Builder b({1, 8, 8}, 4);
  const auto w1 = b.param("conv1.weight", {3, 1, 3, 3}, 0.4);
  const auto b1 = b.param("conv1.bias", {3}, 0.1);
  auto h = b.node("Relu", {b.node("Conv", {"input", w1, b1}, {{"pads", std::vector<std::int64_t>{1, 1, 1, 1}}})});
  h = b.node("AveragePool", {h}, {{"kernel_shape", std::vector<std::int64_t>{2, 2}}, {"strides", std::vector<std::int64_t>{2, 2}}});
  const auto w2 = b.param("conv2.weight", {4, 3, 2, 2}, 0.4);
  h = b.node("Flatten", {b.node("Relu", {b.node("Conv", {h, w2}, {{"strides", std::vector<std::int64_t>{2, 2}}})})});
  gt::GraphOptions go;
  go.weight_decay = 1e-3;
  const gt::GraphObjective f(b.finish(b.linear(h, 4 * 2 * 2, 3, "fc")), go, gt::class_data(10, 64, 3, 2));
  sc::objective::Vector x = b.parameters();

  sc::optim::KfacOptions options;
  options.damping = 0.05;
  options.factor_decay = 0.8;
  options.inverse_interval = 2;
  options.seed = 31;
  sc::optim::KfacPreconditioner kfac(options);
  const double gamma = options.damping + go.weight_decay;
  std::vector<KroneckerLayer> average;
  Eigen::MatrixXd inverse;
  std::vector<std::uint64_t> seeds;
  for (std::int64_t step = 1; step <= 4; ++step) {
    sc::objective::Vector g, direction;
    f.gradient(x, g);
    const std::uint64_t seed = sc::random::Rng(sc::random::Rng(31, sc::optim::kKfacStream).next(), step).next();
    seeds.push_back(seed);
    const auto fresh = f.kronecker_factors(x, KroneckerFisher::sampled, seed);
    running_average(average, fresh, std::min(1.0 - 1.0 / static_cast<double>(step), options.factor_decay));
    if ((step - 1) % options.inverse_interval == 0) inverse = dense_damped(average, f.dim(), gamma).inverse();
    const sc::objective::Vector expected = inverse * g;
    kfac.precondition(f, x, g, step, direction);
    EXPECT_LT((direction - expected).norm(), 1e-10 * expected.norm()) << "step " << step;
    x -= 0.2 * direction;
  }
  ASSERT_EQ(average.size(), 3u);  // conv1, conv2 (no bias), fc
  EXPECT_FALSE(average[1].has_bias());
  EXPECT_NE(seeds[0], seeds[1]);  // the sampled targets change with the step (they were seed 0 for every run before)
}

// Regression: a diverging run's factors turned NaN and the damped inverse threw std::invalid_argument,
// which run-optimizer reported as a usage error (exit 2) instead of divergence (exit 1).
TEST(KfacOptimizer, NonFiniteFactorsGiveANanStepNotAnException) {
  const sc::models::NetworkOptions o = sc::testing::classifier_options({3, 4, 2});
  const sc::models::Network net = sc::testing::on_gaussian_mixture(o, 20, 5);
  sc::objective::Vector x = sc::models::initial_parameters(o, sc::models::Init::xavier, 2);
  x(0) = std::numeric_limits<double>::quiet_NaN();
  sc::optim::KfacPreconditioner kfac(sc::optim::KfacOptions{});
  sc::objective::Vector g = sc::objective::Vector::Ones(x.size()), direction;
  EXPECT_NO_THROW(kfac.precondition(net, x, g, 1, direction));
  EXPECT_TRUE(direction.array().isNaN().all());
}

TEST(KfacOptimizer, InvalidOptionsAreRefusedNamingTheField) {
  sc::optim::KfacOptions options;
  options.factor_decay = 1.0;
  sc::testing::expect_invalid(options, "'factor_decay'");
  EXPECT_THROW(sc::optim::KfacPreconditioner{options}, std::invalid_argument);
}

}  // namespace
