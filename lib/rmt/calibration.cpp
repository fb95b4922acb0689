#include "rmt/calibration.h"

#include <boost/math/distributions/binomial.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <chrono>
#include <cmath>
#include <limits>
#include <tuple>
#include <stdexcept>

#include "rmt/montecarlo.h"

namespace saddlescope::rmt {

bool CalibrationOptions::IsValid(std::string* why) const {
  auto fail = [&](const std::string& m) {
    if (why) *why = m;
    return false;
  };
  if (!check.IsValid(why)) return false;
  if (check.method == Method::kMonteCarlo) return fail("'method' must be a rare-event method for calibration, got 'mc'");
  if (seeds < 2) return fail("'seeds' must be >= 2, got " + std::to_string(seeds));
  for (double q : nominal)
    if (!(q > 0 && q < 1)) return fail("every 'nominal' level must be in (0, 1), got " + std::to_string(q));
  return true;
}

namespace {

// P(X ≤ covered) for X ~ Binomial(runs, confidence).
double binomial_lower_tail(int covered, int runs, double confidence) {
  return boost::math::cdf(boost::math::binomial_distribution<double>(runs, confidence), covered);
}

// The pooled summary (calibration.h) from the rows' runs.
CalibrationPooled pool(const std::vector<CalibrationRow>& rows, const std::vector<double>& nominal) {
  CalibrationPooled p;
  p.coverage.assign(nominal.size(), 0.0);
  if (rows.empty()) return p;
  const int d = rows.front().degrees_of_freedom;
  double squared_z = 0;
  for (const CalibrationRow& r : rows) {
    p.runs += r.runs;
    p.covered += r.covered;
    for (std::size_t q = 0; q < nominal.size(); ++q) p.coverage[q] += r.coverage[q] * r.runs;
    for (std::size_t i = 0; i < r.center.size(); ++i) {
      const double z = (r.center[i] - r.exact_log_p) / r.standard_error[i];
      squared_z += z * z;
    }
  }
  for (double& c : p.coverage) c /= p.runs;
  p.mean_squared_z = squared_z / p.runs;
  p.expected_squared_z = d > 2 ? static_cast<double>(d) / (d - 2) : std::numeric_limits<double>::quiet_NaN();
  std::tie(p.coverage_ci_low, p.coverage_ci_high) = clopper_pearson(p.covered, p.runs, 0.95);
  p.binomial_tail = binomial_lower_tail(p.covered, p.runs, rows.front().confidence);
  return p;
}

}  // namespace

CalibrationResult calibrate(const CalibrationOptions& options, const CheckProgress& progress) {
  std::string why;
  if (!options.IsValid(&why)) throw std::invalid_argument(why);
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  CalibrationResult out;
  out.nominal = options.nominal;
  for (int k : options.check.ks) {
    const ExactValue exact = exact_value(options.check.ensemble, k);
    if (!exact.available || !std::isfinite(exact.log_p))
      throw std::invalid_argument("calibration needs an exact value: none known for " +
                                  Ensemble(options.check.ensemble, k).description() + " at k = " + std::to_string(k));
  }
  // Each run is run_check on one k with the rare-event method forced, exact values and index theory off.
  CheckOptions one = options.check;
  one.exact = false;
  if (one.method == Method::kAuto)
    one.method = integration_supported(Ensemble(one.ensemble, options.check.ks.front())) ? Method::kIntegration
                                                                                           : Method::kSplitting;
  for (int k : options.check.ks) {
    const auto t0 = Clock::now();
    CalibrationRow row;
    row.k = k;
    row.exact_log_p = exact_value(options.check.ensemble, k).log_p;
    row.method_used = one.method;
    row.confidence = one.method == Method::kIntegration ? one.integration.confidence : one.splitting.confidence;
    row.degrees_of_freedom =
        (one.method == Method::kIntegration ? one.integration.repetitions : one.splitting.repetitions) - 1;
    const double t_own = boost::math::quantile(boost::math::students_t_distribution<double>(row.degrees_of_freedom),
                                               0.5 + row.confidence / 2);
    one.ks = {k};
    for (int s = 0; s < options.seeds; ++s) {
      const CheckResult r = run_check(one, options.first_seed + static_cast<std::uint64_t>(s), {}, false);
      if (out.ensemble_description.empty()) out.ensemble_description = r.ensemble_description;
      const KResult& kr = r.results.front();
      const double center = 0.5 * (kr.log_ci_low + kr.log_ci_high);
      const double se = (kr.log_ci_high - kr.log_ci_low) / (2 * t_own);
      row.log_p.push_back(kr.log_p);
      row.center.push_back(center);
      row.standard_error.push_back(se);
      if (kr.log_ci_low <= row.exact_log_p && row.exact_log_p <= kr.log_ci_high) ++row.covered;
      if (progress) progress("k=" + std::to_string(k) + " calibration", s + 1, options.seeds);
    }
    row.runs = options.seeds;
    for (double q : options.nominal) {
      const double t = boost::math::quantile(boost::math::students_t_distribution<double>(row.degrees_of_freedom), 0.5 + q / 2);
      int covered = 0;
      for (std::size_t i = 0; i < row.center.size(); ++i)
        if (std::abs(row.center[i] - row.exact_log_p) <= t * row.standard_error[i]) ++covered;
      row.coverage.push_back(static_cast<double>(covered) / row.runs);
    }
    double mean = 0, se_mean = 0;
    for (std::size_t i = 0; i < row.log_p.size(); ++i) {
      mean += (row.log_p[i] - row.exact_log_p) / row.runs;
      se_mean += row.standard_error[i] / row.runs;
    }
    double spread = 0;
    for (double l : row.log_p) spread += (l - row.exact_log_p - mean) * (l - row.exact_log_p - mean) / (row.runs - 1);
    row.mean_log_error = mean;
    row.log_error_spread = std::sqrt(spread);
    row.mean_standard_error = se_mean;
    row.binomial_tail = binomial_lower_tail(row.covered, row.runs, row.confidence);
    row.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    out.rows.push_back(std::move(row));
  }
  out.pooled = pool(out.rows, out.nominal);
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return out;
}

}  // namespace saddlescope::rmt
