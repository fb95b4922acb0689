#include "rmt/coulomb_gas.h"

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>

namespace saddlescope::rmt {

namespace {

// ln Π_{m≠i} |p − λ_m| / |o − λ_m|, accumulated as a product in blocks of 16 factors (one log per block:
// each factor is a ratio of distances, far from over- or underflow over 16 factors).
double log_vandermonde_ratio(const Eigen::VectorXd& lambda, Eigen::Index i, double proposal, double old) {
  double sum = 0, product = 1;
  int in_block = 0;
  for (Eigen::Index m = 0; m < lambda.size(); ++m) {
    if (m == i) continue;
    product *= std::abs(proposal - lambda[m]) / std::abs(old - lambda[m]);
    if (++in_block == 16) {
      sum += std::log(product);
      product = 1;
      in_block = 0;
    }
  }
  return sum + std::log(product);
}

}  // namespace

void gas_sweep(Eigen::VectorXd& lambda, double wall, const GasSteps& steps, random::Rng& rng, GasCounts& counts) {
  gas_sweep(lambda, wall, GasWeight{}, steps, rng, counts);
}

void gas_sweep(Eigen::VectorXd& lambda, double wall, const GasWeight& weight, const GasSteps& steps, random::Rng& rng,
               GasCounts& counts) {
  const Eigen::Index k = lambda.size();
  const auto kd = static_cast<double>(k);
  const bool laguerre = weight.kind == GasWeight::Kind::kLaguerre;
  const double a = weight.power;
  for (Eigen::Index i = 0; i < k; ++i) {
    const double old = lambda[i], xi = rng.normal();
    const double u = rng.uniform_open_zero();
    ++counts.proposed[0];
    if (laguerre) {
      // A random walk in r = √(λ − wall), reflected at 0 (r' = |r + σ₁ξ|: a symmetric kernel on r > 0), so a
      // step shrinks near the wall, where the hard edge puts the smallest eigenvalue; the density in r
      // carries the Jacobian dλ/dr = 2r, hence the ln(r'/r) term.
      const double r = std::sqrt(old - wall), r_new = std::abs(r + steps.single * xi);
      const double proposal = wall + r_new * r_new;
      if (!(proposal > wall)) continue;
      const double log_ratio = a * std::log(proposal / old) - 0.5 * (proposal - old) + std::log(r_new / r) +
                               log_vandermonde_ratio(lambda, i, proposal, old);
      if (std::log(u) < log_ratio) {
        lambda[i] = proposal;
        ++counts.accepted[0];
      }
      continue;
    }
    const double proposal = old + steps.single * xi;
    if (!(proposal > wall)) continue;
    const double log_ratio = -0.5 * (proposal * proposal - old * old) + log_vandermonde_ratio(lambda, i, proposal, old);
    if (std::log(u) < log_ratio) {
      lambda[i] = proposal;
      ++counts.accepted[0];
    }
  }
  {
    // Translation: Δ ln p = −δ Σλ − kδ²/2 (Gaussian) or Σ a ln(1 + δ/λ_i) − kδ/2 (Laguerre); the
    // Vandermonde factor is unchanged.
    const double delta = steps.translation * rng.normal();
    const double u = rng.uniform_open_zero();
    ++counts.proposed[1];
    bool accept = lambda.minCoeff() + delta > wall;
    if (accept && laguerre) {
      double log_ratio = -0.5 * kd * delta;
      for (Eigen::Index i = 0; i < k; ++i) log_ratio += a * std::log1p(delta / lambda[i]);
      accept = std::log(u) < log_ratio;
    } else if (accept) {
      accept = std::log(u) < -delta * lambda.sum() - 0.5 * kd * delta * delta;
    }
    if (accept) {
      lambda.array() += delta;
      ++counts.accepted[1];
    }
  }
  {
    // Dilation about the wall by ς = e^η: the Vandermonde factor scales by ς^{k(k−1)/2}, the Jacobian of
    // the map is ς^k, and the one-body factor changes by exp(−½Σ(λ'² − λ²)) (Gaussian) or
    // exp(Σ a ln(λ'/λ) − ½Σ(λ' − λ)) (Laguerre).
    const double eta = steps.dilation * rng.normal();
    const double u = rng.uniform_open_zero();
    ++counts.proposed[2];
    const double factor = std::exp(eta);
    double one_body = 0;
    for (Eigen::Index i = 0; i < k; ++i) {
      const double next = wall + factor * (lambda[i] - wall);
      one_body += laguerre ? a * std::log(next / lambda[i]) - 0.5 * (next - lambda[i])
                           : -0.5 * (next * next - lambda[i] * lambda[i]);
    }
    if (std::log(u) < (0.5 * kd * (kd - 1) + kd) * eta + one_body) {
      for (Eigen::Index i = 0; i < k; ++i) lambda[i] = wall + factor * (lambda[i] - wall);
      ++counts.accepted[2];
    }
  }
}

void adapt_gas_steps(const GasCounts& batch, GasSteps& steps, double target) {
  auto adapt = [&](double& step, int type, double lo, double hi) {
    if (batch.proposed[type] == 0) return;
    step = std::clamp(step * std::exp(2.0 * (batch.rate(type) - target)), lo, hi);
  };
  adapt(steps.single, 0, 1e-6, 10.0);
  adapt(steps.translation, 1, 1e-6, 10.0);
  adapt(steps.dilation, 2, 1e-6, 1.0);
}

Eigen::VectorXd draw_goe_eigenvalues(Eigen::Index k, random::Rng& rng) {
  Eigen::MatrixXd H(k, k);
  const double off = std::sqrt(0.5);
  for (Eigen::Index j = 0; j < k; ++j) {
    H(j, j) = rng.normal();
    for (Eigen::Index i = j + 1; i < k; ++i) H(i, j) = H(j, i) = off * rng.normal();
  }
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(H, Eigen::EigenvaluesOnly);
  return solver.eigenvalues();
}

Eigen::VectorXd draw_wishart_eigenvalues(Eigen::Index k, Eigen::Index m, random::Rng& rng) {
  Eigen::MatrixXd X(k, m);
  for (Eigen::Index j = 0; j < m; ++j)
    for (Eigen::Index i = 0; i < k; ++i) X(i, j) = rng.normal();
  const Eigen::MatrixXd W = X * X.transpose();
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(W, Eigen::EigenvaluesOnly);
  return solver.eigenvalues();
}

}  // namespace saddlescope::rmt
