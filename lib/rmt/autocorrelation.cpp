#include "rmt/autocorrelation.h"

#include <algorithm>
#include <cstddef>

namespace saddlescope::rmt {

Autocorrelation integrated_autocorrelation(const std::vector<double>& series, double window_factor) {
  Autocorrelation out;
  const std::size_t n = series.size();
  if (n < 2) return out;
  double mean = 0;
  for (double v : series) mean += v;
  mean /= static_cast<double>(n);
  double c0 = 0;
  for (double v : series) c0 += (v - mean) * (v - mean);
  c0 /= static_cast<double>(n);
  out.variance = c0;
  if (!(c0 > 0)) {
    out.reliable = true;
    return out;
  }
  double tau = 0.5;
  const std::size_t max_lag = n / 4;
  for (std::size_t t = 1; t <= max_lag; ++t) {
    double ct = 0;
    for (std::size_t i = 0; i + t < n; ++i) ct += (series[i] - mean) * (series[i + t] - mean);
    tau += ct / static_cast<double>(n) / c0;
    if (static_cast<double>(t) >= window_factor * tau) {
      out.window = static_cast<int>(t);
      out.reliable = true;
      break;
    }
  }
  if (!out.reliable) out.window = static_cast<int>(max_lag);
  out.tau_int = std::max(tau, 0.5);
  out.variance_of_mean = 2 * out.tau_int * c0 / static_cast<double>(n);
  return out;
}

}  // namespace saddlescope::rmt
