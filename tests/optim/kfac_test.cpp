// The K-FAC preconditioner (optim/kfac.h) against an independent dense computation of the same update:
// the damped Kronecker factors are formed explicitly with Eigen's kroneckerProduct, permuted into the
// parameter layout, inverted by a dense LU, and applied to the gradient; running averages and intervals
// are recomputed by hand from the objective's factors. Agreement to 1e-10 relative (both sides are
// well-conditioned solves of size ≤ 70: O(κ·n·ε) ≈ 1e-12).
#include <gtest/gtest.h>

#include <Eigen/LU>
#include <unsupported/Eigen/KroneckerProduct>

#include "curvature/kfac.h"
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
      const double decay = std::min(1.0 - 1.0 / refreshes, options.factor_decay);
      if (average.empty()) average = fresh;
      else
        for (std::size_t l = 0; l < fresh.size(); ++l) {
          average[l].A = decay * average[l].A + (1 - decay) * fresh[l].A;
          average[l].G = decay * average[l].G + (1 - decay) * fresh[l].G;
        }
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

TEST(KfacOptimizer, InvalidOptionsAreRefusedNamingTheField) {
  sc::optim::KfacOptions options;
  options.factor_decay = 1.0;
  sc::testing::expect_invalid(options, "'factor_decay'");
  EXPECT_THROW(sc::optim::KfacPreconditioner{options}, std::invalid_argument);
}

}  // namespace
