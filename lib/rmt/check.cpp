#include "rmt/check.h"

#include <Eigen/Dense>
#include <boost/math/distributions/normal.hpp>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "io/hdf5.h"

namespace saddlescope::rmt {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Stream families: part of every stream id, so MC and splitting never share a stream.
constexpr std::uint64_t kMonteCarloStreams = 1, kSplittingStreams = 2;
}  // namespace

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
  if (ks.empty()) return fail("'ks' must not be empty");
  for (int k : ks)
    if (k < 1) return fail("every k must be >= 1, got " + std::to_string(k));
  if (min_hits < 1) return fail("'min_hits' must be >= 1, got " + std::to_string(min_hits));
  return true;
}

namespace {

bool symmetric_at_zero(const EnsembleOptions& e) {
  return e.shift == 0.0 && (e.kind == EnsembleKind::kGoe || e.kind == EnsembleKind::kGoeShift ||
                            e.kind == EnsembleKind::kDiagonal);
}

ExactValue exact_value(const EnsembleOptions& e, int k) {
  ExactValue v;
  switch (e.kind) {
    case EnsembleKind::kGoe:
    case EnsembleKind::kGoeShift:
      if (e.shift == 0.0) v = goe_positive_probability_exact(k);
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

CheckResult run_check(const CheckOptions& options, std::uint64_t seed, const CheckProgress& progress) {
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
    const bool sym = symmetric_at_zero(options.ensemble);
    r.index_mean_theory = sym ? 0.5 * k : kNaN;
    r.index_variance_theory = !sym ? kNaN
                              : options.ensemble.kind == EnsembleKind::kDiagonal ? 0.25 * k
                                                                                 : std::log(static_cast<double>(k)) / (M_PI * M_PI);
    if (options.exact) r.exact = exact_value(options.ensemble, k);
    const std::string stage = "k=" + std::to_string(k);
    if (options.method != Method::kSplitting) {
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
      r.log_p = std::log(r.p);
      r.relative_error = r.monte_carlo.hits > 0 ? std::sqrt((1 - r.p) / (static_cast<double>(r.monte_carlo.samples) * r.p)) : kNaN;
    }
    const bool need_splitting =
        options.method == Method::kSplitting || (options.method == Method::kAuto && r.monte_carlo.hits < options.min_hits);
    if (need_splitting) {
      const auto t0 = Clock::now();
      Progress p;
      if (progress) p = [&](std::int64_t d, std::int64_t t) { progress(stage + " splitting", d, t); };
      r.splitting = subset_simulation(ensemble, options.splitting, seed, stream_id({kSplittingStreams, static_cast<std::uint64_t>(k)}), p);
      r.splitting_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      r.has_splitting = true;
      r.method_used = Method::kSplitting;
      r.p = r.splitting.p;
      r.ci_low = r.splitting.ci_low;
      r.ci_high = r.splitting.ci_high;
      r.log_p = r.splitting.log_p;
      r.relative_error = r.splitting.relative_error;
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
            {"moves", to_string(o.splitting.moves)},
            {"moves_per_state", o.splitting.moves_per_state},
            {"repetitions", o.splitting.repetitions},
            {"initial_step", o.splitting.initial_step},
            {"max_levels", o.splitting.max_levels},
            {"confidence", o.splitting.confidence}}}};
}

nlohmann::json to_json(const CheckResult& result, const CheckOptions& options, std::uint64_t seed) {
  nlohmann::json rows = nlohmann::json::array();
  for (const KResult& r : result.results) {
    nlohmann::json row = {{"k", r.k},
                          {"method", to_string(r.method_used)},
                          {"p", r.p},
                          {"ci_low", r.ci_low},
                          {"ci_high", r.ci_high},
                          {"log_p", r.log_p},
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
                      {"variance_theory", r.index_variance_theory}};
    }
    if (r.has_splitting) {
      const SplittingResult& s = r.splitting;
      row["splitting"] = {{"p", s.p},
                          {"log_p", s.log_p},
                          {"ci_low", s.ci_low},
                          {"ci_high", s.ci_high},
                          {"relative_error", s.relative_error},
                          {"status", to_string(s.status)},
                          {"run_log_estimates", s.run_log_estimates},
                          {"run_levels", s.run_levels},
                          {"mean_acceptance", s.mean_acceptance},
                          {"moves", to_string(s.moves_used)},
                          {"matrix_evaluations", s.matrix_evaluations},
                          {"seconds", r.splitting_seconds}};
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
      << p_text(r.ci_low, std::log(r.ci_low)) << ", " << p_text(r.ci_high, std::log(r.ci_high)) << "] | "
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
  t << "Index theory in parentheses: mean k/2 by symmetry; variance k/4 (diagonal) or the asymptotic ln k/π² (GOE).\n";
  return t.str();
}

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
    h5::write_attribute(g.get(), "relative_error", r.relative_error);
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
