#include "report/rmt_calibration.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "io/hdf5.h"
#include "report/common.h"

namespace saddlescope::report {

namespace {

std::string fixed(double v, int decimals) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", decimals, v);  // fixed decimals: text::format_number is %g-style
  return b;
}

}  // namespace

nlohmann::json calibration_json(const rmt::CalibrationResult& result) {
  nlohmann::json rows = nlohmann::json::array();
  for (const rmt::CalibrationRow& r : result.rows) {
    rows.push_back({{"k", r.k},
                    {"method", rmt::to_string(r.method_used)},
                    {"exact_log_p", r.exact_log_p},
                    {"runs", r.runs},
                    {"covered", r.covered},
                    {"confidence", r.confidence},
                    {"coverage", r.coverage},
                    {"mean_log_error", r.mean_log_error},
                    {"log_error_spread", r.log_error_spread},
                    {"mean_standard_error", r.mean_standard_error},
                    {"binomial_tail", r.binomial_tail},
                    {"degrees_of_freedom", r.degrees_of_freedom},
                    {"log_p", r.log_p},
                    {"center", r.center},
                    {"standard_error", r.standard_error},
                    {"seconds", r.seconds}});
  }
  const rmt::CalibrationPooled& p = result.pooled;
  const nlohmann::json pooled = {{"runs", p.runs},
                                 {"covered", p.covered},
                                 {"coverage_ci_low", p.coverage_ci_low},
                                 {"coverage_ci_high", p.coverage_ci_high},
                                 {"binomial_tail", p.binomial_tail},
                                 {"coverage", p.coverage},
                                 {"mean_squared_z", p.mean_squared_z},
                                 {"expected_squared_z", p.expected_squared_z}};  // NaN (d ≤ 2) becomes null
  return {{"ensemble", result.ensemble_description}, {"nominal", result.nominal}, {"rows", rows},
          {"pooled", pooled}, {"seconds", result.seconds}};
}

std::string calibration_table(const rmt::CalibrationResult& result) {
  std::ostringstream t;
  t << "Calibration: " << result.ensemble_description << "\n\n| k | method | exact ln P | covered / runs |";
  for (double q : result.nominal) t << " cov. " << fixed(100 * q, 0) << "% |";
  t << " mean ln(P̂/P) | spread | mean stated s.e. | P(≤ covered) | s |\n|---:|:---|---:|---:|";
  for (std::size_t i = 0; i < result.nominal.size(); ++i) t << "---:|";
  t << "---:|---:|---:|---:|---:|\n";
  for (const rmt::CalibrationRow& r : result.rows) {
    t << "| " << r.k << " | " << rmt::to_string(r.method_used) << " | " << fixed(r.exact_log_p, 3) << " | " << r.covered
      << " / " << r.runs << " |";
    for (double c : r.coverage) t << " " << fixed(c, 2) << " |";
    t << " " << fixed(r.mean_log_error, 4) << " | " << fixed(r.log_error_spread, 4) << " | " << fixed(r.mean_standard_error, 4)
      << " | " << fixed(r.binomial_tail, 3) << " | " << fixed(r.seconds, 1) << " |\n";
  }
  const rmt::CalibrationPooled& p = result.pooled;
  t << "\nPooled over " << p.runs << " runs: " << p.covered << " covered (" << fixed(100.0 * p.covered / std::max(p.runs, 1), 1)
    << "%, 95% interval " << fixed(100 * p.coverage_ci_low, 1) << "–" << fixed(100 * p.coverage_ci_high, 1)
    << "%; P(≤ covered) = " << fixed(p.binomial_tail, 3) << "); coverage at";
  for (std::size_t q = 0; q < result.nominal.size(); ++q)
    t << (q ? ", " : " ") << fixed(100 * result.nominal[q], 0) << "%: " << fixed(p.coverage[q], 3);
  t << "; mean z² = " << fixed(p.mean_squared_z, 3) << " (a correct interval: "
    << (std::isfinite(p.expected_squared_z) ? fixed(p.expected_squared_z, 3) : std::string("unbounded, d ≤ 2")) << ")\n";
  return t.str();
}

void write_calibration(hid_t file, const rmt::CalibrationResult& result) {
  namespace h5 = io::h5;
  h5::Handle group = h5::create_group(file, "calibration");
  h5::write_attribute(group.get(), "ensemble", result.ensemble_description);
  h5::write_attribute(group.get(), "nominal", result.nominal);
  const rmt::CalibrationPooled& p = result.pooled;
  h5::write_attribute(group.get(), "pooled_runs", static_cast<std::int64_t>(p.runs));
  h5::write_attribute(group.get(), "pooled_covered", static_cast<std::int64_t>(p.covered));
  h5::write_attribute(group.get(), "pooled_coverage_ci_low", p.coverage_ci_low);
  h5::write_attribute(group.get(), "pooled_coverage_ci_high", p.coverage_ci_high);
  h5::write_attribute(group.get(), "pooled_binomial_tail", p.binomial_tail);
  h5::write_attribute(group.get(), "pooled_coverage", p.coverage);
  h5::write_attribute(group.get(), "pooled_mean_squared_z", p.mean_squared_z);
  h5::write_attribute(group.get(), "pooled_expected_squared_z", p.expected_squared_z);
  for (const rmt::CalibrationRow& r : result.rows) {
    h5::Handle g = h5::create_group(group.get(), "k_" + std::to_string(r.k));
    h5::write_attribute(g.get(), "k", static_cast<std::int64_t>(r.k));
    h5::write_attribute(g.get(), "method", rmt::to_string(r.method_used));
    h5::write_attribute(g.get(), "exact_log_p", r.exact_log_p);
    h5::write_attribute(g.get(), "runs", static_cast<std::int64_t>(r.runs));
    h5::write_attribute(g.get(), "covered", static_cast<std::int64_t>(r.covered));
    h5::write_attribute(g.get(), "confidence", r.confidence);
    h5::write_attribute(g.get(), "degrees_of_freedom", static_cast<std::int64_t>(r.degrees_of_freedom));
    h5::write_attribute(g.get(), "mean_log_error", r.mean_log_error);
    h5::write_attribute(g.get(), "log_error_spread", r.log_error_spread);
    h5::write_attribute(g.get(), "mean_standard_error", r.mean_standard_error);
    h5::write_attribute(g.get(), "binomial_tail", r.binomial_tail);
    h5::write_attribute(g.get(), "seconds", r.seconds);
    h5::write_attribute(g.get(), "coverage", r.coverage);
    h5::write_vector(g.get(), "log_p", as_eigen(r.log_p));
    h5::write_vector(g.get(), "center", as_eigen(r.center));
    h5::write_vector(g.get(), "standard_error", as_eigen(r.standard_error));
  }
}

}  // namespace saddlescope::report
