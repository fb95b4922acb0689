#include "rmt/check.h"

#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <boost/math/distributions/normal.hpp>
#include <cmath>
#include <limits>
#include <numbers>
#include <stdexcept>

#include "parallel/parallel.h"
#include "rmt/exact_jacobi.h"
#include "rmt/exact_wishart.h"


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
  if (method == Method::kIntegration && ensemble.kind != EnsembleKind::kGoe && ensemble.kind != EnsembleKind::kGoeShift &&
      ensemble.kind != EnsembleKind::kWishart)
    return fail("method 'integration' needs ensemble goe, goe-shift or wishart, got " + to_string(ensemble.kind));
  if (method == Method::kIntegration && ensemble.kind == EnsembleKind::kWishart && ensemble.wishart_dof != 0)
    for (int k : ks)
      if (ensemble.wishart_dof < k)
        return fail("method 'integration' for wishart needs 'wishart_dof' >= every k (the Laguerre density), got " +
                    std::to_string(ensemble.wishart_dof) + " < k = " + std::to_string(k));
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
      } else if (m >= k) {
        // μ < 0: sXXᵀ/m + μI > 0 ⇔ λ_min(XXᵀ) > c = −μm/s (de Bruijn's Pfaffian, rmt/exact_wishart.h).
        v = wishart_min_eigenvalue_exceeds_exact(k, m, -e.shift * static_cast<double>(m) / e.scale);
      } else if (m < k && e.shift <= 0.0) {
        v.available = true;  // rank m < k: a zero (or, shifted down, negative) eigenvalue always
        v.p = 0.0;
        v.log_p = -std::numeric_limits<double>::infinity();
      }
      break;
    }
    case EnsembleKind::kHessian:
      // Known for a two-level quadratic (quadratic:…,kappa=1,zero=0) through the Jacobi ensemble.
      v = hessian_positive_probability_exact(e, k);
      break;
  }
  return v;
}

namespace {

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

// The names set_index_theory gives KResult::index_theory, coded by position in work-item records.
const std::array<std::string, 4> kIndexTheories = {"none", "exact", "binomial", "asymptotic-leading"};

// One stage of run_check — an estimator for each of the k values `which` (indices into the run's ks) — as
// one sequence of work items (docs/distributed.md): the items of which[0] are numbered 0 … m₀ − 1, those of
// which[1] continue at m₀, and so on; under MPI rank r computes items r, r + P, … of the whole stage (every
// k at once, so no rank idles at a k boundary), one share_items hands every rank every record, and each k is
// reduced from its own records in k order. Streams are keyed by (k, item within k), so the bits do not
// depend on P. `items(j)` counts k's items, `compute(j, first, records)` computes those this rank owns,
// `reduce(j, records)` builds k's result; `seconds(j)` gets this rank's time on k's items plus its reduction.
template <class Items, class Compute, class Reduce, class Seconds>
void run_stage(const std::vector<std::size_t>& which, Items items, Compute compute, Reduce reduce, Seconds seconds) {
  using Clock = std::chrono::steady_clock;
  std::vector<std::int64_t> first(which.size() + 1, 0);
  for (std::size_t j = 0; j < which.size(); ++j) first[j + 1] = first[j] + items(which[j]);
  std::vector<std::vector<double>> records(static_cast<std::size_t>(first.back()));
  auto part = [&](std::size_t j) {
    return ItemRecords(records.data() + first[j], static_cast<std::size_t>(first[j + 1] - first[j]));
  };
  for (std::size_t j = 0; j < which.size(); ++j) {
    const auto t0 = Clock::now();
    compute(which[j], first[j], part(j));
    seconds(which[j]) += std::chrono::duration<double>(Clock::now() - t0).count();
  }
  parallel::share_items(records);
  for (std::size_t j = 0; j < which.size(); ++j) {
    const auto t0 = Clock::now();
    reduce(which[j], std::span<const std::vector<double>>(part(j)));
    seconds(which[j]) += std::chrono::duration<double>(Clock::now() - t0).count();
  }
}

}  // namespace

CheckResult run_check(const CheckOptions& options, std::uint64_t seed, const CheckProgress& progress, bool index_theory) {
  std::string why;
  if (!options.IsValid(&why)) throw std::invalid_argument(why);
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const std::size_t count = options.ks.size();
  std::vector<Ensemble> ensembles;
  ensembles.reserve(count);
  for (int k : options.ks) ensembles.emplace_back(options.ensemble, k);
  CheckResult out;
  out.ensemble_description = ensembles.front().description();
  out.results.resize(count);
  std::vector<std::size_t> every(count);
  for (std::size_t j = 0; j < count; ++j) {
    every[j] = j;
    KResult& r = out.results[j];
    r.k = options.ks[j];
    r.half_power = std::pow(0.5, r.k);
  }
  // Stage 0: the theory of each k (exact value, index moments) — a work item per k, since its Pfaffians
  // cost seconds at large k (k = 1..60: 9 CPU s in all), which every rank would otherwise repeat. Record:
  // [exact available, p, ln p, index mean, index variance, which index theory].
  double theory_seconds = 0;  // not reported
  run_stage(
      every, [](std::size_t) { return std::int64_t{1}; },
      [&](std::size_t j, std::int64_t first, ItemRecords records) {
        if (!parallel::owns_item(first)) return;
        KResult r;
        r.index_mean_theory = r.index_variance_theory = kNaN;
        if (index_theory) set_index_theory(options.ensemble, options.ks[j], r);
        if (options.exact) r.exact = exact_value(options.ensemble, options.ks[j]);
        const auto which = std::find(kIndexTheories.begin(), kIndexTheories.end(), r.index_theory);
        records[0] = {r.exact.available ? 1.0 : 0.0, r.exact.p, r.exact.log_p, r.index_mean_theory, r.index_variance_theory,
                      static_cast<double>(which - kIndexTheories.begin())};
      },
      [&](std::size_t j, std::span<const std::vector<double>> records) {
        const std::vector<double>& t = records[0];
        KResult& r = out.results[j];
        r.exact.available = t.at(0) != 0.0;
        r.exact.p = t[1];
        r.exact.log_p = t[2];
        r.index_mean_theory = t[3];
        r.index_variance_theory = t[4];
        r.index_theory = kIndexTheories.at(static_cast<std::size_t>(t.at(5)));
      },
      [&](std::size_t) -> double& { return theory_seconds; });
  auto stream = [&](std::uint64_t family, std::size_t j) {
    return stream_id({family, static_cast<std::uint64_t>(options.ks[j])});
  };
  // The progress of k's part of a stage, named "k=<k> <stage>".
  auto stage_progress = [&](std::size_t j, const std::string& stage) {
    Progress p;
    if (progress) {
      const std::string text = "k=" + std::to_string(options.ks[j]) + " " + stage;
      p = [&progress, text](std::int64_t d, std::int64_t t) { progress(text, d, t); };
    }
    return p;
  };

  // Stage 1: plain Monte Carlo at every k.
  if (options.method == Method::kAuto || options.method == Method::kMonteCarlo) {
    run_stage(
        every, [&](std::size_t) { return monte_carlo_items(options.monte_carlo); },
        [&](std::size_t j, std::int64_t first, ItemRecords records) {
          monte_carlo_compute_items(ensembles[j], options.monte_carlo, seed, stream(kMonteCarloStreams, j), first, records,
                                    stage_progress(j, "monte carlo"));
        },
        [&](std::size_t j, std::span<const std::vector<double>> records) {
          KResult& r = out.results[j];
          r.monte_carlo = monte_carlo_from_items(ensembles[j], options.monte_carlo, records);
          r.has_monte_carlo = true;
          r.method_used = Method::kMonteCarlo;
          r.p = r.monte_carlo.p;
          r.ci_low = r.monte_carlo.ci_low;
          r.ci_high = r.monte_carlo.ci_high;
          r.log_ci_low = std::log(r.ci_low);
          r.log_ci_high = std::log(r.ci_high);
          r.log_p = std::log(r.p);
          r.relative_error =
              r.monte_carlo.hits > 0 ? std::sqrt((1 - r.p) / (static_cast<double>(r.monte_carlo.samples) * r.p)) : kNaN;
        },
        [&](std::size_t j) -> double& { return out.results[j].monte_carlo_seconds; });
  }

  // Stage 2: a rare-event estimate where asked for, or (auto) where Monte Carlo saw fewer than min_hits
  // hits — every rank decides the same from the shared tallies.
  std::vector<std::size_t> rare;
  std::vector<Method> rare_method(count, Method::kMonteCarlo);
  for (std::size_t j = 0; j < count; ++j) {
    const bool few_hits = options.method == Method::kAuto && out.results[j].monte_carlo.hits < options.min_hits;
    if (options.method == Method::kIntegration || (few_hits && integration_supported(ensembles[j])))
      rare_method[j] = Method::kIntegration;
    else if (options.method == Method::kSplitting || few_hits)
      rare_method[j] = Method::kSplitting;
    else
      continue;
    rare.push_back(j);
  }
  run_stage(
      rare,
      [&](std::size_t j) {
        return rare_method[j] == Method::kIntegration ? thermodynamic_integration_items(ensembles[j], options.integration)
                                                      : subset_simulation_items(options.splitting);
      },
      [&](std::size_t j, std::int64_t first, ItemRecords records) {
        if (rare_method[j] == Method::kIntegration)
          thermodynamic_integration_compute_items(ensembles[j], options.integration, seed, stream(kIntegrationStreams, j),
                                                  first, records, stage_progress(j, "integration"));
        else
          subset_simulation_compute_items(ensembles[j], options.splitting, seed, stream(kSplittingStreams, j), first,
                                          records, stage_progress(j, "splitting"));
      },
      [&](std::size_t j, std::span<const std::vector<double>> records) {
        KResult& r = out.results[j];
        if (rare_method[j] == Method::kIntegration) {
          r.has_integration = true;
          r.integration = thermodynamic_integration_from_items(ensembles[j], options.integration, records);
          take_estimate(Method::kIntegration, r.integration, r);
        } else {
          r.has_splitting = true;
          r.splitting = subset_simulation_from_items(ensembles[j], options.splitting, records);
          take_estimate(Method::kSplitting, r.splitting, r);
        }
      },
      [&](std::size_t j) -> double& {
        KResult& r = out.results[j];
        return rare_method[j] == Method::kIntegration ? r.integration_seconds : r.splitting_seconds;
      });

  out.fit = fit_results(out.results, options.ensemble);
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return out;
}

}  // namespace saddlescope::rmt
