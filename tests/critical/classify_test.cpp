// Verdicts and eigenvalues at the analytically known critical points of the test functions. Expected
// values are derived in the comments from the formulas in objective/formulas.h, or are published values
// cited where they are; points that are not closed-form are located by Newton's method on ∇f = 0 here,
// in the test, from a published approximation.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <numbers>

#include "critical/classify.h"
#include "objective/test_functions.h"
#include "support/options.h"

namespace sc = saddlescope;
using sc::critical::Verdict;
using sc::objective::Matrix;
using sc::objective::Vector;

namespace {

Vector vec(std::initializer_list<double> values) {
  Vector v(static_cast<Eigen::Index>(values.size()));
  Eigen::Index i = 0;
  for (double x : values) v(i++) = x;
  return v;
}

// Newton's method on ∇f = 0 (quadratic convergence from a published 4–6 digit approximation).
Vector newton_polish(const sc::objective::Objective& f, Vector x) {
  for (int it = 0; it < 50; ++it) {
    Vector g;
    Matrix H;
    f.gradient(x, g);
    if (g.norm() < 1e-14) break;
    f.hessian(x, H);
    x -= H.lu().solve(g);
  }
  return x;
}

sc::critical::Classification classify(const std::string& spec, const Vector& x) {
  const auto f = sc::objective::make_test_function(spec);
  return sc::critical::classify(*f, x, sc::critical::ClassifyOptions{});
}

TEST(Classify, SaddleAtOrigin) {
  // x² − y²: H = diag(2, −2).
  const auto c = classify("saddle", vec({0, 0}));
  EXPECT_EQ(c.verdict, Verdict::strict_saddle);
  EXPECT_EQ(c.index, 1);
  EXPECT_EQ(c.nullity, 0);
  EXPECT_DOUBLE_EQ(c.lambda_min, -2.0);
  EXPECT_DOUBLE_EQ(c.lambda_max, 2.0);
  EXPECT_DOUBLE_EQ(c.condition_number, 1.0);
  // Escape along ±e_y; f is quadratic, so f(x + εv) − f(x) = ½ε²λ_min exactly (to rounding).
  ASSERT_TRUE(c.has_escape_direction);
  EXPECT_NEAR(std::abs(c.escape_direction(1)), 1.0, 1e-15);
  EXPECT_NEAR(c.measured_change, c.predicted_change, 1e-18);
  EXPECT_DOUBLE_EQ(c.predicted_change, 0.5 * 1e-6 * -2.0);
}

TEST(Classify, HillIsAMaximum) {
  // −(x² + y²): H = −2I.
  const auto c = classify("hill", vec({0, 0}));
  EXPECT_EQ(c.verdict, Verdict::local_maximum);
  EXPECT_EQ(c.index, 2);
  EXPECT_DOUBLE_EQ(c.lambda_max, -2.0);
}

TEST(Classify, MonkeySaddleAndCubicAreDegenerate) {
  // x³ − 3xy²: H = [[6x, −6y], [−6y, −6x]] vanishes at 0; x³: f'' = 6x = 0 at 0.
  auto c = classify("monkey_saddle", vec({0, 0}));
  EXPECT_EQ(c.verdict, Verdict::degenerate);
  EXPECT_EQ(c.nullity, 2);
  EXPECT_TRUE(std::isinf(c.condition_number));
  // The escape sign is chosen by the measured value: f(±ε, 0) = ±ε³, so the step must descend.
  EXPECT_LT(c.measured_change, 0.0);
  c = classify("cubic", vec({0}));
  EXPECT_EQ(c.verdict, Verdict::degenerate);
  EXPECT_EQ(c.nullity, 1);
}

TEST(Classify, TanhAtFourIsNotCriticalButHasAVanishingGradient) {
  // f' = 1 − tanh²(4) = sech²(4) ≈ 1.34e-3 > grad_tol = 1e-6: small, but not critical.
  const auto c = classify("tanh", vec({4}));
  EXPECT_EQ(c.verdict, Verdict::not_critical);
  EXPECT_NEAR(c.grad_norm, 1.0 / std::pow(std::cosh(4.0), 2), 1e-16);
}

TEST(Classify, XCosPiLocalAndGlobalMinima) {
  // f = x cos πx is odd; its critical points solve πx·tan πx = 1. Near −0.27 and 1.09 it has minima
  // (f ≈ −0.18 and −1.05: a local and, on [−1.5, 1.5], the global one), near 0.27 and −1.09 maxima.
  // The sign of f'' is checked independently by a second difference of values.
  const auto f = sc::objective::make_test_function("xcos_pi");
  const std::vector<std::pair<double, Verdict>> starts = {
      {-0.3, Verdict::local_minimum}, {1.1, Verdict::local_minimum},
      {0.3, Verdict::local_maximum}, {-1.1, Verdict::local_maximum}};
  for (const auto& [start, verdict] : starts) {
    const Vector x = newton_polish(*f, vec({start}));
    const double h = 1e-4;
    const double second_difference =
        (f->value(x.array() + h) - 2 * f->value(x) + f->value(x.array() - h)) / (h * h);
    const auto c = sc::critical::classify(*f, x, {});
    EXPECT_EQ(c.verdict, verdict) << x(0);
    EXPECT_EQ(second_difference > 0, verdict == Verdict::local_minimum);
    // Central second differences are accurate to O(h²·f''''/12) + O(ε/h²) ≈ 1e-7 here.
    EXPECT_NEAR(c.lambda_min, second_difference, 1e-5 * (1 + std::abs(second_difference)));
  }
  const double local = f->value(newton_polish(*f, vec({-0.3})));
  const double global = f->value(newton_polish(*f, vec({1.1})));
  EXPECT_LT(global, local);
}

TEST(Classify, HimmelblauNinePoints) {
  // Published approximations (Himmelblau 1972; e.g. the minima in Wikipedia's "Test functions for
  // optimization"): four minima with f = 0 (a = x² + y − 11 = 0 and b = x + y² − 7 = 0 there), one
  // maximum f ≈ 181.617, four saddles.
  const auto f = sc::objective::make_test_function("himmelblau");
  const std::vector<std::pair<Vector, Verdict>> points = {
      {vec({3.0, 2.0}), Verdict::local_minimum},
      {vec({-2.805118, 3.131312}), Verdict::local_minimum},
      {vec({-3.779310, -3.283186}), Verdict::local_minimum},
      {vec({3.584428, -1.848126}), Verdict::local_minimum},
      {vec({-0.270845, -0.923039}), Verdict::local_maximum},
      {vec({0.086678, 2.884255}), Verdict::strict_saddle},
      {vec({-3.073026, -0.081353}), Verdict::strict_saddle},
      {vec({3.385154, 0.073852}), Verdict::strict_saddle},
      {vec({-0.127961, -1.953715}), Verdict::strict_saddle},
  };
  for (const auto& [start, verdict] : points) {
    const Vector x = newton_polish(*f, start);
    EXPECT_LT((x - start).norm(), 1e-5) << "Newton wandered off from " << start.transpose();
    const auto c = sc::critical::classify(*f, x, {});
    EXPECT_EQ(c.verdict, verdict) << x.transpose() << ": " << c.decided_by;
    if (verdict == Verdict::local_minimum) {
      EXPECT_LT(c.value, 1e-20);
    }
    if (verdict == Verdict::strict_saddle) {
      EXPECT_EQ(c.index, 1);
    }
    if (verdict == Verdict::local_maximum) {
      EXPECT_EQ(c.index, 2);
      EXPECT_NEAR(c.value, 181.617, 5e-4);  // published to 3 decimals
    }
  }
  // At (3, 2): a = b = 0, so H = [[8x² + 2, 4x + 4y], [4x + 4y, 8y² + 2]] = [[74, 20], [20, 34]],
  // eigenvalues 54 ± √(20² + 20²) = 54 ± 20√2.
  const auto c = sc::critical::classify(*f, vec({3, 2}), {});
  EXPECT_NEAR(c.lambda_min, 54 - 20 * std::sqrt(2.0), 1e-12);
  EXPECT_NEAR(c.lambda_max, 54 + 20 * std::sqrt(2.0), 1e-12);
  EXPECT_EQ(c.grad_norm, 0.0);
}

TEST(Classify, SixHumpCamel) {
  // At 0: H = [[8, 1], [1, −8]], eigenvalues ±√65: a strict saddle.
  auto c = classify("six_hump_camel", vec({0, 0}));
  EXPECT_EQ(c.verdict, Verdict::strict_saddle);
  EXPECT_NEAR(c.lambda_min, -std::sqrt(65.0), 1e-13);
  EXPECT_NEAR(c.lambda_max, std::sqrt(65.0), 1e-13);
  // Global minima ±(0.0898, −0.7126) with f* = −1.0316284535 (Dixon & Szegő 1978; value to 10 digits
  // as tabulated by Jamil & Yang, "A literature survey of benchmark functions", 2013).
  const auto f = sc::objective::make_test_function("six_hump_camel");
  for (double s : {1.0, -1.0}) {
    const Vector x = newton_polish(*f, s * vec({0.0898, -0.7126}));
    c = sc::critical::classify(*f, x, {});
    EXPECT_EQ(c.verdict, Verdict::local_minimum);
    EXPECT_NEAR(c.value, -1.0316284535, 1e-10);
  }
}

TEST(Classify, BealeMinimum) {
  // At (3, ½) every residual r_i = c_i − x + xyⁱ vanishes, so H = 2 Σ ∇r_i ∇r_iᵀ with
  // ∇r_i = (yⁱ − 1, i x y^{i−1}) = (−½, 3), (−¾, 3), (−⅞, 9/4).
  const auto c = classify("beale", vec({3, 0.5}));
  Matrix J(3, 2);
  J << -0.5, 3.0, -0.75, 3.0, -0.875, 2.25;
  const Eigen::Vector2d expected = Eigen::SelfAdjointEigenSolver<Matrix>(2.0 * J.transpose() * J).eigenvalues();
  EXPECT_EQ(c.verdict, Verdict::local_minimum);
  EXPECT_EQ(c.value, 0.0);
  EXPECT_NEAR(c.lambda_min, expected(0), 1e-12);
  EXPECT_NEAR(c.lambda_max, expected(1), 1e-12);
}

TEST(Classify, RosenbrockMinimum) {
  // At x = 1 for n = 2: H = [[1200 − 400 + 2, −400], [−400, 200]] = [[802, −400], [−400, 200]],
  // eigenvalues 501 ± √(301² + 400²).
  auto c = classify("rosenbrock:n=2", vec({1, 1}));
  EXPECT_EQ(c.verdict, Verdict::local_minimum);
  EXPECT_NEAR(c.lambda_min, 501 - std::hypot(301.0, 400.0), 1e-10);
  EXPECT_NEAR(c.lambda_max, 501 + std::hypot(301.0, 400.0), 1e-10);
  c = classify("rosenbrock:n=20", Vector::Ones(20));
  EXPECT_EQ(c.verdict, Verdict::local_minimum);
  EXPECT_EQ(c.value, 0.0);
}

TEST(Classify, RastriginMinimum) {
  // At 0: H = (2 + 40π²) I.
  const auto c = classify("rastrigin:n=4", Vector::Zero(4));
  EXPECT_EQ(c.verdict, Verdict::local_minimum);
  const double expected = 2 + 40 * std::numbers::pi * std::numbers::pi;
  EXPECT_NEAR(c.lambda_min, expected, 1e-12 * expected);
  EXPECT_NEAR(c.lambda_max, expected, 1e-12 * expected);
}

TEST(Classify, StyblinskiTangCriticalPointsOfEveryIndex) {
  // φ'(x) = 2x³ − 16x + 2.5 = 0 has three real roots (trigonometric solution of the depressed cubic
  // x³ − 8x + 1.25 = 0: x_k = 2√(8/3) cos(⅓ arccos((−1.25/2)·√(27/8³)... ) − 2πk/3)); φ'' = 6x² − 16 is
  // negative only at the middle root (|x| < √(8/3)). A point whose coordinates are roots is critical
  // with index = number of coordinates at the middle root.
  const double p = -8.0, q = 1.25;
  std::vector<double> roots;
  for (int k = 0; k < 3; ++k)
    roots.push_back(2 * std::sqrt(-p / 3) *
                    std::cos(std::acos(3 * q / (2 * p) * std::sqrt(-3 / p)) / 3 - 2 * std::numbers::pi * k / 3));
  std::sort(roots.begin(), roots.end());  // about −2.9035, 0.1567, 2.7468
  const double middle = roots[1];
  ASSERT_LT(6 * middle * middle - 16, 0);
  for (int mask = 0; mask < 8; ++mask) {
    Vector x(3);
    int expected_index = 0;
    for (int i = 0; i < 3; ++i) {
      const bool at_middle = (mask >> i) & 1;
      x(i) = at_middle ? middle : roots[static_cast<std::size_t>(i % 2 == 0 ? 0 : 2)];
      expected_index += at_middle;
    }
    const auto c = classify("styblinski_tang:n=3", x);
    EXPECT_EQ(c.index, expected_index);
    EXPECT_EQ(c.verdict, expected_index == 0 ? Verdict::local_minimum
                         : expected_index == 3 ? Verdict::local_maximum
                                               : Verdict::strict_saddle);
  }
}

TEST(Classify, QuadraticWithPrescribedSpectrum) {
  // quadratic: eigenvalues as prescribed (see quadratic_spectrum), at the critical point 0.
  auto c = classify("quadratic:n=30,kappa=1000,negative=4,zero=2,seed=5", Vector::Zero(30));
  EXPECT_EQ(c.verdict, Verdict::strict_saddle);  // negative and positive directions both exist
  EXPECT_EQ(c.index, 4);
  EXPECT_EQ(c.nullity, 2);
  EXPECT_TRUE(std::isinf(c.condition_number));
  // Over nonzero eigenvalues the condition number is kappa by construction; eigenvalue error is
  // O(n·ε·‖A‖) ≈ 1e-11 on |λ| ≥ 1.
  EXPECT_NEAR(c.condition_number_nonzero, 1000.0, 1e-8);
  c = classify("quadratic:n=30,kappa=1000,seed=5", Vector::Zero(30));
  EXPECT_EQ(c.verdict, Verdict::local_minimum);
  EXPECT_NEAR(c.condition_number, 1000.0, 1e-8);
  EXPECT_FALSE(c.has_escape_direction);
  // All zero but negative ones: a degenerate maximum candidate, not a verdict of maximum.
  c = classify("quadratic:n=6,negative=4,zero=2", Vector::Zero(6));
  EXPECT_EQ(c.verdict, Verdict::degenerate);
  EXPECT_EQ(c.index, 4);
}

TEST(Classify, ToleranceDecidesAtTheBoundary) {
  // At x = (1e-7, 0) the monkey saddle's Hessian is diag(6e-7, −6e-7): zero under a loose absolute
  // tolerance, a strict saddle under a tight one. grad = (3e-14, 0) is critical either way.
  const auto f = sc::objective::make_test_function("monkey_saddle");
  sc::critical::ClassifyOptions loose, tight;
  loose.eig_atol = 1e-6;
  tight.eig_atol = 1e-9;
  EXPECT_EQ(sc::critical::classify(*f, vec({1e-7, 0}), loose).verdict, Verdict::degenerate);
  EXPECT_EQ(sc::critical::classify(*f, vec({1e-7, 0}), tight).verdict, Verdict::strict_saddle);
}

TEST(ClassifyOptions, IsValidNamesTheFieldAndRule) {
  std::string why;
  sc::critical::ClassifyOptions o;
  EXPECT_TRUE(o.IsValid(&why));
  o.grad_tol = -1;
  sc::testing::expect_invalid(o, "'grad_tol'");
  o = {};
  o.eig_rtol = 1.5;
  sc::testing::expect_invalid(o, "'eig_rtol'");
  o = {};
  o.escape_step = 0;
  sc::testing::expect_invalid(o, "'escape_step'");
  const auto f = sc::objective::make_test_function("saddle");
  EXPECT_THROW(sc::critical::classify(*f, vec({0, 0}), o), std::invalid_argument);
  EXPECT_THROW(sc::critical::classify(*f, vec({0, 0, 0}), {}), std::invalid_argument);
  EXPECT_THROW(sc::critical::classify(*f, vec({NAN, 0}), {}), std::invalid_argument);
}

TEST(Verdict, NameTableRoundTrips) {
  for (const auto& [verdict, name] : sc::critical::kVerdictNames) {
    EXPECT_EQ(sc::critical::to_string(verdict), name);
    EXPECT_EQ(sc::critical::kVerdictNames.find(name), verdict);
  }
  EXPECT_FALSE(sc::critical::kVerdictNames.find("saddle").has_value());
}

}  // namespace
