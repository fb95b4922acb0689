#pragma once
// Test support for the graph engine: a builder for GraphIR graphs in C++ and the derivative checks
// every graph test runs (finite differences, symmetry, block = columns).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "models/graph/engine.h"
#include "random/random.h"

namespace saddlescope::graph_test {

using models::graph::Attribute;
using models::graph::GraphIR;
using models::graph::GraphObjective;
using models::graph::GraphOptions;
using models::graph::Tensor;
using objective::Index;
using objective::Matrix;
using objective::Vector;

inline Tensor float_tensor(std::vector<std::int64_t> shape, std::vector<double> values) {
  Tensor t;
  t.shape = std::move(shape);
  t.f64 = std::move(values);
  return t;
}
inline Tensor int_tensor(std::vector<std::int64_t> shape, std::vector<std::int64_t> values) {
  Tensor t;
  t.type = models::graph::ElementType::int64;
  t.shape = std::move(shape);
  t.i64 = std::move(values);
  return t;
}

// Builds a graph node by node; parameters get N(0, scale²) values from Rng(seed, 11).
class Builder {
 public:
  explicit Builder(std::vector<std::int64_t> sample_shape, std::uint64_t seed = 1, std::int64_t opset = 17)
      : rng_(seed, 11) {
    ir.opset = opset;
    ir.input.name = "input";
    ir.input.shape = {-1};
    ir.input.shape.insert(ir.input.shape.end(), sample_shape.begin(), sample_shape.end());
  }
  std::string param(const std::string& name, std::vector<std::int64_t> shape, double scale) {
    Tensor t;
    t.shape = std::move(shape);
    t.f64.resize(static_cast<std::size_t>(t.element_count()));
    for (auto& v : t.f64) v = scale * rng_.normal();
    ir.parameters.push_back({name, t});
    return name;
  }
  std::string constant(const std::string& name, Tensor t) {
    ir.constants.push_back({name, std::move(t)});
    return name;
  }
  std::string buffer(const std::string& name, Tensor t) {
    ir.buffers.push_back({name, std::move(t)});
    return name;
  }
  std::string ints(const std::string& name, std::vector<std::int64_t> values) {
    const auto size = static_cast<std::int64_t>(values.size());
    return constant(name, int_tensor({size}, std::move(values)));
  }
  std::string node(const std::string& op, std::vector<std::string> inputs, std::map<std::string, Attribute> attributes = {},
                   int outputs = 1) {
    models::graph::Node n;
    n.name = op + "_" + std::to_string(ir.nodes.size());
    n.op_type = op;
    n.inputs = std::move(inputs);
    for (int i = 0; i < outputs; ++i) n.outputs.push_back(n.name + (i ? "_out" + std::to_string(i) : ""));
    n.attributes = std::move(attributes);
    ir.nodes.push_back(n);
    return n.outputs[0];
  }
  // Gemm with a fresh weight [out, in] and bias, as torch's Linear exports.
  std::string linear(const std::string& x, std::int64_t in, std::int64_t out, const std::string& name) {
    const auto w = param(name + ".weight", {out, in}, 1.0 / std::sqrt(static_cast<double>(in)));
    const auto b = param(name + ".bias", {out}, 0.1);
    return node("Gemm", {x, w, b}, {{"transB", std::int64_t{1}}});
  }
  GraphIR finish(const std::string& output) {
    ir.output = output;
    return ir;
  }
  Vector parameters() const {
    Vector x;
    Index n = 0;
    for (const auto& p : ir.parameters) n += p.value.element_count();
    x.resize(n);
    Index k = 0;
    for (const auto& p : ir.parameters)
      for (const double v : p.value.f64) x[k++] = v;
    return x;
  }
  GraphIR ir;

 private:
  random::Rng rng_;
};

inline io::DataArrays class_data(std::int64_t samples, std::int64_t features, std::int64_t classes, std::uint64_t seed) {
  random::Rng rng(seed, 3);
  io::DataArrays d;
  d.X.resize(samples, features);
  for (Index i = 0; i < d.X.size(); ++i) d.X.data()[i] = rng.normal();
  d.y.resize(samples, 1);
  for (Index i = 0; i < samples; ++i) d.y(i, 0) = static_cast<double>(rng.below(classes));
  return d;
}

inline Matrix random_matrix(Index n, Index m, std::uint64_t seed) {
  random::Rng rng(seed, 8);
  Matrix v(n, m);
  for (Index i = 0; i < v.size(); ++i) v.data()[i] = rng.normal();
  return v;
}

// The derivative checks.
//  * gradient·u against the central difference (f(x+hu) − f(x−hu))/2h along random unit u: the
//    truncation error is h²/6·|f'''| and the rounding error ≈ ε|f|/h; with h = 1e-5 and f, f''' of
//    order 1–100 on these small graphs both stay below 1e-8, so 1e-6 (relative to max(1, |g·u|)) is a
//    100× margin that still catches any wrong term (those are O(1)).
//  * H v against the central difference of the gradient, same bound per entry (relative to ‖Hv‖∞).
//  * symmetry Wᵀ(HV) = (HW)ᵀV of the block product, which only rounding breaks: 1e-10 relative.
//  * a block of m columns equals m single-column products (different chunking and GEMM shapes, so
//    rounding only): 1e-12 relative.
struct CheckOptions {
  double h = 1e-5;
  double fd_tolerance = 1e-6;
  int directions = 3;
  bool gauss_newton_symmetry = true;
};

inline void check_derivatives(const GraphObjective& f, const Vector& x, std::uint64_t seed, CheckOptions o = {}) {
  const Index n = f.dim();
  Vector g;
  const double value = f.gradient(x, g);
  ASSERT_TRUE(std::isfinite(value));
  EXPECT_DOUBLE_EQ(value, f.value(x));
  const Matrix U = random_matrix(n, o.directions, seed);
  Matrix HU;
  f.hessian_vector_product(x, U, HU);
  for (int d = 0; d < o.directions; ++d) {
    const Vector u = U.col(d).normalized();
    const double fd = (f.value(x + o.h * u) - f.value(x - o.h * u)) / (2 * o.h);
    const double exact = g.dot(u);
    EXPECT_NEAR(exact, fd, o.fd_tolerance * std::max(1.0, std::abs(exact))) << "gradient, direction " << d;
    Vector gp, gm;
    f.gradient(x + o.h * u, gp);
    f.gradient(x - o.h * u, gm);
    const Vector hfd = (gp - gm) / (2 * o.h);
    const Vector hu = HU.col(d) / U.col(d).norm();
    const double scale = std::max(1.0, hu.lpNorm<Eigen::Infinity>());
    EXPECT_LE((hu - hfd).lpNorm<Eigen::Infinity>(), o.fd_tolerance * scale) << "Hessian-vector product, direction " << d;
  }
  // Symmetry of the block product, and block = columns.
  const Matrix W = random_matrix(n, 2, seed + 1);
  Matrix HW;
  f.hessian_vector_product(x, W, HW);
  const Matrix left = W.transpose() * HU, right = HW.transpose() * U;
  EXPECT_LE((left - right).lpNorm<Eigen::Infinity>(), 1e-10 * std::max(1.0, left.lpNorm<Eigen::Infinity>())) << "symmetry";
  for (int d = 0; d < o.directions; ++d) {
    Matrix single;
    f.hessian_vector_product(x, U.col(d), single);
    EXPECT_LE((single.col(0) - HU.col(d)).lpNorm<Eigen::Infinity>(), 1e-12 * std::max(1.0, HU.col(d).lpNorm<Eigen::Infinity>()))
        << "block column " << d;
  }
  if (o.gauss_newton_symmetry) {
    Matrix GU, GW;
    f.gauss_newton_vector_product(x, U, GU);
    f.gauss_newton_vector_product(x, W, GW);
    const Matrix gl = W.transpose() * GU, gr = GW.transpose() * U;
    EXPECT_LE((gl - gr).lpNorm<Eigen::Infinity>(), 1e-10 * std::max(1.0, gl.lpNorm<Eigen::Infinity>())) << "GGN symmetry";
    // PSD: uᵀGu ≥ 0 (the loss Hessians in the logits are PSD), up to rounding.
    for (int d = 0; d < o.directions; ++d) EXPECT_GE(U.col(d).dot(GU.col(d)), -1e-12 * GU.col(d).norm() * U.col(d).norm());
  }
}

}  // namespace saddlescope::graph_test
