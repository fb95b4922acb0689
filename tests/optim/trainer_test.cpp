// The Trainer loop on an objective over a data set: mini-batches, per-layer gradient norms,
// determinism, and optimizer-state round trips.
#include <gtest/gtest.h>

#include <set>

#include "optim/trainer.h"
#include "random/random.h"

namespace sc = saddlescope;
using sc::objective::Batch;
using sc::objective::Index;
using sc::objective::Matrix;
using sc::objective::Vector;

namespace {

// Linear least squares f(w) = (1/2N) Σ_i (a_iᵀw − y_i)² over N synthetic samples, with exact
// derivatives (∇f = (1/N) Aᵀ(Aw − y), H = AᵀA/N), two parameter blocks ("w0" the first half, "w1" the
// rest), and a record of the samples each batch call saw.
class LeastSquares : public sc::objective::Objective {
 public:
  LeastSquares(Index samples, Index dim, std::uint64_t seed) : A_(samples, dim), y_(samples) {
    sc::random::Rng rng(seed, 0);
    for (Index i = 0; i < samples; ++i) {
      for (Index j = 0; j < dim; ++j) A_(i, j) = rng.normal();
      y_(i) = rng.normal();
    }
  }
  Index dim() const override { return A_.cols(); }
  double value(const Vector& x) const override { return 0.5 * (A_ * x - y_).squaredNorm() / A_.rows(); }
  double gradient(const Vector& x, Vector& g) const override {
    const Vector r = A_ * x - y_;
    g = A_.transpose() * r / static_cast<double>(A_.rows());
    return 0.5 * r.squaredNorm() / A_.rows();
  }
  void hessian_vector_product(const Vector&, const Matrix& V, Matrix& HV) const override {
    HV = A_.transpose() * (A_ * V) / static_cast<double>(A_.rows());
  }
  std::int64_t sample_count() const override { return A_.rows(); }
  double batch_gradient(const Vector& x, Batch batch, Vector& g) const override {
    g.setZero(dim());
    double loss = 0.0;
    for (std::int64_t i : batch) {
      seen.push_back(i);
      const double r = A_.row(i).dot(x) - y_(i);
      loss += 0.5 * r * r;
      g += r * A_.row(i).transpose();
    }
    g /= static_cast<double>(batch.size());
    return loss / static_cast<double>(batch.size());
  }
  double batch_value(const Vector& x, Batch batch) const override {
    Vector g;
    return batch_gradient(x, batch, g);
  }
  std::vector<Block> parameter_blocks() const override {
    return {{"w0", 0, dim() / 2}, {"w1", dim() / 2, dim() - dim() / 2}};
  }
  nlohmann::json spec() const override { return {{"kind", "test_least_squares"}}; }
  std::string description() const override { return "least squares (test)"; }
  mutable std::vector<std::int64_t> seen;

 private:
  Matrix A_;
  Vector y_;
};

sc::optim::OptimizerConfig sgd(double lr, double momentum) {
  auto c = sc::optim::OptimizerConfig::defaults(sc::optim::OptimizerKind::sgd);
  c.lr = lr;
  c.momentum = momentum;
  return c;
}

}  // namespace

TEST(Trainer, MiniBatchesCoverEverySampleOncePerEpoch) {
  LeastSquares f(60, 6, 1);
  Vector x = Vector::Zero(6);
  auto optimizer = sc::optim::make_optimizer(sgd(0.05, 0.9));
  sc::optim::TrainerOptions o;
  o.steps = 30;  // 10 batches of 6 per epoch: 3 epochs
  o.batch_size = 6;
  o.seed = 11;
  sc::optim::MemoryRecorder memory;
  sc::optim::train(f, x, *optimizer, o, {&memory});
  ASSERT_EQ(f.seen.size(), 180u);
  for (int epoch = 0; epoch < 3; ++epoch) {
    const std::set<std::int64_t> seen(f.seen.begin() + epoch * 60, f.seen.begin() + (epoch + 1) * 60);
    EXPECT_EQ(seen.size(), 60u) << "epoch " << epoch;  // a permutation: each sample exactly once
  }
  for (const auto& row : memory.steps) {
    EXPECT_TRUE(std::isfinite(row.batch_loss));
    // The logged loss is the full-batch loss at x_t.
    EXPECT_GE(row.loss, 0.0);
  }
  // Per-layer norms combine to the gradient norm: ‖g‖² = ‖g_w0‖² + ‖g_w1‖² (rounding only).
  for (const auto& row : memory.steps) {
    ASSERT_EQ(row.layer_grad_norms.size(), 2);
    EXPECT_NEAR(row.layer_grad_norms.norm(), row.grad_norm, 1e-14 * row.grad_norm);
  }
}

// Same seed ⇒ same bits; another seed ⇒ other batches.
TEST(Trainer, SameSeedSameBits) {
  auto run = [](std::uint64_t seed) {
    LeastSquares f(40, 5, 2);
    Vector x = Vector::Ones(5);
    auto optimizer = sc::optim::make_optimizer(sgd(0.02, 0.5));
    sc::optim::TrainerOptions o;
    o.steps = 50;
    o.batch_size = 4;
    o.seed = seed;
    o.noise.eta = 0.01;
    sc::optim::MemoryRecorder memory;
    sc::optim::train(f, x, *optimizer, o, {&memory});
    return x;
  };
  const Vector a = run(3), b = run(3), c = run(4);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

// Stopping after k steps, saving the optimizer state and resuming gives the bits of one long run.
TEST(Trainer, OptimizerStateRoundTripResumesExactly) {
  LeastSquares f(30, 4, 3);
  for (auto kind : {sc::optim::OptimizerKind::sgd, sc::optim::OptimizerKind::adam, sc::optim::OptimizerKind::rmsprop,
                    sc::optim::OptimizerKind::adagrad, sc::optim::OptimizerKind::adadelta,
                    sc::optim::OptimizerKind::lbfgs}) {
    SCOPED_TRACE(sc::optim::to_string(kind));
    auto config = sc::optim::OptimizerConfig::defaults(kind);
    if (kind == sc::optim::OptimizerKind::sgd) config.momentum = 0.9, config.lr = 0.01;
    if (kind == sc::optim::OptimizerKind::rmsprop) config.centered = true, config.momentum = 0.3;
    if (kind == sc::optim::OptimizerKind::lbfgs) config.max_iter = 3;
    sc::optim::TrainerOptions o;
    o.steps = 8;
    Vector once = Vector::Ones(4);
    auto full = sc::optim::make_optimizer(config);
    sc::optim::train(f, once, *full, o, {});

    o.steps = 4;
    Vector twice = Vector::Ones(4);
    auto first = sc::optim::make_optimizer(config);
    sc::optim::train(f, twice, *first, o, {});
    const sc::io::OptimizerState state = first->state();
    auto second = sc::optim::make_optimizer(sc::optim::OptimizerConfig::from_json(state.config));
    second->load_state(state);
    sc::optim::train(f, twice, *second, o, {});
    EXPECT_EQ(once, twice);
  }
}

// Regression (resume restarted at step 0): a run resumed at first_step = k (with the optimizer's state)
// used to redraw the first mini-batches, restart the schedule and the noise and probe streams, and number
// its steps from 0. Now k steps + (N − k) resumed steps give the bits of N straight: the same samples in
// the same order, the same rows (step numbers from k, losses, learning rates), probes and final point.
// The check is equality of bits: both runs perform the same floating-point operations in the same order.
TEST(Trainer, ResumeRestartedBatchesScheduleAndNoiseAtStepZero) {
  struct Case {
    sc::optim::OptimizerConfig config;
    std::string schedule;
  };
  auto adam = sc::optim::OptimizerConfig::defaults(sc::optim::OptimizerKind::adam);
  adam.lr = 0.05;
  for (const Case& c : {Case{sgd(0.02, 0.9), "step:step_size=3,gamma=0.5"}, Case{adam, "cosine:T_max=6"}}) {
    SCOPED_TRACE(c.schedule);
    const std::int64_t total = 20, k = 9;  // 30 samples in batches of 4: 7 batches an epoch, k inside epoch 2
    sc::optim::TrainerOptions o;
    o.batch_size = 4;
    o.seed = 5;
    o.noise.eta = 0.01;
    o.curvature_every = 3;        // probes at steps 0, 3, …: 9 is one, and draws from stream 4
    o.probe.dense_max_dim = 0;    // Lanczos, whose start block comes from the probe stream
    o.schedule.main = sc::optim::ScheduleConfig::parse(c.schedule);

    LeastSquares f_straight(30, 4, 3);
    Vector straight = Vector::Ones(4);
    auto full = sc::optim::make_optimizer(c.config);
    sc::optim::MemoryRecorder all;
    o.steps = total;
    sc::optim::train(f_straight, straight, *full, o, {&all});

    LeastSquares f(30, 4, 3);
    Vector resumed = Vector::Ones(4);
    auto first = sc::optim::make_optimizer(c.config);
    o.steps = k;
    sc::optim::train(f, resumed, *first, o, {});
    auto second = sc::optim::make_optimizer(c.config);
    second->load_state(first->state());
    sc::optim::MemoryRecorder tail;
    o.first_step = k;
    o.steps = total - k;
    sc::optim::train(f, resumed, *second, o, {&tail});

    EXPECT_EQ(f.seen, f_straight.seen);
    EXPECT_EQ(resumed, straight);
    ASSERT_EQ(tail.steps.size(), static_cast<std::size_t>(total - k));
    for (std::size_t i = 0; i < tail.steps.size(); ++i) {
      const auto& a = all.steps[static_cast<std::size_t>(k) + i];
      const auto& b = tail.steps[i];
      EXPECT_EQ(b.step, k + static_cast<std::int64_t>(i));
      EXPECT_EQ(b.step, a.step);
      EXPECT_EQ(b.lr, a.lr) << "step " << a.step;
      EXPECT_EQ(b.batch_loss, a.batch_loss) << "step " << a.step;
      EXPECT_EQ(b.update_norm, a.update_norm) << "step " << a.step;
    }
    ASSERT_EQ(tail.curvature.size(), 4u);  // steps 9, 12, 15, 18
    for (std::size_t i = 0; i < tail.curvature.size(); ++i) {
      EXPECT_EQ(tail.curvature[i].first, all.curvature[3 + i].first);
      EXPECT_EQ(tail.curvature[i].second.lambda_min, all.curvature[3 + i].second.lambda_min);
    }
    EXPECT_EQ(tail.summary.steps_taken, total - k);
  }
}

TEST(Trainer, BatchesNeedSamples) {
  LeastSquares f(10, 2, 4);
  Vector x = Vector::Zero(2);
  auto optimizer = sc::optim::make_optimizer(sgd(0.1, 0.0));
  sc::optim::TrainerOptions o;
  o.batch_size = 11;
  EXPECT_THROW(sc::optim::train(f, x, *optimizer, o, {}), std::invalid_argument);
}
