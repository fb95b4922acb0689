#pragma once
// Calibration of rmt-check's rare-event intervals: R independent estimates per k (seeds first_seed,
// first_seed + 1, …), each with its own interval, against the exact value (rmt/exact.h: the GOE at any
// shift; the diagonal ensemble; the Wishart at any shift, rmt/exact_wishart.h). The empirical coverage — the fraction of intervals
// that contain the exact value — is what an interval's nominal level promises; it is reported at the
// estimator's own level and, from the same runs, at the levels in `nominal` (the interval of a run with
// centre c, standard error e and d degrees of freedom at level q is c ± t_d((1+q)/2)·e), which draws the
// coverage-against-nominal curve. With R runs the coverage of a correct 95% interval is Binomial(R, 0.95)/R:
// at R = 20, 18 or more covered has probability 0.92 — so over 15 cells a correct interval leaves at least
// one cell at ≤ 17/20 with probability 0.69. Each row therefore carries that binomial tail probability,
// and the result a pooled summary over all rows: the pooled coverage with its Clopper–Pearson interval
// (the sharp test of the nominal level) and the mean squared standardised error z = (centre − exact)/s.e.,
// which for a correct Student interval with d degrees of freedom has expectation d/(d − 2) (stated errors
// too small on average show up as a ratio above 1).
#include <cstdint>
#include <string>
#include <vector>

#include "rmt/check.h"

namespace saddlescope::rmt {

struct CalibrationOptions {
  CheckOptions check;          // ensemble, ks, and the method: integration or splitting (auto picks as run_check)
  int seeds = 20;              // independent estimates per k; ≥ 2
  std::uint64_t first_seed = 1;
  std::vector<double> nominal = {0.5, 0.68, 0.8, 0.9, 0.95, 0.99};  // each in (0, 1)
  bool IsValid(std::string* why) const;
};

struct CalibrationRow {
  int k = 0;
  double exact_log_p = 0;
  Method method_used = Method::kIntegration;
  double confidence = 0.95;                // the estimator's own level
  int covered = 0;                         // runs whose interval at `confidence` contains the exact value
  int runs = 0;
  std::vector<double> log_p;               // per run: the point estimate of ln P
  std::vector<double> center, standard_error;  // per run: interval centre and standard error of ln P̂
  int degrees_of_freedom = 0;              // of each run's Student interval (repetitions − 1)
  std::vector<double> coverage;            // per nominal level
  double mean_log_error = 0;               // mean over runs of ln P̂ − ln P (bias, in log units)
  double log_error_spread = 0;             // their standard deviation
  double mean_standard_error = 0;          // mean stated standard error (compare with the spread)
  double binomial_tail = 1;                // P(Binomial(runs, confidence) ≤ covered): chance of this few or fewer
  double seconds = 0;                      // wall time for the R runs
};

// Over all rows' runs (the same method and level in every row).
struct CalibrationPooled {
  int runs = 0, covered = 0;               // at the estimator's own level
  double coverage_ci_low = 0, coverage_ci_high = 1;  // Clopper–Pearson 95% interval of covered/runs
  double binomial_tail = 1;                // P(Binomial(runs, confidence) ≤ covered)
  std::vector<double> coverage;            // per nominal level
  double mean_squared_z = 0;               // mean of ((centre − exact)/s.e.)²
  double expected_squared_z = 0;           // d/(d − 2) for d > 2 degrees of freedom; NaN otherwise
};

struct CalibrationResult {
  std::string ensemble_description;
  std::vector<double> nominal;
  std::vector<CalibrationRow> rows;
  CalibrationPooled pooled;
  double seconds = 0;
};

// Throws std::invalid_argument for invalid options, method mc, or a k without an exact value.
CalibrationResult calibrate(const CalibrationOptions& options, const CheckProgress& progress = {});

}  // namespace saddlescope::rmt
