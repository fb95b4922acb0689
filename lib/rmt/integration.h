#pragma once
// Rare-event estimate of P(all eigenvalues of sH₀ + μI > 0) for the GOE by thermodynamic integration in
// the shift, with intervals from independent repetitions. Depth costs almost nothing: P₅₀ ≈ 2.4e-307
// and P₆₀ ≈ 3e-440 come out in log space to a few percent in minutes (docs/rmt.md).
//
// The identity. With λ the base GOE eigenvalues (rmt/coulomb_gas.h) and P(t) = P(λ_min > −t),
// substituting λ = x − t in P(t) = Z_R⁻¹ ∫_{λ > −t} Π|λ_i − λ_j| Π e^{−λ_i²/2} dλ moves t into the Gaussian
// factor only, so
//   d ln P(t)/dt = E_t[Σ_i λ_i],   E_t the gas conditioned on λ_min > −t,
// and with t₀ = μ/s the shift asked about and T ≥ t₀ a shift where the event is typical,
//   ln P(t₀) = ln P(T) − ∫_{t₀}^{T} E_t[tr H₀] dt.
// The integrand is a smooth, bounded observable (the trace), not an indicator, so its variance does not
// grow with the depth the way a splitting level's does: the error of ln P is Σ w_i² Var_t(tr)·2τ_i/n over
// the quadrature nodes, about k·(T − t₀)²·2τ/(n·nodes).
//
// The estimator (one repetition):
//  * ln P(T) by plain Monte Carlo (tridiagonal model, `endpoint_samples` draws, T = √(2k) + margin so
//    P(T) ≳ 0.8), with the first-order bias of the log of a binomial fraction removed:
//    ln p̂ + (1 − p̂)/(2n p̂);
//  * the integral by Gauss–Legendre with `nodes` nodes on [t₀, T]. The quadrature error is deterministic
//    and was measured against the exact shifted Pfaffian (rmt/exact.h): at k = 50, t₀ = 0, 24 nodes
//    leave 6e-8 in ln P (the finite-difference floor of the check), 16 nodes 5e-7, 12 nodes 5e-6, 8 nodes
//    1e-3 (tests/rmt/integration_test.cpp pins the default and 16 nodes at μ = −1);
//  * at node t_i, a chain of gas sweeps conditioned on λ_min > −t_i: `burn_in` sweeps (step sizes adapted
//    in batches of 50 during its first half, then frozen), then `sweeps` recorded values of tr H₀; the
//    node mean estimates E_{t_i}[tr H₀] and Sokal's τ_int (rmt/autocorrelation.h) its variance.
// Unbiasedness: the node means are unbiased once the chain is stationary (the burn-in is many τ_int;
// measured: τ_int ≈ 1–3 sweeps); the quadrature and endpoint corrections leave a bias far below the error.
//
// The interval: `repetitions` independent repetitions (own streams) give ln P̂_r; the estimate of ln P is
// their mean, its standard error s/√R from their measured spread, and the interval ln P̂ ± t_{R−1}·s/√R
// (Student; the ln P̂_r are sums of many node means, so close to normal — measured: 160 repetitions at
// each of six (k, μ) cells up to k = 50 pass Shapiro–Wilk, excess kurtosis within ±0.8, mean within 1.6
// standard errors of the exact ln P; docs/rmt.md "Calibration"). The error budget has no other term:
// the quadrature error of the rule is deterministic and measured on the exact integrand at ≤ 1e-6 in ln P
// (16 and 24 nodes, k ≤ 50, |μ| ≤ 1), five orders below the statistical error; the endpoint and the burn-in
// are per repetition, so their scatter is inside s. Default R = 16 (was 8) with half the recorded sweeps
// per repetition (the same work in the recorded part): the interval is exact for normal ln P̂_r either
// way, but at equal work t₁₅·E[s] is 8% narrower than t₇·E[s] and s itself steadier (relative spread
// 1/√(2(R−1)): 18% instead of 27%), so single intervals vary less in width. The point estimate of P is
// exp(ln P̂ − s²/(2R)): exp of an unbiased normal estimate of ln P overestimates P by e^{σ²/2}, which this
// removes to first order. `predicted_standard_error` (from the τ_int's of the chains) is reported beside
// the measured one as a check that the chains' error bars mean what they say.
//
// The Wishart ensemble (H = sXXᵀ/m + μI, m ≥ k, μ < 0): the event is λ_min(XXᵀ) > c₀ = −μm/s for the
// Laguerre gas (rmt/coulomb_gas.h, a = (m − k − 1)/2), and with P(c) = Z(c)/Z(0), substituting λ = x + c,
//   d ln P(c)/dc = E_c[Σ_i (a/λ_i − ½)],   ln P(c₀) = ∫_0^{c₀} E_c[Σ_i (a/λ_i − ½)] dc,
// with ln P(0) = 0 exactly (XXᵀ > 0 almost surely for m ≥ k): no endpoint Monte Carlo. At m = k (a = −½)
// the integrand diverges like c^{−1/2} at c → 0, so the rule is applied in u = √c (dc = 2u du), where
// the integrand 2u·E_{u²}[…] is bounded; the same substitution is used at every m (docs/rmt.md, "Wishart",
// has the measured quadrature error of both forms). A node's `shift` is then its threshold c_i, its
// `mean_trace`/`trace_variance` those of the observable Σ(a/λ_i − ½), `lower_shift` 0 and `upper_shift`
// c₀; `endpoint_log_p` is 0 and `endpoint_samples`/`upper_margin` are not used. At μ ≥ 0 the range is
// empty and the estimate is ln P = 0 exactly. At m = k + 1 (a = 0) the observable is the constant −k/2,
// so the estimate is exact (−kc₀/2) with zero spread; the interval's half-width has a floor of
// 1e-12·(1 + |ln P̂|), the rounding of the sums, so that it still contains the exact value.
//
// Work items: (repetition, node) chains and (repetition) endpoints, each with its own stream
// Rng(seed, stream_id({stream_base, repetition, item})), run in parallel (OpenMP threads, and dealt out
// over MPI ranks with parallel::owns_item) and reduced in order: the same bits for any number of threads
// and ranks.
#include <cstdint>
#include <string>
#include <vector>

#include "rmt/coulomb_gas.h"
#include "rmt/ensemble.h"
#include "rmt/montecarlo.h"
#include "text/names.h"

namespace saddlescope::rmt {

struct IntegrationOptions {
  int nodes = 24;                          // Gauss–Legendre nodes on [t₀, T]; in [2, 200]
  std::int64_t sweeps = 2000;              // recorded sweeps per node and repetition; ≥ 100
  std::int64_t burn_in = 1000;             // discarded sweeps before them; ≥ 100
  std::int64_t endpoint_samples = 20000;   // plain MC draws for ln P(T); ≥ 1000 (standard error ≈ 0.004 at P(T) = 0.8)
  double upper_margin = 0.5;               // T = √(2k) + margin (base units); > 0
  int repetitions = 16;                    // independent repetitions for the interval; ≥ 2 (why 16: below)
  double confidence = 0.95;                // of the interval; in (0, 1)
  bool IsValid(std::string* why) const;
};

// kEndpointEmpty: no plain draw at T was a hit (a continuity correction keeps ln P̂(T) finite);
// kUnreliableAutocorrelation: some chain's τ_int window did not close below n/4 (its error is a lower bound).
enum class IntegrationStatus { kConverged, kEndpointEmpty, kUnreliableAutocorrelation };
inline constexpr auto kIntegrationStatusNames = text::make_name_table<IntegrationStatus>(
    "integration status", {{IntegrationStatus::kConverged, "converged"},
                           {IntegrationStatus::kEndpointEmpty, "endpoint-empty"},
                           {IntegrationStatus::kUnreliableAutocorrelation, "unreliable-autocorrelation"}});
inline std::string to_string(IntegrationStatus status) { return std::string(kIntegrationStatusNames.name(status)); }

struct IntegrationNode {
  double shift = 0;          // t_i (base units); Wishart: the threshold c_i
  double weight = 0;         // Gauss–Legendre weight on [t₀, T] (Wishart: in c, including dc = 2u du)
  double mean_trace = 0;     // E_{t_i}[tr H₀], averaged over repetitions
  double trace_variance = 0; // Var_{t_i}(tr H₀), averaged over repetitions
  double tau_int = 0;        // integrated autocorrelation time (sweeps), averaged over repetitions
  double tau_int_max = 0;    // largest over repetitions
  std::array<double, 3> acceptance{};  // single, translation, dilation, over the recorded sweeps
};

struct IntegrationResult {
  IntegrationStatus status = IntegrationStatus::kConverged;
  double log_p = 0;                      // bias-corrected estimate of ln P (above)
  double p = 0;                          // exp(log_p); 0 where it underflows — use log_p
  double relative_error = 0;             // measured standard error of ln P̂ (= relative error of P)
  double predicted_standard_error = 0;   // from the chains' τ_int and the endpoint binomial, per estimate
  double log_ci_low = 0, log_ci_high = 0;  // ln of the interval ends
  double ci_low = 0, ci_high = 0;        // exp of those (0 where they underflow)
  int repetitions = 0;
  double t_quantile = 0;                 // Student t_{R−1} used for the interval
  double lower_shift = 0, upper_shift = 0;  // t₀ and T (base units)
  double endpoint_log_p = 0;             // mean over repetitions of the corrected ln P̂(T)
  std::vector<double> run_log_estimates; // ln P̂_r, one per repetition
  std::vector<IntegrationNode> nodes;
  std::int64_t total_sweeps = 0;
};

// True for goe/goe-shift and for wishart with m ≥ k (the ensembles whose event is a function of a known
// eigenvalue density, so the gas applies).
bool integration_supported(const Ensemble& ensemble);

// Throws std::invalid_argument for invalid options or an ensemble integration_supported refuses.
IntegrationResult thermodynamic_integration(const Ensemble& ensemble, const IntegrationOptions& options,
                                            std::uint64_t seed, std::uint64_t stream_base,
                                            const Progress& progress = {});

// The same in three steps (work items under MPI, rmt/montecarlo.h): the items are the R·nodes chains,
// item rep·nodes + node, then the R endpoint samples, item R·nodes + rep (the order of the streams above;
// Wishart: the chains only).
std::int64_t thermodynamic_integration_items(const Ensemble& ensemble, const IntegrationOptions& options);
void thermodynamic_integration_compute_items(const Ensemble& ensemble, const IntegrationOptions& options,
                                             std::uint64_t seed, std::uint64_t stream_base, std::int64_t first_item,
                                             ItemRecords records, const Progress& progress = {});
IntegrationResult thermodynamic_integration_from_items(const Ensemble& ensemble, const IntegrationOptions& options,
                                                       std::span<const std::vector<double>> records);

// Gauss–Legendre nodes and weights on [−1, 1] (Newton on the three-term recurrence; nodes ascending).
void gauss_legendre(int n, std::vector<double>& nodes, std::vector<double>& weights);

}  // namespace saddlescope::rmt
