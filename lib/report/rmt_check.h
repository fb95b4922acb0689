#pragma once
// The renderings of an rmt-check result (rmt/check.h): the --json summary, the settings recorded in
// the result file, a Markdown table for people, and the HDF5 result body.
#include <hdf5.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "rmt/check.h"

namespace saddlescope::report {

// The --json summary: {"ensemble", "results": [{k, samples, hits, p, ci_low, ci_high, method, half_power,
// ratio_to_half_power, log_p, relative_error, monte_carlo{…}, splitting{…}, exact{…}, index{…}}], "theta",
// "fit"{…}, "settings"{…}}.
nlohmann::json to_json(const rmt::CheckResult& result, const rmt::CheckOptions& options, std::uint64_t seed);
// Settings for provenance (ensemble, method, sample budgets, splitting parameters).
nlohmann::json settings_json(const rmt::CheckOptions& options, std::uint64_t seed);
// The default human summary: a header line, one aligned row per k (k, method, P, interval, relative
// error, exact value, 0.5^k), the fit, the time.
std::string summary_text(const rmt::CheckResult& result, const rmt::CheckOptions& options, std::uint64_t seed);
// A Markdown table, one row per k, then the fit (--table).
std::string markdown_table(const rmt::CheckResult& result);
// Groups /k_<k> (attributes k, samples, hits, p, ci_low, ci_high, method, half_power, log_p, exact_p,
// exact_log_p; datasets index_histogram, splitting_run_estimates) and /fit (attributes).
void write_check(hid_t file, const rmt::CheckResult& result);

}  // namespace saddlescope::report
