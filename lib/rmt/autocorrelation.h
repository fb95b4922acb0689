#pragma once
// Integrated autocorrelation time of a stationary series, by Sokal's automatic windowing (A. D. Sokal,
// "Monte Carlo methods in statistical mechanics: foundations and new algorithms", Cargèse lectures 1996,
// §3): τ_int(M) = ½ + Σ_{t=1}^{M} ρ̂(t), with the window M the smallest lag such that M ≥ c·τ_int(M)
// (c = 5 by default: the bias from the truncated tail is ~e^{−c}, the variance ~(2M + 1)/n).
// With this convention the variance of the series mean is 2τ_int·σ²/n (τ_int = ½ for independent draws).
#include <vector>

namespace saddlescope::rmt {

struct Autocorrelation {
  double variance = 0;       // sample variance σ̂² of the series (divisor n)
  double tau_int = 0.5;      // integrated autocorrelation time, in steps of the series
  int window = 0;            // M
  bool reliable = false;     // a window was found below n/4 (otherwise τ is a lower bound)
  // 2τ_int σ̂²/n: the variance of the mean.
  double variance_of_mean = 0;
};

Autocorrelation integrated_autocorrelation(const std::vector<double>& series, double window_factor = 5.0);

}  // namespace saddlescope::rmt
