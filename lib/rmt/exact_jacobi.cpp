#include "rmt/exact_jacobi.h"

#include <Eigen/Core>
#include <cmath>
#include <limits>
#include <vector>

#include "objective/test_functions.h"
#include "rmt/multiprecision.h"

namespace saddlescope::rmt {

namespace {

using ExactReal = multiprecision::Real;
using ExactRealMatrix = multiprecision::RealMatrix;
using multiprecision::pfaffian;

bool in_range(int k, int alpha, int beta) {
  return k >= 1 && k <= kMaxJacobiK && alpha >= 0 && alpha <= kMaxJacobiExponent && beta >= 0 &&
         beta <= kMaxJacobiExponent;
}

// The ordered integral Z(u) of exact_jacobi.h as de Bruijn's Pfaffian (sign as it comes).
ExactReal jacobi_pfaffian(int k, int alpha, int beta, const ExactReal& u) {
  // b_l = (−1)^l C(β, l).
  std::vector<ExactReal> b(static_cast<std::size_t>(beta) + 1);
  b[0] = 1;
  for (int l = 1; l <= beta; ++l) b[static_cast<std::size_t>(l)] = -b[static_cast<std::size_t>(l - 1)] * (beta - l + 1) / l;
  // T(s) = Σ_l b_l u^{s+l}/(s + l) for the s the entries need: s from α + 1 to 2(k − 1) + 2α + β + 2.
  const int s_max = 2 * (k - 1) + 2 * alpha + beta + 2;
  std::vector<ExactReal> u_power(static_cast<std::size_t>(s_max + beta) + 1);
  u_power[0] = 1;
  for (std::size_t e = 1; e < u_power.size(); ++e) u_power[e] = u_power[e - 1] * u;
  std::vector<ExactReal> T(static_cast<std::size_t>(s_max) + 1);
  for (int s = alpha + 1; s <= s_max; ++s) {
    ExactReal sum = 0;
    for (int l = 0; l <= beta; ++l) sum += b[static_cast<std::size_t>(l)] * u_power[static_cast<std::size_t>(s + l)] / (s + l);
    T[static_cast<std::size_t>(s)] = sum;
  }
  const auto K = static_cast<std::size_t>(k);
  ExactRealMatrix G(K, std::vector<ExactReal>(K));
  for (int i = 0; i < k; ++i)
    for (int j = 0; j < k; ++j) {
      ExactReal g = 0;
      for (int l = 0; l <= beta; ++l)
        g += b[static_cast<std::size_t>(l)] * T[static_cast<std::size_t>(i + j + 2 * alpha + l + 2)] / (i + alpha + l + 1);
      G[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)] = g;
    }
  const std::size_t n = K + (K % 2);
  ExactRealMatrix A(n, std::vector<ExactReal>(n, ExactReal(0)));
  for (std::size_t i = 0; i < K; ++i)
    for (std::size_t j = 0; j < K; ++j) A[i][j] = G[i][j] - G[j][i];
  if (K % 2 == 1)
    for (std::size_t i = 0; i < K; ++i) {
      A[i][n - 1] = T[i + static_cast<std::size_t>(alpha) + 1];  // M_i
      A[n - 1][i] = -A[i][n - 1];
    }
  return pfaffian(A);
}

}  // namespace

ExactValue jacobi_all_below_exact(int k, int alpha, int beta, double u) {
  ExactValue out;
  if (!in_range(k, alpha, beta) || std::isnan(u)) return out;
  out.available = true;
  if (u <= 0) {
    out.log_p = -std::numeric_limits<double>::infinity();
    return out;
  }
  if (u >= 1) {
    out.p = 1;
    return out;
  }
  const ExactReal p = abs(jacobi_pfaffian(k, alpha, beta, ExactReal(u))) / abs(jacobi_pfaffian(k, alpha, beta, ExactReal(1)));
  out.log_p = static_cast<double>(log(p));
  out.p = static_cast<double>(p);
  return out;
}

double jacobi_log_normalisation(int k, int alpha, int beta) {
  if (!in_range(k, alpha, beta)) return std::nan("");
  return static_cast<double>(log(abs(jacobi_pfaffian(k, alpha, beta, ExactReal(1)))));
}

ExactValue two_level_positive_probability_exact(int k, long p, long q, double t) {
  ExactValue out;
  if (k < 1 || k > p || k > q || std::isnan(t)) return out;
  if (t >= 1 || t <= -1) {  // (1 + t)W₊ − (1 − t)W₋ with one side ⪰ 0 and the other ≻ 0 (k ≤ min(p, q))
    out.available = true;
    out.p = t >= 1 ? 1.0 : 0.0;
    out.log_p = t >= 1 ? 0.0 : -std::numeric_limits<double>::infinity();
    return out;
  }
  // α = (q − k − 1)/2 and β = (p − k − 1)/2 integers: q − k and p − k odd.
  if ((q - k) % 2 == 0 || (p - k) % 2 == 0) return out;
  if ((q - k - 1) / 2 > kMaxJacobiExponent || (p - k - 1) / 2 > kMaxJacobiExponent) return out;
  return jacobi_all_below_exact(k, static_cast<int>((q - k - 1) / 2), static_cast<int>((p - k - 1) / 2), (1 + t) / 2);
}

ExactValue hessian_positive_probability_exact(const EnsembleOptions& ensemble, int k) {
  constexpr Eigen::Index kMaxCheckedDim = 1024;
  ExactValue out;
  if (ensemble.kind != EnsembleKind::kHessian) return out;
  const auto function = objective::make_test_function(ensemble.objective);
  if (function->spec_string().rfind("quadratic:", 0) != 0) return out;
  const Eigen::Index n = function->dim();
  if (n > kMaxCheckedDim) return out;
  // A quadratic's Hessian is constant; A² = I says its spectrum is ±1, and tr A = p − q counts the signs.
  Eigen::MatrixXd A;
  function->hessian(Eigen::VectorXd::Zero(n), A);
  const Eigen::MatrixXd square = A * A;
  if ((square - Eigen::MatrixXd::Identity(n, n)).cwiseAbs().maxCoeff() > 1e-10) return out;
  const long p = std::lround((static_cast<double>(n) + A.trace()) / 2);
  return two_level_positive_probability_exact(k, p, static_cast<long>(n) - p, ensemble.shift / ensemble.scale);
}

}  // namespace saddlescope::rmt
