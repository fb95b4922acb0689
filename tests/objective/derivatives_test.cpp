// Every test function's hand-derived gradient, block HVP and dense Hessian against two independent
// references: Boost.Math's automatic differentiation of the value formula (objective/formulas.h),
// and Boost.Math's finite differences of the value and of the gradient.
#include <gtest/gtest.h>

#include <boost/math/differentiation/autodiff.hpp>
#include <boost/math/differentiation/finite_difference.hpp>
#include <functional>
#include <tuple>
#include <Eigen/Eigenvalues>

#include "objective/formulas.h"
#include "objective/test_functions.h"
#include "random/random.h"

namespace sc = saddlescope;
using sc::objective::Matrix;
using sc::objective::Vector;
namespace ad = boost::math::differentiation;

namespace {

// The value formula of each named function, callable with any scalar type.
struct Formula {
  template <class T>
  T operator()(const std::string& name, std::span<const T> x) const {
    namespace f = sc::objective::formulas;
    if (name == "xcos_pi") return f::xcos_pi(x);
    if (name == "cubic") return f::cubic(x);
    if (name == "tanh") return f::tanh_fn(x);
    if (name == "saddle") return f::saddle(x);
    if (name == "hill") return f::hill(x);
    if (name == "monkey_saddle") return f::monkey_saddle(x);
    if (name == "rosenbrock") return f::rosenbrock(x);
    if (name == "himmelblau") return f::himmelblau(x);
    if (name == "six_hump_camel") return f::six_hump_camel(x);
    if (name == "beale") return f::beale(x);
    if (name == "rastrigin") return f::rastrigin(x);
    if (name == "styblinski_tang") return f::styblinski_tang(x);
    throw std::invalid_argument("no formula for " + name);
  }
};

std::string base_name(const std::string& spec) { return spec.substr(0, spec.find(':')); }

// Exact (to rounding) gradient and Hessian by forward-mode autodiff of the value formula.
void autodiff_derivatives(const std::string& name, const Vector& x, Vector& g, Matrix& H) {
  const auto n = static_cast<std::size_t>(x.size());
  g.resize(x.size());
  H.resize(x.size(), x.size());
  for (std::size_t i = 0; i < n; ++i) {
    using T2 = ad::autodiff_fvar<double, 2>;
    std::vector<T2> v;
    for (std::size_t k = 0; k < n; ++k) v.push_back(k == i ? ad::make_fvar<double, 2>(x(k)) : T2(x(k)));
    const T2 y = Formula{}(name, std::span<const T2>(v));
    g(static_cast<Eigen::Index>(i)) = y.derivative(1);
    H(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(i)) = y.derivative(2);
    for (std::size_t j = i + 1; j < n; ++j) {
      auto const vars = ad::make_ftuple<double, 1, 1>(x(i), x(j));
      using T = ad::autodiff_fvar<double, 1, 1>;
      std::vector<T> w;
      for (std::size_t k = 0; k < n; ++k) w.push_back(T(x(k)));
      w[i] = std::get<0>(vars);
      w[j] = std::get<1>(vars);
      const T z = Formula{}(name, std::span<const T>(w));
      H(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = z.derivative(1, 1);
      H(static_cast<Eigen::Index>(j), static_cast<Eigen::Index>(i)) = z.derivative(1, 1);
    }
  }
}

const std::vector<std::string> kSpecs = {"xcos_pi", "cubic", "tanh", "saddle", "hill", "monkey_saddle",
                                         "rosenbrock:n=5", "himmelblau", "six_hump_camel", "beale",
                                         "rastrigin:n=3", "styblinski_tang:n=4"};

// Random points in [-2, 2]^n, from a fixed stream per function.
std::vector<Vector> sample_points(Eigen::Index n, std::uint64_t stream) {
  sc::random::Rng rng(2026, stream);
  std::vector<Vector> points;
  for (int p = 0; p < 5; ++p) {
    Vector x(n);
    for (auto& xi : x) xi = -2.0 + 4.0 * rng.uniform();
    points.push_back(x);
  }
  return points;
}

class Derivatives : public ::testing::TestWithParam<std::string> {};

TEST_P(Derivatives, GradientAndHessianMatchAutodiff) {
  const auto f = sc::objective::make_test_function(GetParam());
  for (const Vector& x : sample_points(f->dim(), std::hash<std::string>{}(GetParam()))) {
    Vector g, g_ad;
    Matrix H, H_ad;
    const double value = f->gradient(x, g);
    f->hessian(x, H);
    autodiff_derivatives(base_name(GetParam()), x, g_ad, H_ad);
    // Both sides are exact derivatives evaluated in double; they differ only by rounding of a few
    // dozen operations, so 1e-12 relative to the magnitudes involved is ample and still catches any
    // wrong term (which would be O(1) relative).
    EXPECT_NEAR(value, f->value(x), 1e-15 * (1 + std::abs(value)));
    EXPECT_LE((g - g_ad).norm(), 1e-12 * (1.0 + g_ad.norm())) << GetParam() << " at " << x.transpose();
    EXPECT_LE((H - H_ad).norm(), 1e-12 * (1.0 + H_ad.norm())) << GetParam() << " at " << x.transpose();
  }
}

TEST_P(Derivatives, GradientMatchesFiniteDifferences) {
  const auto f = sc::objective::make_test_function(GetParam());
  for (Vector x : sample_points(f->dim(), 7 + std::hash<std::string>{}(GetParam()))) {
    Vector g;
    f->gradient(x, g);
    for (Eigen::Index i = 0; i < f->dim(); ++i) {
      auto along = [&](double t) {
        Vector y = x;
        y(i) = t;
        return f->value(y);
      };
      double error = 0;
      // Boost's default 6th-order central difference with its error estimate; we require agreement
      // within 100 estimated errors plus 1e-9 relative (the estimate is of truncation + rounding).
      const double fd = ad::finite_difference_derivative(along, x(i), &error);
      EXPECT_NEAR(g(i), fd, 100 * error + 1e-9 * (1 + std::abs(fd))) << GetParam() << " coordinate " << i;
    }
  }
}

TEST_P(Derivatives, BlockHvpMatchesDenseHessianAndFiniteDifferencesOfGradient) {
  const auto f = sc::objective::make_test_function(GetParam());
  const Eigen::Index n = f->dim();
  sc::random::Rng rng(11, 3);
  for (const Vector& x : sample_points(n, 99 + std::hash<std::string>{}(GetParam()))) {
    Matrix V(n, 3);
    for (auto& v : V.reshaped()) v = rng.normal();
    Matrix H, HV;
    f->hessian(x, H);
    f->hessian_vector_product(x, V, HV);
    ASSERT_EQ(HV.rows(), n);
    ASSERT_EQ(HV.cols(), 3);
    // Same exact quantity computed in two orders of summation.
    EXPECT_LE((HV - H * V).norm(), 1e-13 * (1.0 + H.norm() * V.norm())) << GetParam();
    // Symmetry is exact by construction of the formulas (mirrored entries).
    EXPECT_EQ((H - H.transpose()).norm(), 0.0) << GetParam();
    // Directional derivative of the gradient: H v ≈ (g(x + hv) − g(x − hv)) / 2h. Central
    // differences have error O(h²·|∇³f|) + O(ε|g|/h); h = 1e-5 balances them near 1e-8 relative for
    // these functions' third derivatives on [-2, 2] (rastrigin's reach (2π)³·20 ≈ 5e3, hence 1e-6).
    const double h = 1e-5;
    for (Eigen::Index j = 0; j < 3; ++j) {
      Vector gp, gm;
      f->gradient(x + h * V.col(j), gp);
      f->gradient(x - h * V.col(j), gm);
      const Vector fd = (gp - gm) / (2 * h);
      EXPECT_LE((HV.col(j) - fd).norm(), 1e-6 * (1.0 + fd.norm() + H.norm() * V.col(j).norm())) << GetParam();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllFunctions, Derivatives, ::testing::ValuesIn(kSpecs), [](const auto& info) {
  std::string name = info.param.substr(0, info.param.find(':'));
  return name;
});

TEST(Quadratic, SpectrumIsThePrescribedOneAndDerivativesAreExact) {
  const auto f = sc::objective::make_test_function("quadratic:n=40,kappa=1000,negative=5,zero=3,seed=7");
  Matrix H;
  const Vector x = Vector::LinSpaced(40, -1.0, 1.0);
  f->hessian(x, H);
  Eigen::SelfAdjointEigenSolver<Matrix> solver(H, Eigen::EigenvaluesOnly);
  Vector expected = sc::objective::quadratic_spectrum(40, 1000, 5, 3);
  std::sort(expected.begin(), expected.end());
  // A = QΛQᵀ with Q orthogonal to rounding: eigenvalues agree to O(n·ε·‖A‖) = 40·2.2e-16·1000 ≈ 1e-11.
  EXPECT_LE((solver.eigenvalues() - expected).cwiseAbs().maxCoeff(), 1e-10);
  // Prescribed: magnitudes from 1 to kappa, the 5 smallest negated, 3 zeros.
  EXPECT_DOUBLE_EQ(expected.maxCoeff(), 1000.0);
  EXPECT_EQ((expected.array() < 0).count(), 5);
  EXPECT_EQ((expected.array() == 0).count(), 3);
  // Gradient of ½xᵀAx is Ax, value ½xᵀAx: exact identities.
  Vector g;
  const double value = f->gradient(x, g);
  EXPECT_LE((g - H * x).norm(), 1e-12 * H.norm() * x.norm());
  EXPECT_NEAR(value, 0.5 * x.dot(H * x), 1e-12 * H.norm() * x.squaredNorm());
}

TEST(Quadratic, SameSeedSameMatrixDifferentSeedDifferentMatrix) {
  Matrix A, B, C;
  const Vector x = Vector::Zero(6);
  sc::objective::make_test_function("quadratic:n=6,seed=1")->hessian(x, A);
  sc::objective::make_test_function("quadratic:n=6,seed=1")->hessian(x, B);
  sc::objective::make_test_function("quadratic:n=6,seed=2")->hessian(x, C);
  EXPECT_EQ(A, B);
  EXPECT_GT((A - C).norm(), 1e-3);
}

TEST(Objective, DefaultHessianAssemblyFromBlockHvpsMatchesAnalyticHessian) {
  // rosenbrock's hessian() is analytic (tridiagonal); the base-class assembly from HVPs, in blocks
  // of 64 columns, must give the same matrix. n = 130 spans three blocks (64, 64, 2).
  const auto f = sc::objective::make_test_function("rosenbrock:n=130");
  const Vector x = Vector::LinSpaced(130, -1.5, 1.5);
  Matrix analytic, assembled;
  f->hessian(x, analytic);
  f->Objective::hessian(x, assembled);
  EXPECT_LE((analytic - assembled).norm(), 1e-13 * analytic.norm());
}

TEST(SpecParsing, RejectsMalformedSpecsWithAMessageNamingTheProblem) {
  struct Case {
    std::string spec;
    std::string expected_fragment;
  };
  const std::vector<Case> cases = {
      {"nosuch", "unknown function 'nosuch'"},
      {"rosenbrock:n=1", "option 'n' must be in [2,"},
      {"rosenbrock:n=abc", "option 'n' must be an integer"},
      {"rosenbrock:m=3", "unknown option 'm'"},
      {"himmelblau:n=3", "takes no options"},
      {"quadratic:n=5,negative=3,zero=3", "exceeds n = 5"},
      {"quadratic:kappa=0.5", "option 'kappa' must be in [1,"},
      {"quadratic:kappa=nan", "must be a finite number"},
      {"rosenbrock:", "empty option list"},
      {"rosenbrock:n=3,n=4", "given twice"},
      {"rosenbrock:n", "not of the form key=value"},
      {"rosenbrock:n=1000000000000", "option 'n' must be in"},
  };
  for (const auto& c : cases) {
    try {
      sc::objective::make_test_function(c.spec);
      ADD_FAILURE() << c.spec << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(c.expected_fragment), std::string::npos) << c.spec << ": " << e.what();
    }
  }
}

TEST(SpecParsing, CanonicalSpecRoundTrips) {
  for (const std::string spec : {"rosenbrock:n=7", "quadratic:n=12,kappa=50,negative=2,zero=1,seed=3", "beale"}) {
    const auto f = sc::objective::make_test_function(spec);
    const auto g = sc::objective::make_test_function(f->spec_string());
    EXPECT_EQ(f->spec_string(), g->spec_string());
    EXPECT_EQ(f->dim(), g->dim());
    const Vector x = Vector::Constant(f->dim(), 0.3);
    EXPECT_EQ(f->value(x), g->value(x));
  }
}

}  // namespace
