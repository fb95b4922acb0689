#pragma once
// Values of the analytic test functions, written once as templates over the scalar type. The
// library evaluates them in double; the tests evaluate the same formulas with Boost.Math's autodiff
// types to check the hand-derived gradients and Hessians in test_functions.cpp independently.
#include <cmath>
#include <numbers>
#include <span>

namespace saddlescope::objective::formulas {

// Literature: Goodfellow, Bengio & Courville, "Deep Learning" §4.3 (x·cos(πx) as the local-vs-global
// example; x³ and x²−y² as saddles); Rosenbrock (1960); Himmelblau (1972); Dixon & Szegő (1978) for
// the six-hump camel; Beale (1958); Rastrigin (1974); Styblinski & Tang (1990).
template <class T>
T xcos_pi(std::span<const T> x) {
  using std::cos;
  return x[0] * cos(std::numbers::pi * x[0]);
}
template <class T>
T cubic(std::span<const T> x) {
  return x[0] * x[0] * x[0];
}
template <class T>
T tanh_fn(std::span<const T> x) {
  using std::tanh;
  return tanh(x[0]);
}
template <class T>
T saddle(std::span<const T> x) {
  return x[0] * x[0] - x[1] * x[1];
}
template <class T>
T hill(std::span<const T> x) {
  return -(x[0] * x[0] + x[1] * x[1]);
}
template <class T>
T monkey_saddle(std::span<const T> x) {
  return x[0] * x[0] * x[0] - 3.0 * x[0] * x[1] * x[1];
}
template <class T>
T rosenbrock(std::span<const T> x) {
  T sum = 0.0 * x[0];
  for (std::size_t i = 0; i + 1 < x.size(); ++i) {
    const T a = x[i + 1] - x[i] * x[i];
    const T b = 1.0 - x[i];
    sum += 100.0 * a * a + b * b;
  }
  return sum;
}
template <class T>
T himmelblau(std::span<const T> x) {
  const T a = x[0] * x[0] + x[1] - 11.0;
  const T b = x[0] + x[1] * x[1] - 7.0;
  return a * a + b * b;
}
template <class T>
T six_hump_camel(std::span<const T> x) {
  const T x2 = x[0] * x[0];
  const T y2 = x[1] * x[1];
  return (4.0 - 2.1 * x2 + x2 * x2 / 3.0) * x2 + x[0] * x[1] + (-4.0 + 4.0 * y2) * y2;
}
template <class T>
T beale(std::span<const T> x) {
  const T r1 = 1.5 - x[0] + x[0] * x[1];
  const T r2 = 2.25 - x[0] + x[0] * x[1] * x[1];
  const T r3 = 2.625 - x[0] + x[0] * x[1] * x[1] * x[1];
  return r1 * r1 + r2 * r2 + r3 * r3;
}
template <class T>
T rastrigin(std::span<const T> x) {
  using std::cos;
  T sum = 0.0 * x[0] + 10.0 * static_cast<double>(x.size());
  for (const T& xi : x) sum += xi * xi - 10.0 * cos(2.0 * std::numbers::pi * xi);
  return sum;
}
template <class T>
T styblinski_tang(std::span<const T> x) {
  T sum = 0.0 * x[0];
  for (const T& xi : x) {
    const T x2 = xi * xi;
    sum += x2 * x2 - 16.0 * x2 + 5.0 * xi;
  }
  return 0.5 * sum;
}

}  // namespace saddlescope::objective::formulas
