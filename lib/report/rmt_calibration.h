#pragma once
// The renderings of an rmt-check calibration (rmt/calibration.h): the --json summary, a Markdown table
// for people and docs/rmt.md, and the HDF5 body (group /calibration).
#include <hdf5.h>

#include <nlohmann/json.hpp>
#include <string>

#include "rmt/calibration.h"

namespace saddlescope::report {

// {"ensemble", "nominal": [...], "rows": [{k, method, exact_log_p, runs, covered, confidence, coverage[...],
// mean_log_error, log_error_spread, mean_standard_error, binomial_tail, degrees_of_freedom, log_p[...],
// center[...], standard_error[...], seconds}], "pooled": {runs, covered, coverage_ci_low, coverage_ci_high,
// binomial_tail, coverage[...], mean_squared_z, expected_squared_z}, "seconds"}.
nlohmann::json calibration_json(const rmt::CalibrationResult& result);
// | k | method | exact ln P | covered / runs | coverage at each nominal level | mean ln(P̂/P) | spread | mean stated s.e. |
// P(≤ covered) | s |, then one line with the pooled summary.
std::string calibration_table(const rmt::CalibrationResult& result);
// Group /calibration: attributes nominal [levels], ensemble, pooled_* (the pooled summary); per k a group /calibration/k_<k> with
// attributes k, method, exact_log_p, runs, covered, confidence, degrees_of_freedom, mean_log_error,
// log_error_spread, mean_standard_error, binomial_tail, seconds, coverage [levels]; datasets log_p, center,
// standard_error [runs]. Everything in log space: nothing underflows at any depth.
void write_calibration(hid_t file, const rmt::CalibrationResult& result);

}  // namespace saddlescope::report
