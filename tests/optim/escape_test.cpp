// Saddle escape, clipping, noise and the convergence-rate scaling of GD vs heavy ball.
#include <gtest/gtest.h>

#include <cmath>

#include "objective/test_functions.h"
#include "optim/escape.h"
#include "optim/trainer.h"

namespace sc = saddlescope;
using sc::optim::Vector;

namespace {

sc::optim::TrainSummary run(const sc::objective::Objective& f, Vector& x, sc::optim::OptimizerConfig config,
                            sc::optim::TrainerOptions options, sc::optim::MemoryRecorder& memory) {
  auto optimizer = sc::optim::make_optimizer(config);
  return sc::optim::train(f, x, *optimizer, options, {&memory});
}

sc::optim::OptimizerConfig gd(double lr) {
  auto c = sc::optim::OptimizerConfig::defaults(sc::optim::OptimizerKind::gd);
  c.lr = lr;
  return c;
}

// GD with η = 0.1 on f = x² − y² ("saddle") from (1, 0), on the saddle's stable manifold, for o.steps
// steps or until |∇f| ≤ 1e-12 (the only convergence that can stop it); x is the final point.
sc::optim::TrainSummary gd_from_the_stable_manifold(sc::optim::TrainerOptions o, Vector& x,
                                                    sc::optim::MemoryRecorder& memory) {
  const auto f = sc::objective::make_test_function("saddle");
  x = Vector(2);
  x << 1.0, 0.0;
  o.stop_grad_norm = 1e-12;
  return run(*f, x, gd(0.1), o, memory);
}

}  // namespace

// f = x² − y², started on the stable manifold y = 0: GD's iterates are ((1−2η)^t x₀, 0) exactly, so
// it converges to the strict saddle at 0. Perturbed GD and negative-curvature descent leave it: after
// the escape y grows like (1+2η)^t and f decreases without bound.
TEST(SaddleEscape, GradientDescentOnTheStableManifoldConvergesToTheSaddle) {
  Vector x;
  sc::optim::TrainerOptions o;
  o.steps = 2000;
  sc::optim::MemoryRecorder memory;
  const auto s = gd_from_the_stable_manifold(o, x, memory);
  EXPECT_EQ(s.status, sc::optim::RunStatus::finished);
  EXPECT_EQ(memory.count(sc::optim::event::kConverged), 1);
  EXPECT_EQ(x(1), 0.0);                      // y stays exactly on the manifold
  EXPECT_LE(std::abs(x(0)), 1e-12);          // |∇f| = 2|x| ≤ 1e-12 at the stop
  EXPECT_LE(std::abs(s.final_loss), 1e-24);  // f = x² there
}

TEST(SaddleEscape, PerturbedGradientDescentLeavesTheSaddle) {
  Vector x;
  sc::optim::TrainerOptions o;
  o.steps = 400;
  o.seed = 7;
  o.escape.kind = sc::optim::EscapeKind::perturb;
  sc::optim::MemoryRecorder memory;
  const auto s = gd_from_the_stable_manifold(o, x, memory);
  // The paper's thresholds (ε = 1e-3, ℓ = 1/η = 10, ρ = 1, δ = 0.1, Δ_f = 1, c = 1):
  const auto t = sc::optim::perturb_thresholds(o.escape.perturb, 2, 0.1);
  EXPECT_NEAR(t.chi, 3.0 * std::log(2.0 * 10.0 / (1e-6 * 0.1)), 1e-12);
  EXPECT_NEAR(t.g_thres, 1e-3 / (t.chi * t.chi), 1e-18);
  EXPECT_EQ(s.perturbations, 1);  // t_thres ≈ 18000 steps: one perturbation in 400 steps
  EXPECT_EQ(memory.count(sc::optim::event::kPerturbation), 1);
  EXPECT_EQ(memory.count(sc::optim::event::kConverged), 0);
  // After the perturbation, |y| ≥ r·(tiny) grows by 1.2 per step: f is far below the saddle's 0.
  EXPECT_LT(s.final_loss, -1.0);
  EXPECT_GT(std::abs(x(1)), 1.0);
}

TEST(SaddleEscape, NegativeCurvatureDescentLeavesTheSaddle) {
  Vector x;
  sc::optim::TrainerOptions o;
  o.steps = 200;
  o.escape.kind = sc::optim::EscapeKind::negative_curvature;
  sc::optim::MemoryRecorder memory;
  const auto s = gd_from_the_stable_manifold(o, x, memory);
  EXPECT_EQ(s.negative_curvature_steps, 1);
  EXPECT_EQ(memory.count(sc::optim::event::kSaddleDetected), 1);
  EXPECT_EQ(memory.count(sc::optim::event::kNegativeCurvatureStep), 1);
  // On a quadratic the Hessian-Lipschitz estimate is 0, so the step is the cap max_step = 1 along
  // ±e_y; the following GD steps multiply y by 1.2.
  const auto& e = memory.events;
  const auto nc = std::find_if(e.begin(), e.end(), [](const auto& ev) { return ev.kind == "negative_curvature_step"; });
  ASSERT_NE(nc, e.end());
  const auto step = static_cast<std::size_t>(nc->step);
  EXPECT_NEAR(memory.steps[step].update_norm, 1.0, 1e-15);
  EXPECT_LT(memory.steps[step + 1].loss, memory.steps[step].loss);  // the step descends
  EXPECT_LT(s.final_loss, -1.0);
}

// The step-length rule where the curvature changes along v (ρ > 0): six_hump_camel's saddle at 0,
// Hessian [[8, 1], [1, −8]] (from the formula in objective/test_functions.h), λ_min = −√65.
TEST(SaddleEscape, NegativeCurvatureStepDecreasesTheObjective) {
  const auto f = sc::objective::make_test_function("six_hump_camel");
  Vector x = Vector::Zero(2);
  Vector g;
  const double f0 = f->gradient(x, g);
  sc::random::Rng rng(1, 4);
  const auto probe = sc::optim::probe_curvature(*f, x, {}, rng);
  // Hessian at 0: [[8, 1], [1, −8]], eigenvalues ±√65.
  EXPECT_NEAR(probe.lambda_min, -std::sqrt(65.0), 1e-12);
  sc::optim::NegativeCurvatureOptions nco;
  const auto step = sc::optim::negative_curvature_step(*f, x, g, probe, nco);
  ASSERT_TRUE(step.taken);
  EXPECT_GT(step.rho, 0.0);
  EXPECT_LE(step.step_length, nco.max_step);
  const double f1 = f->value(x + step.step_length * step.direction);
  EXPECT_LT(f1, f0);
}

// The matrix-free probe (curvature::extreme_eigenpairs, the path for large n) against the analytic
// spectrum of a quadratic (objective/test_functions.h). The solver stops when ‖Hv − θv‖ ≤ tol·‖H‖_est;
// for an isolated end eigenvalue the error is then ≤ residual²/gap (Kato–Temple), far below the
// 1e-6·10 residual bound itself, which we use as the tolerance.
TEST(CurvatureProbe, LanczosMatchesTheKnownExtremeEigenvalues) {
  const auto f = sc::objective::make_test_function("quadratic:n=400,kappa=10,negative=3,seed=2");
  const Vector lambda = sc::objective::quadratic_spectrum(400, 10.0, 3, 0);
  sc::random::Rng rng(5, 4);
  sc::optim::CurvatureProbeOptions o;
  o.dense_max_dim = 0;  // force the matrix-free path
  const auto p = sc::optim::probe_curvature(*f, Vector::Ones(400), o, rng);
  EXPECT_EQ(p.method, "lanczos");
  EXPECT_TRUE(p.converged);
  EXPECT_NEAR(p.lambda_min, lambda.minCoeff(), 1e-5);
  EXPECT_NEAR(p.lambda_max, lambda.maxCoeff(), 1e-5);
  EXPECT_GT(p.hvp_count, 0);
  EXPECT_NEAR(p.v_min.norm(), 1.0, 1e-12);
}

TEST(Clipping, NormAndValueAsTorch) {
  Vector g(2);
  g << 3.0, 4.0;
  sc::optim::ClipOptions c;
  c.max_norm = 1.0;
  EXPECT_TRUE(sc::optim::clip_gradient(g, c));
  // torch.nn.utils.clip_grad_norm_: coefficient 1/(5 + 1e-6).
  EXPECT_NEAR(g(0), 3.0 / (5.0 + 1e-6), 1e-16);
  sc::optim::ClipOptions v;
  v.clip_value = 0.5;
  Vector h(3);
  h << -2.0, 0.1, 0.7;
  EXPECT_TRUE(sc::optim::clip_gradient(h, v));
  EXPECT_EQ(h(0), -0.5);
  EXPECT_EQ(h(1), 0.1);
  EXPECT_EQ(h(2), 0.5);
}

// σ_t² = η/(1+t)^γ: the sample variance over many coordinates matches (Neelakantan et al. 2015).
TEST(GradNoise, VarianceFollowsTheSchedule) {
  const sc::optim::Index n = 200000;
  sc::optim::GradNoiseOptions o;
  o.eta = 0.3;
  o.gamma = 0.55;
  sc::random::Rng rng(3, 2);
  for (std::int64_t t : {0, 10, 100}) {
    Vector g = Vector::Zero(n);
    sc::optim::add_gradient_noise(g, t, o, rng);
    const double expected = 0.3 / std::pow(1.0 + t, 0.55);
    // Sample variance of n normals: relative standard error √(2/n) ≈ 0.0032; allow 5 of them.
    EXPECT_NEAR(g.squaredNorm() / n, expected, 5 * std::sqrt(2.0 / n) * expected);
  }
}

// On quadratics with condition number κ, GD with its best fixed step 2/(L+μ) contracts the error by
// (κ−1)/(κ+1) per step, so reaching a fixed accuracy takes ∝ κ steps; heavy ball with Polyak's
// tuning (α = 4/(√L+√μ)², β = ((√κ−1)/(√κ+1))²) contracts by (√κ−1)/(√κ+1): ∝ √κ. We fit the
// exponent of iterations vs κ over κ = 10…3000 (counting iterations, not timing).
TEST(ConvergenceRate, GradientDescentScalesLikeKappaHeavyBallLikeSqrtKappa) {
  const std::vector<double> kappas = {10, 30, 100, 300, 1000, 3000};
  std::vector<double> log_k, log_gd, log_hb;
  for (double kappa : kappas) {
    const auto f = sc::objective::make_test_function("quadratic:n=20,kappa=" + std::to_string(kappa) + ",seed=4");
    const double L = kappa, mu = 1.0;  // spectrum 1 … κ (objective/test_functions.h)
    auto iterations = [&](const sc::optim::OptimizerConfig& c) {
      Vector x = Vector::Ones(20);
      Vector g;
      f->gradient(x, g);
      sc::optim::TrainerOptions o;
      o.steps = 200000;
      o.stop_grad_norm = 1e-8 * g.norm();
      sc::optim::MemoryRecorder memory;
      const auto s = run(*f, x, c, o, memory);
      EXPECT_EQ(memory.count(sc::optim::event::kConverged), 1) << "kappa " << kappa;
      return static_cast<double>(s.steps_taken);
    };
    const double gd_iters = iterations(gd(2.0 / (L + mu)));
    auto hb = sc::optim::OptimizerConfig::defaults(sc::optim::OptimizerKind::sgd);
    hb.lr = 4.0 / std::pow(std::sqrt(L) + std::sqrt(mu), 2);
    hb.momentum = std::pow((std::sqrt(kappa) - 1) / (std::sqrt(kappa) + 1), 2);
    const double hb_iters = iterations(hb);
    log_k.push_back(std::log(kappa));
    log_gd.push_back(std::log(gd_iters));
    log_hb.push_back(std::log(hb_iters));
  }
  auto slope = [&](const std::vector<double>& y) {
    const double n = static_cast<double>(y.size());
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (std::size_t i = 0; i < y.size(); ++i) sx += log_k[i], sy += y[i], sxx += log_k[i] * log_k[i], sxy += log_k[i] * y[i];
    return (n * sxy - sx * sy) / (n * sxx - sx * sx);
  };
  // Asymptotic exponents 1 and ½; the finite-κ corrections (ln((κ+1)/(κ−1)) ≈ 2/κ, and heavy ball's
  // t·ρ^t transient from its double eigenvalue) move a fit over this range by a few hundredths.
  EXPECT_NEAR(slope(log_gd), 1.0, 0.1);
  EXPECT_NEAR(slope(log_hb), 0.5, 0.1);
}
