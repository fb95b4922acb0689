#include "objective/test_functions.h"

#include <Eigen/QR>
#include <charconv>
#include <cmath>
#include <map>
#include <numbers>
#include <sstream>
#include <stdexcept>

#include "objective/formulas.h"
#include "objective/spec_options.h"
#include "random/random.h"

namespace saddlescope::objective {
namespace {

constexpr double kPi = std::numbers::pi;

// A function of fixed or chosen dimension whose value comes from formulas.h and whose gradient and
// Hessian are written out by hand in `Derivatives`.
using ValueFn = double (*)(std::span<const double>);
using GradFn = void (*)(const Vector& x, Vector& g);
using HessFn = void (*)(const Vector& x, Matrix& H);

class FormulaFunction : public TestFunction {
 public:
  FormulaFunction(std::string spec, Index n, ValueFn f, GradFn g, HessFn h, Vector start)
      : spec_(std::move(spec)), n_(n), f_(f), g_(g), h_(h), start_(std::move(start)) {}
  Index dim() const override { return n_; }
  double value(const Vector& x) const override { return f_({x.data(), static_cast<std::size_t>(x.size())}); }
  double gradient(const Vector& x, Vector& g) const override {
    g.resize(n_);
    g_(x, g);
    return value(x);
  }
  void hessian(const Vector& x, Matrix& H) const override {
    H.setZero(n_, n_);
    h_(x, H);
  }
  std::string spec_string() const override { return spec_; }
  Vector default_start() const override { return start_; }

 private:
  std::string spec_;
  Index n_;
  ValueFn f_;
  GradFn g_;
  HessFn h_;
  Vector start_;
};

Vector vec(std::initializer_list<double> values) {
  Vector v(static_cast<Index>(values.size()));
  Index i = 0;
  for (double value : values) v(i++) = value;
  return v;
}

// --- hand-derived derivatives (each line: the derivative of the formula in formulas.h) ----------------

// f = x cos πx;  f' = cos πx − πx sin πx;  f'' = −2π sin πx − π²x cos πx.
void xcos_grad(const Vector& x, Vector& g) { g(0) = std::cos(kPi * x(0)) - kPi * x(0) * std::sin(kPi * x(0)); }
void xcos_hess(const Vector& x, Matrix& H) {
  H(0, 0) = -2.0 * kPi * std::sin(kPi * x(0)) - kPi * kPi * x(0) * std::cos(kPi * x(0));
}
// f = x³.
void cubic_grad(const Vector& x, Vector& g) { g(0) = 3.0 * x(0) * x(0); }
void cubic_hess(const Vector& x, Matrix& H) { H(0, 0) = 6.0 * x(0); }
// f = tanh x;  f' = 1 − t²;  f'' = −2t(1 − t²).
void tanh_grad(const Vector& x, Vector& g) {
  const double t = std::tanh(x(0));
  g(0) = 1.0 - t * t;
}
void tanh_hess(const Vector& x, Matrix& H) {
  const double t = std::tanh(x(0));
  H(0, 0) = -2.0 * t * (1.0 - t * t);
}
void saddle_grad(const Vector& x, Vector& g) { g << 2.0 * x(0), -2.0 * x(1); }
void saddle_hess(const Vector&, Matrix& H) { H.diagonal() << 2.0, -2.0; }
void hill_grad(const Vector& x, Vector& g) { g << -2.0 * x(0), -2.0 * x(1); }
void hill_hess(const Vector&, Matrix& H) { H.diagonal() << -2.0, -2.0; }
// f = x³ − 3xy²;  ∇f = (3x² − 3y², −6xy);  H = [[6x, −6y], [−6y, −6x]].
void monkey_grad(const Vector& x, Vector& g) { g << 3.0 * x(0) * x(0) - 3.0 * x(1) * x(1), -6.0 * x(0) * x(1); }
void monkey_hess(const Vector& x, Matrix& H) { H << 6.0 * x(0), -6.0 * x(1), -6.0 * x(1), -6.0 * x(0); }
// a = x² + y − 11, b = x + y² − 7, f = a² + b²:
// ∇f = (4xa + 2b, 2a + 4yb);  H = [[4a + 8x² + 2, 4x + 4y], [4x + 4y, 4b + 8y² + 2]].
void himmelblau_grad(const Vector& x, Vector& g) {
  const double a = x(0) * x(0) + x(1) - 11.0, b = x(0) + x(1) * x(1) - 7.0;
  g << 4.0 * x(0) * a + 2.0 * b, 2.0 * a + 4.0 * x(1) * b;
}
void himmelblau_hess(const Vector& x, Matrix& H) {
  const double a = x(0) * x(0) + x(1) - 11.0, b = x(0) + x(1) * x(1) - 7.0;
  const double off = 4.0 * x(0) + 4.0 * x(1);
  H << 4.0 * a + 8.0 * x(0) * x(0) + 2.0, off, off, 4.0 * b + 8.0 * x(1) * x(1) + 2.0;
}
// f = 4x² − 2.1x⁴ + x⁶/3 + xy − 4y² + 4y⁴.
void camel_grad(const Vector& x, Vector& g) {
  const double u = x(0), v = x(1);
  g << 8.0 * u - 8.4 * u * u * u + 2.0 * std::pow(u, 5) + v, u - 8.0 * v + 16.0 * v * v * v;
}
void camel_hess(const Vector& x, Matrix& H) {
  const double u = x(0), v = x(1);
  H << 8.0 - 25.2 * u * u + 10.0 * std::pow(u, 4), 1.0, 1.0, -8.0 + 48.0 * v * v;
}
// r_i = c_i − x + x yⁱ;  ∂r_i/∂x = yⁱ − 1, ∂r_i/∂y = i x y^{i−1};  ∂²r_i/∂x∂y = i y^{i−1},
// ∂²r_i/∂y² = i(i−1) x y^{i−2};  f = Σ r_i²:  ∇f = 2Σ r_i ∇r_i,  H = 2Σ (∇r_i ∇r_iᵀ + r_i ∇²r_i).
constexpr double kBealeC[3] = {1.5, 2.25, 2.625};
void beale_grad(const Vector& x, Vector& g) {
  g.setZero();
  for (int i = 1; i <= 3; ++i) {
    const double r = kBealeC[i - 1] - x(0) + x(0) * std::pow(x(1), i);
    g(0) += 2.0 * r * (std::pow(x(1), i) - 1.0);
    g(1) += 2.0 * r * i * x(0) * std::pow(x(1), i - 1);
  }
}
void beale_hess(const Vector& x, Matrix& H) {
  for (int i = 1; i <= 3; ++i) {
    const double r = kBealeC[i - 1] - x(0) + x(0) * std::pow(x(1), i);
    const double dx = std::pow(x(1), i) - 1.0, dy = i * x(0) * std::pow(x(1), i - 1);
    const double dxy = i * std::pow(x(1), i - 1);
    const double dyy = i >= 2 ? i * (i - 1) * x(0) * std::pow(x(1), i - 2) : 0.0;
    H(0, 0) += 2.0 * dx * dx;
    H(0, 1) += 2.0 * (dx * dy + r * dxy);
    H(1, 1) += 2.0 * (dy * dy + r * dyy);
  }
  H(1, 0) = H(0, 1);
}

// Separable functions Σ φ(x_i): diagonal Hessian, HVP in O(nm).
class SeparableFunction : public TestFunction {
 public:
  using Scalar1 = double (*)(double);
  SeparableFunction(std::string spec, Index n, ValueFn f, Scalar1 d1, Scalar1 d2, double start)
      : spec_(std::move(spec)), n_(n), f_(f), d1_(d1), d2_(d2), start_(start) {}
  Index dim() const override { return n_; }
  double value(const Vector& x) const override { return f_({x.data(), static_cast<std::size_t>(x.size())}); }
  double gradient(const Vector& x, Vector& g) const override {
    g.resize(n_);
    for (Index i = 0; i < n_; ++i) g(i) = d1_(x(i));
    return value(x);
  }
  void hessian(const Vector& x, Matrix& H) const override {
    H.setZero(n_, n_);
    for (Index i = 0; i < n_; ++i) H(i, i) = d2_(x(i));
  }
  void hessian_vector_product(const Vector& x, const Matrix& V, Matrix& HV) const override {
    HV.resize(n_, V.cols());
    for (Index i = 0; i < n_; ++i) HV.row(i) = d2_(x(i)) * V.row(i);
  }
  std::string spec_string() const override { return spec_; }
  Vector default_start() const override { return Vector::Constant(n_, start_); }

 private:
  std::string spec_;
  Index n_;
  ValueFn f_;
  Scalar1 d1_, d2_;
  double start_;
};

// Rastrigin: φ = x² − 10cos 2πx (+10);  φ' = 2x + 20π sin 2πx;  φ'' = 2 + 40π² cos 2πx.
double rastrigin_d1(double x) { return 2.0 * x + 20.0 * kPi * std::sin(2.0 * kPi * x); }
double rastrigin_d2(double x) { return 2.0 + 40.0 * kPi * kPi * std::cos(2.0 * kPi * x); }
// Styblinski–Tang: φ = ½(x⁴ − 16x² + 5x);  φ' = 2x³ − 16x + 2.5;  φ'' = 6x² − 16.
double styblinski_d1(double x) { return 2.0 * x * x * x - 16.0 * x + 2.5; }
double styblinski_d2(double x) { return 6.0 * x * x - 16.0; }

// Rosenbrock, chained form: tridiagonal Hessian, HVP in O(nm).
class Rosenbrock : public TestFunction {
 public:
  explicit Rosenbrock(Index n) : n_(n) {}
  Index dim() const override { return n_; }
  double value(const Vector& x) const override {
    return formulas::rosenbrock<double>({x.data(), static_cast<std::size_t>(x.size())});
  }
  // Term i: 100(x_{i+1} − x_i²)² + (1 − x_i)²;
  // ∂/∂x_i = −400x_i(x_{i+1} − x_i²) − 2(1 − x_i),  ∂/∂x_{i+1} = 200(x_{i+1} − x_i²);
  // ∂²/∂x_i² = 1200x_i² − 400x_{i+1} + 2,  ∂²/∂x_i∂x_{i+1} = −400x_i,  ∂²/∂x_{i+1}² = 200.
  double gradient(const Vector& x, Vector& g) const override {
    g.setZero(n_);
    for (Index i = 0; i + 1 < n_; ++i) {
      const double a = x(i + 1) - x(i) * x(i);
      g(i) += -400.0 * x(i) * a - 2.0 * (1.0 - x(i));
      g(i + 1) += 200.0 * a;
    }
    return value(x);
  }
  void diagonals(const Vector& x, Vector& diag, Vector& off) const {
    diag.setZero(n_);
    off.setZero(n_ - 1);
    for (Index i = 0; i + 1 < n_; ++i) {
      diag(i) += 1200.0 * x(i) * x(i) - 400.0 * x(i + 1) + 2.0;
      diag(i + 1) += 200.0;
      off(i) = -400.0 * x(i);
    }
  }
  void hessian(const Vector& x, Matrix& H) const override {
    Vector diag, off;
    diagonals(x, diag, off);
    H.setZero(n_, n_);
    H.diagonal() = diag;
    H.diagonal(1) = off;
    H.diagonal(-1) = off;
  }
  void hessian_vector_product(const Vector& x, const Matrix& V, Matrix& HV) const override {
    Vector diag, off;
    diagonals(x, diag, off);
    HV = diag.asDiagonal() * V;
    HV.topRows(n_ - 1) += off.asDiagonal() * V.bottomRows(n_ - 1);
    HV.bottomRows(n_ - 1) += off.asDiagonal() * V.topRows(n_ - 1);
  }
  std::string spec_string() const override { return "rosenbrock:n=" + std::to_string(n_); }
  // The classic start (−1.2, 1, −1.2, 1, …).
  Vector default_start() const override {
    Vector x(n_);
    for (Index i = 0; i < n_; ++i) x(i) = (i % 2 == 0) ? -1.2 : 1.0;
    return x;
  }

 private:
  Index n_;
};

class Quadratic : public TestFunction {
 public:
  Quadratic(Index n, double kappa, Index negative, Index zero, std::uint64_t seed)
      : n_(n), kappa_(kappa), negative_(negative), zero_(zero), seed_(seed) {
    // Haar-random orthogonal Q: QR of a Gaussian matrix with R's diagonal made positive
    // (Mezzadri, "How to generate random matrices from the classical compact groups", 2007).
    random::Rng rng(seed, 0);
    Matrix G(n, n);
    for (Index j = 0; j < n; ++j)
      for (Index i = 0; i < n; ++i) G(i, j) = rng.normal();
    Eigen::HouseholderQR<Matrix> qr(G);
    Matrix Q = qr.householderQ();
    const Matrix R = qr.matrixQR().triangularView<Eigen::Upper>();
    for (Index j = 0; j < n; ++j)
      if (R(j, j) < 0) Q.col(j) = -Q.col(j);
    A_ = Q * quadratic_spectrum(n, kappa, negative, zero).asDiagonal() * Q.transpose();
    A_ = 0.5 * (A_ + A_.transpose()).eval();
  }
  Index dim() const override { return n_; }
  double value(const Vector& x) const override { return 0.5 * x.dot(A_ * x); }
  double gradient(const Vector& x, Vector& g) const override {
    g.noalias() = A_ * x;
    return 0.5 * x.dot(g);
  }
  void hessian(const Vector&, Matrix& H) const override { H = A_; }
  bool hessian_is_constant() const override { return true; }
  void hessian_vector_product(const Vector&, const Matrix& V, Matrix& HV) const override { HV.noalias() = A_ * V; }
  std::string spec_string() const override {
    std::ostringstream s;
    s.precision(17);
    s << "quadratic:n=" << n_ << ",kappa=" << kappa_ << ",negative=" << negative_ << ",zero=" << zero_
      << ",seed=" << seed_;
    return s.str();
  }
  Vector default_start() const override { return Vector::Ones(n_); }

 private:
  Index n_;
  double kappa_;
  Index negative_, zero_;
  std::uint64_t seed_;
  Matrix A_;
};

double xcos_value(std::span<const double> x) { return formulas::xcos_pi(x); }
double cubic_value(std::span<const double> x) { return formulas::cubic(x); }
double tanh_value(std::span<const double> x) { return formulas::tanh_fn(x); }
double saddle_value(std::span<const double> x) { return formulas::saddle(x); }
double hill_value(std::span<const double> x) { return formulas::hill(x); }
double monkey_value(std::span<const double> x) { return formulas::monkey_saddle(x); }
double himmelblau_value(std::span<const double> x) { return formulas::himmelblau(x); }
double camel_value(std::span<const double> x) { return formulas::six_hump_camel(x); }
double beale_value(std::span<const double> x) { return formulas::beale(x); }
double rastrigin_value(std::span<const double> x) { return formulas::rastrigin(x); }
double styblinski_value(std::span<const double> x) { return formulas::styblinski_tang(x); }

// Separable and chained functions scale; 10^8 parameters is 800 MB per vector, the most we accept.
constexpr Index kMaxSeparableDim = 100'000'000;
// quadratic stores A densely: 16384² doubles is 2 GiB.
constexpr Index kMaxQuadraticDim = 16'384;

}  // namespace

void TestFunction::hessian_vector_product(const Vector& x, const Matrix& V, Matrix& HV) const {
  Matrix H;
  hessian(x, H);
  HV.noalias() = H * V;
}

nlohmann::json TestFunction::spec() const { return {{"kind", "function"}, {"function", spec_string()}}; }

Vector quadratic_spectrum(Index n, double kappa, Index negative, Index zero) {
  Vector lambda = Vector::Zero(n);
  const Index nonzero = n - zero;
  for (Index j = 0; j < nonzero; ++j) {
    const double magnitude = nonzero == 1 ? 1.0 : std::pow(kappa, static_cast<double>(j) / (nonzero - 1));
    lambda(j) = j < negative ? -magnitude : magnitude;
  }
  return lambda;
}

const std::vector<std::string>& test_function_names() {
  static const std::vector<std::string> names = {
      "xcos_pi", "cubic", "tanh", "saddle", "hill", "monkey_saddle", "rosenbrock", "himmelblau",
      "six_hump_camel", "beale", "rastrigin", "styblinski_tang", "quadratic"};
  return names;
}

std::unique_ptr<TestFunction> make_test_function(const std::string& spec) {
  return make_test_function(spec, nlohmann::json::object());
}

std::unique_ptr<TestFunction> make_test_function(const std::string& spec, const nlohmann::json& options_json) {
  auto parsed = SpecOptions::split("problem spec", spec);
  const std::string name = parsed.first;
  SpecOptions& options = parsed.second;
  options.add_json(options_json, {});

  auto fixed = [&](Index n, ValueFn f, GradFn g, HessFn h, Vector start) -> std::unique_ptr<TestFunction> {
    options.finish("");
    return std::make_unique<FormulaFunction>(name, n, f, g, h, std::move(start));
  };
  if (name == "xcos_pi") return fixed(1, xcos_value, xcos_grad, xcos_hess, vec({-0.3}));
  if (name == "cubic") return fixed(1, cubic_value, cubic_grad, cubic_hess, vec({1.0}));
  if (name == "tanh") return fixed(1, tanh_value, tanh_grad, tanh_hess, vec({4.0}));
  if (name == "saddle") return fixed(2, saddle_value, saddle_grad, saddle_hess, vec({1.0, 1e-3}));
  if (name == "hill") return fixed(2, hill_value, hill_grad, hill_hess, vec({0.1, 0.1}));
  if (name == "monkey_saddle") return fixed(2, monkey_value, monkey_grad, monkey_hess, vec({0.5, 0.5}));
  if (name == "himmelblau") return fixed(2, himmelblau_value, himmelblau_grad, himmelblau_hess, vec({0.0, 0.0}));
  if (name == "six_hump_camel") return fixed(2, camel_value, camel_grad, camel_hess, vec({1.0, 1.0}));
  if (name == "beale") return fixed(2, beale_value, beale_grad, beale_hess, vec({1.0, 1.0}));
  if (name == "rosenbrock") {
    const Index n = options.integer("n", 2, 2, kMaxSeparableDim);
    options.finish("n");
    return std::make_unique<Rosenbrock>(n);
  }
  if (name == "rastrigin" || name == "styblinski_tang") {
    const Index n = options.integer("n", 2, 1, kMaxSeparableDim);
    options.finish("n");
    const std::string canonical = name + ":n=" + std::to_string(n);
    if (name == "rastrigin")
      return std::make_unique<SeparableFunction>(canonical, n, rastrigin_value, rastrigin_d1, rastrigin_d2, 2.5);
    return std::make_unique<SeparableFunction>(canonical, n, styblinski_value, styblinski_d1, styblinski_d2, 0.0);
  }
  if (name == "quadratic") {
    const Index n = options.integer("n", 10, 1, kMaxQuadraticDim);
    const double kappa = options.real("kappa", 10.0, 1.0, 1e300);
    const Index negative = options.integer("negative", 0, 0, n);
    const Index zero = options.integer("zero", 0, 0, n);
    const Index seed = options.integer("seed", 0, 0, std::numeric_limits<Index>::max());
    options.finish("n, kappa, negative, zero, seed");
    if (negative + zero > n)
      options.fail("negative + zero = " + std::to_string(negative + zero) + " exceeds n = " + std::to_string(n));
    return std::make_unique<Quadratic>(n, kappa, negative, zero, static_cast<std::uint64_t>(seed));
  }
  std::string known;
  for (const auto& n : test_function_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("problem spec '" + printable(spec) + "': unknown function '" + printable(name) +
                              "' (known: " + known + ")");
}

}  // namespace saddlescope::objective
