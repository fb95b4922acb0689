#include "rmt/check.h"

#include <Eigen/Dense>
#include <boost/math/distributions/normal.hpp>
#include <cmath>
#include <limits>
#include <numbers>
#include <stdexcept>


namespace saddlescope::rmt {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Stream families: part of every stream id, so MC and splitting never share a stream.
constexpr std::uint64_t kMonteCarloStreams = 1, kSplittingStreams = 2, kIntegrationStreams = 3;
}  // namespace

bool CheckOptions::IsValid(std::string* why) const {
  auto fail = [&](const std::string& m) {
    if (why) *why = m;
    return false;
  };
  if (!ensemble.IsValid(why)) return false;
  if (!monte_carlo.IsValid(why)) return false;
  if (!splitting.IsValid(why)) return false;
  if (!integration.IsValid(why)) return false;
  if (method == Method::kIntegration && ensemble.kind != EnsembleKind::kGoe && ensemble.kind != EnsembleKind::kGoeShift)
    return fail("method 'integration' needs ensemble goe or goe-shift, got " + to_string(ensemble.kind));
  if (ks.empty()) return fail("'ks' must not be empty");
  for (int k : ks)
    if (k < 1) return fail("every k must be >= 1, got " + std::to_string(k));
  if (min_hits < 1) return fail("'min_hits' must be >= 1, got " + std::to_string(min_hits));
  return true;
}

namespace {

// Weighted least squares y ≈ X β with standard deviations sigma; covariance scaled by the Birge ratio
// χ²/(n − p) when it exceeds 1 (the errors then understate the scatter).
bool weighted_fit(const Eigen::MatrixXd& X, const Eigen::VectorXd& y, const Eigen::VectorXd& sigma, Eigen::VectorXd& beta,
                  Eigen::MatrixXd& covariance) {
  const Eigen::Index n = X.rows(), p = X.cols();
  if (n < p) return false;
  const Eigen::VectorXd w = sigma.array().square().inverse();
  const Eigen::MatrixXd A = X.transpose() * w.asDiagonal() * X;
  const Eigen::VectorXd rhs = X.transpose() * w.asDiagonal() * y;
  Eigen::LDLT<Eigen::MatrixXd> ldlt(A);
  if (ldlt.info() != Eigen::Success) return false;
  beta = ldlt.solve(rhs);
  covariance = ldlt.solve(Eigen::MatrixXd::Identity(p, p));
  if (n > p) {
    const double chi2 = ((X * beta - y).array().square() * w.array()).sum();
    covariance *= std::max(1.0, chi2 / static_cast<double>(n - p));
  }
  return true;
}

// The same quadratic fit to the exact values of every k in the run (unweighted: they have no error).
void fit_exact(const std::vector<KResult>& results, Fit& fit) {
  std::vector<const KResult*> use;
  for (const KResult& r : results) {
    if (!r.exact.available || !std::isfinite(r.exact.log_p)) return;
    use.push_back(&r);
  }
  if (use.size() < 3) return;
  const auto n = static_cast<Eigen::Index>(use.size());
  Eigen::MatrixXd X(n, 3);
  Eigen::VectorXd y(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    const double k = use[static_cast<std::size_t>(i)]->k;
    X.row(i) << 1.0, k, k * k;
    y[i] = use[static_cast<std::size_t>(i)]->exact.log_p;
  }
  Eigen::VectorXd beta;
  Eigen::MatrixXd cov;
  if (weighted_fit(X, y, Eigen::VectorXd::Ones(n), beta, cov)) {
    fit.has_theta_exact = true;
    fit.theta_exact = -beta[2];
  }
}

void set_index_theory(const EnsembleOptions& e, int k, KResult& r) {
  r.index_mean_theory = r.index_variance_theory = kNaN;
  const double t = e.shift / e.scale;
  switch (e.kind) {
    case EnsembleKind::kGoe:
    case EnsembleKind::kGoeShift: {
      const ExactIndexMoments m = goe_index_moments_exact(k, t);
      if (m.available) {
        r.index_theory = "exact";
        r.index_mean_theory = m.mean;
        r.index_variance_theory = m.variance;
      } else if (e.shift == 0.0) {
        r.index_theory = "asymptotic-leading";
        r.index_mean_theory = 0.5 * k;
        r.index_variance_theory = std::log(static_cast<double>(k)) / (std::numbers::pi * std::numbers::pi);
      }
      break;
    }
    case EnsembleKind::kDiagonal: {
      // Each diagonal entry s·z + μ is negative with probability q = Φ(−μ/s), independently.
      const double q = boost::math::cdf(boost::math::normal_distribution<double>(), -t);
      r.index_theory = "binomial";
      r.index_mean_theory = k * q;
      r.index_variance_theory = k * q * (1 - q);
      break;
    }
    default:
      break;
  }
}

Fit fit_results(const std::vector<KResult>& results, const EnsembleOptions& e) {
  Fit fit;
  fit_exact(results, fit);
  fit.theta_theory = (e.kind == EnsembleKind::kGoe || e.kind == EnsembleKind::kGoeShift) && e.shift == 0.0
                         ? std::log(3.0) / 4.0
                         : kNaN;
  std::vector<const KResult*> use;
  for (const KResult& r : results)
    if (std::isfinite(r.log_p) && r.relative_error > 0 && std::isfinite(r.relative_error)) use.push_back(&r);
  fit.points = static_cast<int>(use.size());
  if (use.size() < 3) return fit;
  const auto n = static_cast<Eigen::Index>(use.size());
  Eigen::MatrixXd X2(n, 3), X1(n, 2);
  Eigen::VectorXd y(n), sigma(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    const double k = use[static_cast<std::size_t>(i)]->k;
    X2.row(i) << 1.0, k, k * k;
    X1.row(i) << 1.0, k;
    y[i] = use[static_cast<std::size_t>(i)]->log_p;
    // Relative error of p is the standard deviation of ln p to first order.
    sigma[i] = use[static_cast<std::size_t>(i)]->relative_error;
  }
  Eigen::VectorXd beta;
  Eigen::MatrixXd cov;
  if (weighted_fit(X2, y, sigma, beta, cov)) {
    fit.available = true;
    fit.quadratic_a = beta[0];
    fit.quadratic_b = beta[1];
    fit.theta = -beta[2];
    fit.theta_se = std::sqrt(cov(2, 2));
  }
  if (weighted_fit(X1, y, sigma, beta, cov)) {
    fit.linear_a = beta[0];
    fit.linear_slope = beta[1];
    fit.linear_slope_se = std::sqrt(cov(1, 1));
  }
  return fit;
}

}  // namespace

ExactValue exact_value(const EnsembleOptions& e, int k) {
  ExactValue v;
  switch (e.kind) {
    case EnsembleKind::kGoe:
    case EnsembleKind::kGoeShift:
      // sH₀ + μI > 0 ⇔ H₀ + (μ/s)I > 0.
      v = goe_positive_probability_exact(k, e.shift / e.scale);
      break;
    case EnsembleKind::kDiagonal: {
      // Independent entries s·z + μ > 0 with probability Φ(μ/s) each.
      const double q = boost::math::cdf(boost::math::normal_distribution<double>(), e.shift / e.scale);
      v.available = true;
      v.log_p = k * std::log(q);
      v.p = std::exp(v.log_p);
      break;
    }
    case EnsembleKind::kWishart: {
      // X Xᵀ with X of full row rank k (probability 1 when m ≥ k) is positive definite; μ ≥ 0 keeps it so.
      const long m = e.wishart_dof == 0 ? k : e.wishart_dof;
      if (m >= k && e.shift >= 0.0) {
        v.available = true;
        v.p = 1.0;
        v.log_p = 0.0;
      } else if (m < k && e.shift <= 0.0) {
        v.available = true;  // rank m < k: a zero (or, shifted down, negative) eigenvalue always
        v.p = 0.0;
        v.log_p = -std::numeric_limits<double>::infinity();
      }
      break;
    }
    case EnsembleKind::kHessian:
      break;
  }
  return v;
}

namespace {

// Runs `estimate(progress)` with the stage's progress and its wall time in `seconds`.
template <class Estimate>
auto timed_estimate(const std::string& stage, const CheckProgress& progress, double& seconds, Estimate estimate) {
  const auto t0 = std::chrono::steady_clock::now();
  Progress p;
  if (progress) p = [&](std::int64_t d, std::int64_t t) { progress(stage, d, t); };
  auto result = estimate(p);
  seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

// The reported estimate from a rare-event result (splitting or integration: the same field names).
template <class RareResult>
void take_estimate(Method method, const RareResult& e, KResult& r) {
  r.method_used = method;
  r.p = e.p;
  r.log_p = e.log_p;
  r.ci_low = e.ci_low;
  r.ci_high = e.ci_high;
  r.log_ci_low = e.log_ci_low;
  r.log_ci_high = e.log_ci_high;
  r.relative_error = e.relative_error;
}

}  // namespace

CheckResult run_check(const CheckOptions& options, std::uint64_t seed, const CheckProgress& progress, bool index_theory) {
  std::string why;
  if (!options.IsValid(&why)) throw std::invalid_argument(why);
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  CheckResult out;
  for (int k : options.ks) {
    const Ensemble ensemble(options.ensemble, k);
    if (out.ensemble_description.empty()) out.ensemble_description = ensemble.description();
    KResult r;
    r.k = k;
    r.half_power = std::pow(0.5, k);
    r.index_mean_theory = r.index_variance_theory = kNaN;
    if (index_theory) set_index_theory(options.ensemble, k, r);
    if (options.exact) r.exact = exact_value(options.ensemble, k);
    const std::string stage = "k=" + std::to_string(k);
    if (options.method == Method::kAuto || options.method == Method::kMonteCarlo) {
      const auto t0 = Clock::now();
      Progress p;
      if (progress) p = [&](std::int64_t d, std::int64_t t) { progress(stage + " monte carlo", d, t); };
      r.monte_carlo = monte_carlo(ensemble, options.monte_carlo, seed, stream_id({kMonteCarloStreams, static_cast<std::uint64_t>(k)}), p);
      r.monte_carlo_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      r.has_monte_carlo = true;
      r.method_used = Method::kMonteCarlo;
      r.p = r.monte_carlo.p;
      r.ci_low = r.monte_carlo.ci_low;
      r.ci_high = r.monte_carlo.ci_high;
      r.log_ci_low = std::log(r.ci_low);
      r.log_ci_high = std::log(r.ci_high);
      r.log_p = std::log(r.p);
      r.relative_error = r.monte_carlo.hits > 0 ? std::sqrt((1 - r.p) / (static_cast<double>(r.monte_carlo.samples) * r.p)) : kNaN;
    }
    const bool rare = options.method == Method::kAuto && r.monte_carlo.hits < options.min_hits;
    const bool goe_like = ensemble.has_tridiagonal_model();
    if (options.method == Method::kIntegration || (rare && goe_like)) {
      r.has_integration = true;
      r.integration = timed_estimate(stage + " integration", progress, r.integration_seconds, [&](const Progress& p) {
        return thermodynamic_integration(ensemble, options.integration, seed,
                                         stream_id({kIntegrationStreams, static_cast<std::uint64_t>(k)}), p);
      });
      take_estimate(Method::kIntegration, r.integration, r);
    } else if (options.method == Method::kSplitting || rare) {
      r.has_splitting = true;
      r.splitting = timed_estimate(stage + " splitting", progress, r.splitting_seconds, [&](const Progress& p) {
        return subset_simulation(ensemble, options.splitting, seed, stream_id({kSplittingStreams, static_cast<std::uint64_t>(k)}), p);
      });
      take_estimate(Method::kSplitting, r.splitting, r);
    }
    out.results.push_back(std::move(r));
  }
  out.fit = fit_results(out.results, options.ensemble);
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return out;
}

}  // namespace saddlescope::rmt
