#include "rmt/check.h"

#include <Eigen/Dense>
#include <boost/math/distributions/normal.hpp>
#include <cmath>
#include <limits>
#include <numbers>
#include <sstream>
#include <stdexcept>

#include "io/hdf5.h"

namespace saddlescope::rmt {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Stream families: part of every stream id, so MC and splitting never share a stream.
constexpr std::uint64_t kMonteCarloStreams = 1, kSplittingStreams = 2, kIntegrationStreams = 3;
}  // namespace

const std::vector<std::pair<Method, std::string>>& method_names() {
  static const std::vector<std::pair<Method, std::string>> names = {
      {Method::kAuto, "auto"}, {Method::kMonteCarlo, "mc"}, {Method::kSplitting, "splitting"}, {Method::kIntegration, "integration"}};
  return names;
}

std::string to_string(Method method) {
  for (const auto& [m, name] : method_names())
    if (m == method) return name;
  return "unknown";
}

Method parse_method(const std::string& name) {
  for (const auto& [m, n] : method_names())
    if (n == name) return m;
  throw std::invalid_argument("unknown method '" + name + "' (known: auto, mc, splitting, integration)");
}

std::vector<int> parse_k_list(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return std::invalid_argument("--k '" + text + "': " + why + " (use 5, 1:12, 1:30:5 or 2,4,8; every k >= 1)");
  };
  auto parse_int = [&](const std::string& s) {
    std::size_t used = 0;
    long v = 0;
    try {
      v = std::stol(s, &used);
    } catch (const std::exception&) {
      throw bad("'" + s + "' is not an integer");
    }
    if (used != s.size()) throw bad("'" + s + "' is not an integer");
    if (v < 1) throw bad("k must be >= 1, got " + s);
    if (v > 100000) throw bad("k must be <= 100000, got " + s);
    return static_cast<int>(v);
  };
  std::vector<int> ks;
  if (text.empty()) throw bad("empty");
  if (text.find(':') != std::string::npos) {
    std::vector<std::string> parts;
    std::stringstream in(text);
    for (std::string part; std::getline(in, part, ':');) parts.push_back(part);
    if (parts.size() < 2 || parts.size() > 3) throw bad("a range has 2 or 3 parts");
    const int lo = parse_int(parts[0]), hi = parse_int(parts[1]);
    const int step = parts.size() == 3 ? parse_int(parts[2]) : 1;
    if (hi < lo) throw bad("the range is empty");
    for (int k = lo; k <= hi; k += step) ks.push_back(k);
  } else {
    std::stringstream in(text);
    for (std::string part; std::getline(in, part, ',');) ks.push_back(parse_int(part));
  }
  if (ks.empty()) throw bad("no k given");
  return ks;
}

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

nlohmann::json settings_json(const CheckOptions& o, std::uint64_t seed) {
  nlohmann::json ks = o.ks;
  return {{"seed", seed},
          {"ensemble",
           {{"kind", to_string(o.ensemble.kind)},
            {"scale", o.ensemble.scale},
            {"shift", o.ensemble.shift},
            {"wishart_dof", o.ensemble.wishart_dof},
            {"objective", o.ensemble.objective},
            {"point_scale", o.ensemble.point_scale}}},
          {"ks", ks},
          {"method", to_string(o.method)},
          {"min_hits", o.min_hits},
          {"monte_carlo",
           {{"samples", o.monte_carlo.samples},
            {"block_size", o.monte_carlo.block_size},
            {"sampler", to_string(o.monte_carlo.sampler)},
            {"confidence", o.monte_carlo.confidence}}},
          {"splitting",
           {{"population", o.splitting.population},
            {"level_probability", o.splitting.level_probability},
            {"moves", o.splitting.moves == SplittingMoves::kAuto ? "auto"
                      : o.splitting.moves == SplittingMoves::kMatrixPcn ? "pcn" : "eigenvalues"},
            {"moves_per_state", o.splitting.moves_per_state},
            {"repetitions", o.splitting.repetitions},
            {"initial_step", o.splitting.initial_step},
            {"max_levels", o.splitting.max_levels},
            {"confidence", o.splitting.confidence}}},
          {"integration",
           {{"nodes", o.integration.nodes},
            {"sweeps", o.integration.sweeps},
            {"burn_in", o.integration.burn_in},
            {"endpoint_samples", o.integration.endpoint_samples},
            {"upper_margin", o.integration.upper_margin},
            {"repetitions", o.integration.repetitions},
            {"confidence", o.integration.confidence}}}};
}

namespace {
// JSON has no inf or nan: those become null.
nlohmann::json finite_or_null(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(); }
}  // namespace

nlohmann::json to_json(const CheckResult& result, const CheckOptions& options, std::uint64_t seed) {
  nlohmann::json rows = nlohmann::json::array();
  for (const KResult& r : result.results) {
    nlohmann::json row = {{"k", r.k},
                          {"method", to_string(r.method_used)},
                          {"p", r.p},
                          {"ci_low", r.ci_low},
                          {"ci_high", r.ci_high},
                          {"log_p", r.log_p},
                          {"log_ci_low", finite_or_null(r.log_ci_low)},
                          {"log_ci_high", finite_or_null(r.log_ci_high)},
                          {"log10_p", r.log_p / std::log(10.0)},
                          {"relative_error", r.relative_error},
                          {"half_power", r.half_power},
                          {"ratio_to_half_power", std::exp(r.log_p - r.k * std::log(0.5))}};
    row["samples"] = r.has_monte_carlo ? r.monte_carlo.samples : 0;
    row["hits"] = r.has_monte_carlo ? r.monte_carlo.hits : 0;
    if (r.has_monte_carlo) {
      const MonteCarloResult& m = r.monte_carlo;
      row["monte_carlo"] = {{"samples", m.samples},
                            {"hits", m.hits},
                            {"p", m.p},
                            {"ci_low", m.ci_low},
                            {"ci_high", m.ci_high},
                            {"sampler", to_string(m.sampler_used)},
                            {"seconds", r.monte_carlo_seconds},
                            {"samples_per_second", static_cast<double>(m.samples) / std::max(r.monte_carlo_seconds, 1e-12)}};
      row["index"] = {{"histogram", m.index_histogram},
                      {"mean", m.index_mean},
                      {"variance", m.index_variance},
                      {"mean_theory", r.index_mean_theory},
                      {"variance_theory", r.index_variance_theory},
                      {"theory", r.index_theory}};
    }
    if (r.has_splitting) {
      const SplittingResult& s = r.splitting;
      row["splitting"] = {{"p", s.p},
                          {"log_p", s.log_p},
                          {"ci_low", s.ci_low},
                          {"ci_high", s.ci_high},
                          {"relative_error", s.relative_error},
                          {"status", s.status == SplittingStatus::kConverged ? "converged" : "max_levels"},
                          {"run_log_estimates", s.run_log_estimates},
                          {"run_levels", s.run_levels},
                          {"mean_acceptance", s.mean_acceptance},
                          {"moves", s.moves_used == SplittingMoves::kMatrixPcn ? "pcn" : "eigenvalues"},
                          {"matrix_evaluations", s.matrix_evaluations},
                          {"level_probabilities", s.run_level_probabilities},
                          {"level_acceptance", s.run_level_acceptance},
                          {"seconds", r.splitting_seconds}};
    }
    if (r.has_integration) {
      const IntegrationResult& g = r.integration;
      nlohmann::json nodes = nlohmann::json::array();
      for (const IntegrationNode& n : g.nodes)
        nodes.push_back({{"shift", n.shift},
                         {"weight", n.weight},
                         {"mean_trace", n.mean_trace},
                         {"trace_variance", n.trace_variance},
                         {"tau_int", n.tau_int},
                         {"tau_int_max", n.tau_int_max},
                         {"acceptance", {{"single", n.acceptance[0]}, {"translation", n.acceptance[1]}, {"dilation", n.acceptance[2]}}}});
      row["integration"] = {{"p", g.p},
                            {"log_p", g.log_p},
                            {"log_ci_low", g.log_ci_low},
                            {"log_ci_high", g.log_ci_high},
                            {"relative_error", g.relative_error},
                            {"predicted_standard_error", g.predicted_standard_error},
                            {"status", to_string(g.status)},
                            {"repetitions", g.repetitions},
                            {"t_quantile", g.t_quantile},
                            {"lower_shift", g.lower_shift},
                            {"upper_shift", g.upper_shift},
                            {"endpoint_log_p", g.endpoint_log_p},
                            {"run_log_estimates", g.run_log_estimates},
                            {"total_sweeps", g.total_sweeps},
                            {"nodes", nodes},
                            {"seconds", r.integration_seconds}};
    }
    if (r.exact.available) row["exact"] = {{"p", r.exact.p}, {"log_p", r.exact.log_p}};
    rows.push_back(row);
  }
  const Fit& f = result.fit;
  nlohmann::json fit = {{"available", f.available},
                        {"points", f.points},
                        {"theta", f.theta},
                        {"theta_se", f.theta_se},
                        {"theta_theory", f.theta_theory},
                        {"quadratic", {{"a", f.quadratic_a}, {"b", f.quadratic_b}, {"c", -f.theta}}},
                        {"linear", {{"a", f.linear_a}, {"slope", f.linear_slope}, {"slope_se", f.linear_slope_se},
                                    {"slope_half_power", std::log(0.5)}}}};
  if (f.has_theta_exact) fit["theta_exact_values"] = f.theta_exact;
  nlohmann::json out = {{"ensemble", result.ensemble_description},
                        {"results", rows},
                        {"theta", f.available ? nlohmann::json(f.theta) : nlohmann::json(nullptr)},
                        {"theta_se", f.available ? nlohmann::json(f.theta_se) : nlohmann::json(nullptr)},
                        {"theta_theory", std::isfinite(f.theta_theory) ? nlohmann::json(f.theta_theory) : nlohmann::json(nullptr)},
                        {"fit", fit},
                        {"seconds", result.seconds},
                        {"settings", settings_json(options, seed)}};
  return out;
}

namespace {
std::string g(double v, int digits = 4) {
  if (std::isnan(v)) return "—";
  char b[64];
  std::snprintf(b, sizeof b, "%.*g", digits, v);
  return b;
}
// p in scientific notation even where it underflows a double (from ln p).
std::string p_text(double p, double log_p) {
  if (p > 0 && std::isfinite(p)) return g(p);
  if (!std::isfinite(log_p)) return "0";
  const double l10 = log_p / std::log(10.0);
  const double e = std::floor(l10);
  char b[64];
  std::snprintf(b, sizeof b, "%.4ge%+d", std::pow(10.0, l10 - e), static_cast<int>(e));
  return b;
}
}  // namespace

std::string markdown_table(const CheckResult& result) {
  std::ostringstream t;
  t << "Ensemble: " << result.ensemble_description << "\n\n";
  t << "| k | method | P(all λ > 0) | 95% interval | rel. err | MC hits / samples | exact | 0.5^k | P / 0.5^k | mean index | var index |\n";
  t << "|---:|:---|---:|:---|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const KResult& r : result.results) {
    t << "| " << r.k << " | " << to_string(r.method_used) << " | " << p_text(r.p, r.log_p) << " | ["
      << p_text(r.ci_low, r.log_ci_low) << ", " << p_text(r.ci_high, r.log_ci_high) << "] | "
      << g(r.relative_error, 2) << " | ";
    if (r.has_monte_carlo)
      t << r.monte_carlo.hits << " / " << r.monte_carlo.samples;
    else
      t << "—";
    t << " | " << (r.exact.available ? p_text(r.exact.p, r.exact.log_p) : "—") << " | " << g(r.half_power) << " | "
      << p_text(std::exp(r.log_p - r.k * std::log(0.5)), r.log_p - r.k * std::log(0.5)) << " | ";
    if (r.has_monte_carlo)
      t << g(r.monte_carlo.index_mean) << " (" << g(r.index_mean_theory) << ") | " << g(r.monte_carlo.index_variance)
        << " (" << g(r.index_variance_theory) << ") |\n";
    else
      t << "— | — |\n";
  }
  const Fit& f = result.fit;
  t << "\n";
  if (f.available) {
    t << "Fit ln P_k = a + b k − θ k² over " << f.points << " values of k: θ = " << g(f.theta, 5) << " ± "
      << g(f.theta_se, 2);
    if (std::isfinite(f.theta_theory)) t << " (Dean–Majumdar ln 3/4 = " << g(f.theta_theory, 5) << ")";
    if (f.has_theta_exact) t << "; the same fit to the exact values: θ = " << g(f.theta_exact, 5);
    t << ".\nFit ln P_k = a + s k: s = " << g(f.linear_slope, 4) << " ± " << g(f.linear_slope_se, 2)
      << " (independent signs would give ln ½ = −0.6931).\n";
  } else {
    t << "No fit: fewer than 3 values of k with a finite estimate and an error bar.\n";
  }
  t << "Index theory in parentheses: GOE exact finite-k mean and variance from the Pfaffian generating function "
       "(k ≤ 100; beyond, the leading ln k/π²); diagonal binomial.\n";
  return t.str();
}

namespace {
Eigen::VectorXd as_eigen(const std::vector<double>& v) {
  return Eigen::Map<const Eigen::VectorXd>(v.data(), static_cast<Eigen::Index>(v.size()));
}
}  // namespace

void write_check(hid_t file, const CheckResult& result) {
  namespace h5 = io::h5;
  for (const KResult& r : result.results) {
    h5::Handle g = h5::create_group(file, "k_" + std::to_string(r.k));
    h5::write_attribute(g.get(), "k", static_cast<std::int64_t>(r.k));
    h5::write_attribute(g.get(), "method", to_string(r.method_used));
    h5::write_attribute(g.get(), "p", r.p);
    h5::write_attribute(g.get(), "log_p", r.log_p);
    h5::write_attribute(g.get(), "ci_low", r.ci_low);
    h5::write_attribute(g.get(), "ci_high", r.ci_high);
    h5::write_attribute(g.get(), "log_ci_low", r.log_ci_low);
    h5::write_attribute(g.get(), "log_ci_high", r.log_ci_high);
    h5::write_attribute(g.get(), "relative_error", r.relative_error);
    h5::write_attribute(g.get(), "index_mean_theory", r.index_mean_theory);
    h5::write_attribute(g.get(), "index_variance_theory", r.index_variance_theory);
    h5::write_attribute(g.get(), "index_theory", r.index_theory);
    h5::write_attribute(g.get(), "half_power", r.half_power);
    h5::write_attribute(g.get(), "samples", static_cast<std::int64_t>(r.has_monte_carlo ? r.monte_carlo.samples : 0));
    h5::write_attribute(g.get(), "hits", static_cast<std::int64_t>(r.has_monte_carlo ? r.monte_carlo.hits : 0));
    if (r.has_monte_carlo) {
      h5::write_attribute(g.get(), "mc_p", r.monte_carlo.p);
      h5::write_attribute(g.get(), "mc_ci_low", r.monte_carlo.ci_low);
      h5::write_attribute(g.get(), "mc_ci_high", r.monte_carlo.ci_high);
      h5::write_attribute(g.get(), "index_mean", r.monte_carlo.index_mean);
      h5::write_attribute(g.get(), "index_variance", r.monte_carlo.index_variance);
      h5::write_int_vector(g.get(), "index_histogram", r.monte_carlo.index_histogram);
    }
    if (r.has_splitting) {
      h5::write_attribute(g.get(), "splitting_p", r.splitting.p);
      h5::write_attribute(g.get(), "splitting_log_p", r.splitting.log_p);
      h5::write_attribute(g.get(), "splitting_relative_error", r.splitting.relative_error);
      h5::write_vector(g.get(), "splitting_run_log_estimates",
                       Eigen::Map<const Eigen::VectorXd>(r.splitting.run_log_estimates.data(),
                                                         static_cast<Eigen::Index>(r.splitting.run_log_estimates.size())));
      // Per repetition and level, flattened in repetition order; splitting_run_levels says where each run ends.
      std::vector<double> probabilities, acceptance;
      std::vector<std::int64_t> levels;
      for (std::size_t i = 0; i < r.splitting.run_level_probabilities.size(); ++i) {
        probabilities.insert(probabilities.end(), r.splitting.run_level_probabilities[i].begin(),
                             r.splitting.run_level_probabilities[i].end());
        acceptance.insert(acceptance.end(), r.splitting.run_level_acceptance[i].begin(), r.splitting.run_level_acceptance[i].end());
        levels.push_back(static_cast<std::int64_t>(r.splitting.run_level_probabilities[i].size()));
      }
      h5::write_attribute(g.get(), "splitting_mean_acceptance", r.splitting.mean_acceptance);
      h5::write_int_vector(g.get(), "splitting_run_level_counts", levels);
      h5::write_vector(g.get(), "splitting_level_probabilities", as_eigen(probabilities));
      h5::write_vector(g.get(), "splitting_level_acceptance", as_eigen(acceptance));
    }
    if (r.has_integration) {
      const IntegrationResult& in = r.integration;
      h5::write_attribute(g.get(), "integration_log_p", in.log_p);
      h5::write_attribute(g.get(), "integration_relative_error", in.relative_error);
      h5::write_attribute(g.get(), "integration_predicted_standard_error", in.predicted_standard_error);
      h5::write_attribute(g.get(), "integration_status", to_string(in.status));
      h5::write_attribute(g.get(), "integration_repetitions", static_cast<std::int64_t>(in.repetitions));
      h5::write_attribute(g.get(), "integration_lower_shift", in.lower_shift);
      h5::write_attribute(g.get(), "integration_upper_shift", in.upper_shift);
      h5::write_attribute(g.get(), "integration_endpoint_log_p", in.endpoint_log_p);
      h5::write_attribute(g.get(), "integration_total_sweeps", static_cast<std::int64_t>(in.total_sweeps));
      h5::write_vector(g.get(), "integration_run_log_estimates", as_eigen(in.run_log_estimates));
      std::vector<double> shift, weight, trace, variance, tau, tau_max, acc_single, acc_translation, acc_dilation;
      for (const IntegrationNode& n : in.nodes) {
        shift.push_back(n.shift);
        weight.push_back(n.weight);
        trace.push_back(n.mean_trace);
        variance.push_back(n.trace_variance);
        tau.push_back(n.tau_int);
        tau_max.push_back(n.tau_int_max);
        acc_single.push_back(n.acceptance[0]);
        acc_translation.push_back(n.acceptance[1]);
        acc_dilation.push_back(n.acceptance[2]);
      }
      h5::write_vector(g.get(), "integration_node_shift", as_eigen(shift));
      h5::write_vector(g.get(), "integration_node_weight", as_eigen(weight));
      h5::write_vector(g.get(), "integration_node_mean_trace", as_eigen(trace));
      h5::write_vector(g.get(), "integration_node_trace_variance", as_eigen(variance));
      h5::write_vector(g.get(), "integration_node_tau_int", as_eigen(tau));
      h5::write_vector(g.get(), "integration_node_tau_int_max", as_eigen(tau_max));
      h5::write_vector(g.get(), "integration_node_acceptance_single", as_eigen(acc_single));
      h5::write_vector(g.get(), "integration_node_acceptance_translation", as_eigen(acc_translation));
      h5::write_vector(g.get(), "integration_node_acceptance_dilation", as_eigen(acc_dilation));
    }
    if (r.exact.available) {
      h5::write_attribute(g.get(), "exact_p", r.exact.p);
      h5::write_attribute(g.get(), "exact_log_p", r.exact.log_p);
    }
  }
  h5::Handle fit = h5::create_group(file, "fit");
  const Fit& f = result.fit;
  h5::write_attribute(fit.get(), "available", static_cast<std::int64_t>(f.available));
  h5::write_attribute(fit.get(), "points", static_cast<std::int64_t>(f.points));
  h5::write_attribute(fit.get(), "theta", f.theta);
  h5::write_attribute(fit.get(), "theta_se", f.theta_se);
  h5::write_attribute(fit.get(), "theta_theory", f.theta_theory);
  h5::write_attribute(fit.get(), "linear_slope", f.linear_slope);
  h5::write_attribute(fit.get(), "linear_slope_se", f.linear_slope_se);
  if (f.has_theta_exact) h5::write_attribute(fit.get(), "theta_exact_values", f.theta_exact);
}

}  // namespace saddlescope::rmt
