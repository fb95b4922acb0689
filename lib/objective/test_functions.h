#pragma once
// Analytic test functions with exact gradients, Hessian-vector products and dense Hessians, selected
// by a spec string "name" or "name:key=value,...". The names are part of saddlescope's interface:
//
//   xcos_pi                 x·cos(πx), n = 1: local vs global minima
//   cubic                   x³, n = 1: degenerate critical point at 0
//   tanh                    tanh(x), n = 1: no critical point, vanishing gradient for large |x|
//   saddle                  x² − y²: strict saddle at 0 (eigenvalues 2, −2)
//   hill                    −(x² + y²): maximum at 0
//   monkey_saddle           x³ − 3xy²: degenerate saddle at 0 (zero Hessian)
//   rosenbrock:n=N          Σ 100(x_{i+1} − x_i²)² + (1 − x_i)², N ≥ 2 (default 2); minimum at 1
//   himmelblau              (x² + y − 11)² + (x + y² − 7)²: 4 minima, 1 maximum, 4 saddles
//   six_hump_camel          (4 − 2.1x² + x⁴/3)x² + xy + (4y² − 4)y²: 6 minima, saddle at 0
//   beale                   Σ_{i=1..3} (c_i − x + xyⁱ)², c = (1.5, 2.25, 2.625): minimum (3, 0.5)
//   rastrigin:n=N           10N + Σ x_i² − 10cos(2πx_i) (default N = 2): minimum at 0
//   styblinski_tang:n=N     ½ Σ x_i⁴ − 16x_i² + 5x_i (default N = 2): 3^N critical points of every index
//   quadratic:n=N,kappa=K,negative=M,zero=Z,seed=S
//                           ½ xᵀAx, A = Q diag(λ) Qᵀ with Q Haar-random orthogonal from `seed`.
//                           The N − Z nonzero |λ| are K^{j/(N−Z−1)}, j = 0…N−Z−1 (so the condition number
//                           over nonzero eigenvalues is K); the M smallest of them are negated; Z are 0.
//                           Defaults: n=10, kappa=10, negative=0, zero=0, seed=0.
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "objective/objective.h"

namespace saddlescope::objective {

class TestFunction : public Objective {
 public:
  bool has_analytic_hessian() const override { return true; }
  // Default block HVP: the analytic dense Hessian times V. Structured functions override it.
  void hessian_vector_product(const Vector& x, const Matrix& V, Matrix& HV) const override;
  nlohmann::json spec() const override;
  std::string description() const override { return spec_string(); }

  // Canonical spec string, every option spelled out, e.g. "rosenbrock:n=4".
  virtual std::string spec_string() const = 0;
  // A documented default starting point for optimizers.
  virtual Vector default_start() const = 0;
};

// Builds a test function from its spec string. Throws std::invalid_argument naming the function, the
// option and the rule when the spec is malformed (unknown name or key, bad value, n out of range).
std::unique_ptr<TestFunction> make_test_function(const std::string& spec);
// The same with options given as JSON keys beside the spec string (a checkpoint's
// {"kind": "function", "function": "rosenbrock", "n": 4}): one parser (objective/spec_options.h), so a
// key the function does not know, a key given twice or a value out of range is refused either way.
std::unique_ptr<TestFunction> make_test_function(const std::string& spec, const nlohmann::json& options);

// The names make_test_function accepts.
const std::vector<std::string>& test_function_names();

// The eigenvalues of quadratic:... in the order they are placed on the diagonal (tests use it to
// compare with the dense spectrum).
Vector quadratic_spectrum(Index n, double kappa, Index negative, Index zero);

}  // namespace saddlescope::objective
