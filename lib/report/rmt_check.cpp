#include "report/rmt_check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>

#include "io/hdf5.h"
#include "report/common.h"
#include "text/format.h"

namespace saddlescope::report {

nlohmann::json settings_json(const rmt::CheckOptions& o, std::uint64_t seed) {
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
            {"confidence", o.splitting.confidence},
            {"diagnostic_moves", o.splitting.diagnostic_moves}}},
          {"integration",
           {{"nodes", o.integration.nodes},
            {"sweeps", o.integration.sweeps},
            {"burn_in", o.integration.burn_in},
            {"endpoint_samples", o.integration.endpoint_samples},
            {"upper_margin", o.integration.upper_margin},
            {"repetitions", o.integration.repetitions},
            {"confidence", o.integration.confidence}}}};
}

nlohmann::json to_json(const rmt::CheckResult& result, const rmt::CheckOptions& options, std::uint64_t seed) {
  nlohmann::json rows = nlohmann::json::array();
  for (const rmt::KResult& r : result.results) {
    nlohmann::json row = {{"k", r.k},
                          {"method", to_string(r.method_used)},
                          {"p", r.p},
                          {"ci_low", r.ci_low},
                          {"ci_high", r.ci_high},
                          {"log_p", r.log_p},
                          {"log_ci_low", number_or_null(r.log_ci_low)},
                          {"log_ci_high", number_or_null(r.log_ci_high)},
                          {"log10_p", r.log_p / std::log(10.0)},
                          {"relative_error", r.relative_error},
                          {"half_power", r.half_power},
                          {"ratio_to_half_power", std::exp(r.log_p - r.k * std::log(0.5))}};
    row["samples"] = r.has_monte_carlo ? r.monte_carlo.samples : 0;
    row["hits"] = r.has_monte_carlo ? r.monte_carlo.hits : 0;
    if (r.has_monte_carlo) {
      const rmt::MonteCarloResult& m = r.monte_carlo;
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
      const rmt::SplittingResult& s = r.splitting;
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
                          {"level_probabilities", s.run_level_probabilities},
                          {"level_acceptance", s.run_level_acceptance},
                          {"level_tau_int", s.run_level_tau_int},
                          {"calibrated_to_log_p", number_or_null(s.calibrated_to_log_p)},
                          {"within_calibration", s.within_calibration},
                          {"seconds", r.splitting_seconds}};
    }
    if (r.has_integration) {
      const rmt::IntegrationResult& g = r.integration;
      nlohmann::json nodes = nlohmann::json::array();
      for (const rmt::IntegrationNode& n : g.nodes)
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
  const rmt::Fit& f = result.fit;
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
// A table cell: `digits` significant digits, "—" where the value is undefined (NaN).
std::string g(double v, int digits = 4) { return std::isnan(v) ? "—" : text::format_number(v, digits); }
// p in scientific notation even where it underflows a double (from ln p).
std::string p_text(double p, double log_p) {
  if (p > 0 && std::isfinite(p)) return g(p);
  if (!std::isfinite(log_p)) return "0";
  const double l10 = log_p / std::log(10.0);
  const double e = std::floor(l10);
  const std::string exponent = (e < 0 ? "-" : "+") + std::to_string(static_cast<long>(std::fabs(e)));
  return text::format_number(std::pow(10.0, l10 - e), 4) + "e" + exponent;
}
}  // namespace

namespace {
// One line per reported splitting estimate without an exact value whose depth is beyond the calibrated
// range of its moves (rmt/splitting.h, splitting_calibrated_to_log_p).
// First, one line per splitting estimate that did not reach the event (an upper bound only).
std::string estimate_warnings(const rmt::CheckResult& result) {
  std::string out;
  for (const rmt::KResult& r : result.results)
    if (r.method_used == rmt::Method::kSplitting && r.splitting.status != rmt::SplittingStatus::kConverged)
      out += "k = " + std::to_string(r.k) + ": splitting " + rmt::to_string(r.splitting.status) +
             " before reaching the event (" +
             (r.splitting.status == rmt::SplittingStatus::kStalled
                  ? std::string("the level thresholds stopped rising below 0: the event looks impossible")
                  : std::string("max_levels used up")) +
             "): P <= " + g(r.log_ci_high, 4) + " in ln, and may be 0; not an estimate.\n";
  for (const rmt::KResult& r : result.results) {
    if (r.method_used != rmt::Method::kSplitting || r.exact.available || r.splitting.within_calibration) continue;
    if (r.splitting.status != rmt::SplittingStatus::kConverged) continue;  // said above
    const double limit = r.splitting.calibrated_to_log_p;
    out += "k = " + std::to_string(r.k) + ": ln P = " + g(r.log_p, 4) + " from " + rmt::to_string(r.splitting.moves_used) +
           " splitting is " +
           (std::isnan(limit) ? std::string("outside any calibration study")
                              : "deeper than its calibrated range (ln P >= " + g(limit, 3) + ")") +
           ": the interval is indicative only (docs/rmt.md, Calibration).\n";
  }
  return out;
}
}  // namespace

std::string markdown_table(const rmt::CheckResult& result) {
  std::ostringstream t;
  t << "Ensemble: " << result.ensemble_description << "\n\n";
  t << "| k | method | P(all λ > 0) | 95% interval | rel. err | MC hits / samples | exact | 0.5^k | P / 0.5^k | mean index | var index |\n";
  t << "|---:|:---|---:|:---|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const rmt::KResult& r : result.results) {
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
  const rmt::Fit& f = result.fit;
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
  t << estimate_warnings(result);
  return t.str();
}

std::string summary_text(const rmt::CheckResult& result, const rmt::CheckOptions& options, std::uint64_t seed) {
  std::string out = "rmt-check: " + result.ensemble_description + ", method " + rmt::to_string(options.method) +
                    ", seed " + std::to_string(seed) + "\n";
  char line[512];
  std::snprintf(line, sizeof line, "%4s  %-11s  %-12s  %-27s  %-9s  %-12s  %-10s\n", "k", "method", "P(all>0)",
                "95% interval", "rel.err", "exact", "0.5^k");
  out += line;
  for (const auto& r : result.results) {
    // p_text: probabilities below the smallest double still print, from their logs.
    std::snprintf(line, sizeof line, "%4d  %-11s  %-12s  [%-11s, %-11s]  %-9.2g  %-12s  %-10.4g\n", r.k,
                  rmt::to_string(r.method_used).c_str(), p_text(r.p, r.log_p).c_str(), p_text(r.ci_low, r.log_ci_low).c_str(),
                  p_text(r.ci_high, r.log_ci_high).c_str(), r.relative_error,
                  r.exact.available ? p_text(r.exact.p, r.exact.log_p).c_str() : "—", r.half_power);
    out += line;
  }
  if (result.fit.available) {
    std::snprintf(line, sizeof line, "theta = %.5f +- %.2g (ln 3/4 = %.5f); slope of ln P vs k = %.4f (ln 1/2 = -0.6931)\n",
                  result.fit.theta, result.fit.theta_se, std::log(3.0) / 4, result.fit.linear_slope);
    out += line;
  }
  out += estimate_warnings(result);
  std::snprintf(line, sizeof line, "time %.2f s\n", result.seconds);
  return out + line;
}

namespace {

// The integration_* attributes and datasets of a /k_<k> group (one dataset per node quantity).
void write_integration(hid_t group, const rmt::IntegrationResult& in) {
  namespace h5 = io::h5;
  h5::write_attribute(group, "integration_log_p", in.log_p);
  h5::write_attribute(group, "integration_relative_error", in.relative_error);
  h5::write_attribute(group, "integration_predicted_standard_error", in.predicted_standard_error);
  h5::write_attribute(group, "integration_status", to_string(in.status));
  h5::write_attribute(group, "integration_repetitions", static_cast<std::int64_t>(in.repetitions));
  h5::write_attribute(group, "integration_lower_shift", in.lower_shift);
  h5::write_attribute(group, "integration_upper_shift", in.upper_shift);
  h5::write_attribute(group, "integration_endpoint_log_p", in.endpoint_log_p);
  h5::write_attribute(group, "integration_total_sweeps", static_cast<std::int64_t>(in.total_sweeps));
  h5::write_vector(group, "integration_run_log_estimates", as_eigen(in.run_log_estimates));
  auto column = [&](const char* name, auto field) {
    std::vector<double> v;
    for (const rmt::IntegrationNode& n : in.nodes) v.push_back(field(n));
    h5::write_vector(group, std::string("integration_node_") + name, as_eigen(v));
  };
  column("shift", [](const rmt::IntegrationNode& n) { return n.shift; });
  column("weight", [](const rmt::IntegrationNode& n) { return n.weight; });
  column("mean_trace", [](const rmt::IntegrationNode& n) { return n.mean_trace; });
  column("trace_variance", [](const rmt::IntegrationNode& n) { return n.trace_variance; });
  column("tau_int", [](const rmt::IntegrationNode& n) { return n.tau_int; });
  column("tau_int_max", [](const rmt::IntegrationNode& n) { return n.tau_int_max; });
  column("acceptance_single", [](const rmt::IntegrationNode& n) { return n.acceptance[0]; });
  column("acceptance_translation", [](const rmt::IntegrationNode& n) { return n.acceptance[1]; });
  column("acceptance_dilation", [](const rmt::IntegrationNode& n) { return n.acceptance[2]; });
}

}  // namespace

void write_check(hid_t file, const rmt::CheckResult& result) {
  namespace h5 = io::h5;
  for (const rmt::KResult& r : result.results) {
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
      h5::write_vector(g.get(), "splitting_run_log_estimates", as_eigen(r.splitting.run_log_estimates));
      // Per repetition and level, flattened in repetition order; splitting_run_level_counts says where each run ends.
      std::vector<double> probabilities, acceptance, tau_int;
      std::vector<std::int64_t> levels;
      for (const std::vector<double>& run_tau : r.splitting.run_level_tau_int)
        tau_int.insert(tau_int.end(), run_tau.begin(), run_tau.end());
      for (std::size_t i = 0; i < r.splitting.run_level_probabilities.size(); ++i) {
        probabilities.insert(probabilities.end(), r.splitting.run_level_probabilities[i].begin(),
                             r.splitting.run_level_probabilities[i].end());
        acceptance.insert(acceptance.end(), r.splitting.run_level_acceptance[i].begin(), r.splitting.run_level_acceptance[i].end());
        levels.push_back(static_cast<std::int64_t>(r.splitting.run_level_probabilities[i].size()));
      }
      h5::write_attribute(g.get(), "splitting_mean_acceptance", r.splitting.mean_acceptance);
      h5::write_attribute(g.get(), "splitting_moves", to_string(r.splitting.moves_used));
      h5::write_attribute(g.get(), "splitting_calibrated_to_log_p", r.splitting.calibrated_to_log_p);
      h5::write_attribute(g.get(), "splitting_within_calibration", static_cast<std::int64_t>(r.splitting.within_calibration));
      h5::write_int_vector(g.get(), "splitting_run_level_counts", levels);
      h5::write_vector(g.get(), "splitting_level_probabilities", as_eigen(probabilities));
      h5::write_vector(g.get(), "splitting_level_acceptance", as_eigen(acceptance));
      // Only with the mixing diagnostic on (one entry per refilled level, like the acceptance).
      if (!tau_int.empty()) h5::write_vector(g.get(), "splitting_level_tau_int", as_eigen(tau_int));
    }
    if (r.has_integration) write_integration(g.get(), r.integration);
    if (r.exact.available) {
      h5::write_attribute(g.get(), "exact_p", r.exact.p);
      h5::write_attribute(g.get(), "exact_log_p", r.exact.log_p);
    }
  }
  h5::Handle fit = h5::create_group(file, "fit");
  const rmt::Fit& f = result.fit;
  h5::write_attribute(fit.get(), "available", static_cast<std::int64_t>(f.available));
  h5::write_attribute(fit.get(), "points", static_cast<std::int64_t>(f.points));
  h5::write_attribute(fit.get(), "theta", f.theta);
  h5::write_attribute(fit.get(), "theta_se", f.theta_se);
  h5::write_attribute(fit.get(), "theta_theory", f.theta_theory);
  h5::write_attribute(fit.get(), "linear_slope", f.linear_slope);
  h5::write_attribute(fit.get(), "linear_slope_se", f.linear_slope_se);
  if (f.has_theta_exact) h5::write_attribute(fit.get(), "theta_exact_values", f.theta_exact);
}

}  // namespace saddlescope::report
