#pragma once
// Rare-event estimate of P(λ_min(H) > 0) by subset simulation (Au & Beck, Prob. Eng. Mech. 16 (2001)
// 263), the fixed-effort form of multilevel splitting, on the score λ_min(H(z)) in the Gaussian
// coordinates z of rmt/ensemble.h.
//
// One run: draw `population` iid z; repeat — keep the top fraction p₀ by λ_min, put the threshold L
// halfway between the last kept and the first dropped score, multiply the estimate by p₀, and refill
// the population by Markov chains started from the kept states. Each chain move is a preconditioned
// Crank–Nicolson proposal z' = ρz + √(1−ρ²)ξ, ξ ~ N(0, I), which is reversible with respect to N(0, I)
// (so with respect to the ensemble's law), accepted iff λ_min(H(z')) > L: the chains leave the law
// conditioned on {λ_min > L} invariant. Stop when at least p₀·population states have λ_min > 0 and
// multiply by that fraction. The step size √(1−ρ²) is adapted between levels from the previous level's
// acceptance rate (a deterministic function of the run, so results do not depend on threads).
//
// Error: `repetitions` independent runs (own streams), combined in log space: the interval is
// m ± t·s/√R with m and s the mean and standard deviation of the runs' ln P̂ (t the Student quantile at
// `confidence` for R − 1 degrees of freedom; the spread of runs is measured, not assumed), the point
// estimate P̂ = exp(m − s²/(2R)). Why log space: with ideal chains each level's log-advance is an order
// statistic whose mean is ln(1/p₀) + O(1/N) (Rényi's representation), so a run's ln P̂ is unbiased to
// about 5e-4 per level at N = 1000 (a residual of order levels/N; Cérou et al., Stat. Comput. 22 (2012)
// 795), while P̂ itself is log-normal and its linear mean sits σ²/2 high, σ² ≈ levels·(1 − p₀)/(p₀N): the
// linear mean used before session 5 gave +0.20 ± 0.05 in ln P at ln P = −146 (91 levels), within 10% of
// that prediction (docs/rmt.md, "Calibration: objective Hessians").
//
// Chains of one level run in parallel (OpenMP); chain c of level ℓ in repetition r draws from
// Rng(seed, stream_id({stream_base, r, ℓ, c})), and reductions are in chain order: same bits for any
// number of threads.
#include <cstdint>
#include <string>
#include <vector>

#include "rmt/ensemble.h"
#include "rmt/montecarlo.h"
#include "text/names.h"

namespace saddlescope::rmt {

// The Markov moves — the move kernels of the one level loop (splitting.cpp). kMatrixPcn: pCN on the
// Gaussian coordinates z of H (any ensemble). kEigenvalueGas: sweeps of single-eigenvalue, translation
// and dilation moves on the GOE eigenvalues under their joint density (goe/goe-shift only;
// rmt/coulomb_gas.h). kEllipticalSlice: elliptical slice sampling (Murray, Adams & MacKay, AISTATS 2010,
// Fig. 2) on z restricted to the level — draw ν ~ N(0, I) and an angle θ ~ U(0, 2π), propose
// z cos θ + ν sin θ, and on a proposal outside the level shrink the angle bracket towards 0 (the current
// state) and draw again; the first proposal inside is the move. It leaves N(0, I) × 1{λ_min > L} invariant
// (the paper's Gaussian prior × likelihood with the likelihood an indicator), needs no step size, and
// always moves; its cost is the number of proposals per move (moves_per_state moves per recorded state).
// Any ensemble. kRows (hessian only): with A = O diag(d) Oᵀ the Hessian and Y = OᵀG the directions' Gaussian
// matrix in its eigenbasis, the level is Σ_i (d_i − τ) y_i y_iᵀ ≻ 0 (Sylvester); each move updates every row
// y_i by an elliptical slice step whose whole feasible set of angles is known in closed form (the matrix
// determinant lemma), so θ is drawn uniformly on it — exact, never rejected, O(k²) per row (splitting.cpp,
// RowSliceKernel). kAuto: the eigenvalue gas where it exists — the pCN chains in k(k+1)/2 dimensions stop
// mixing at deep levels (measured: estimates orders of magnitude low for k ≥ 17) —, for hessian rows
// when its Hessian is constant (calibrated far deeper than slice and pcn there, docs/rmt.md) and slice when
// it depends on the point (a row sweep would need an n×n eigendecomposition per move), pcn for diagonal
// and wishart.
enum class SplittingMoves { kAuto, kMatrixPcn, kEigenvalueGas, kEllipticalSlice, kRows };
inline constexpr auto kSplittingMovesNames = text::make_name_table<SplittingMoves>(
    "moves", {{SplittingMoves::kAuto, "auto"},
              {SplittingMoves::kMatrixPcn, "pcn"},
              {SplittingMoves::kEigenvalueGas, "eigenvalues"},
              {SplittingMoves::kEllipticalSlice, "slice"},
              {SplittingMoves::kRows, "rows"}});
inline std::string to_string(SplittingMoves moves) { return std::string(kSplittingMovesNames.name(moves)); }

struct SplittingOptions {
  SplittingMoves moves = SplittingMoves::kAuto;
  std::int64_t population = 1000;  // states per level; ≥ 10
  double level_probability = 0.2;  // p₀: 0.2 minimises variance × cost for ideal chains; in (0, 0.5]
  int moves_per_state = 3;         // moves (pCN proposals, slice moves, gas or row sweeps) between recorded states; ≥ 1
  int repetitions = 8;             // independent runs for the error bar; ≥ 2
  double initial_step = 0.5;       // √(1−ρ²) at the first level; in (0, 1]
  int max_levels = 5000;           // a run that needs more stops with status kMaxLevels
  double confidence = 0.95;        // of the interval; in (0, 1)
  // Mixing diagnostic: at every level, one extra chain of this many single moves (pCN proposals, slice
  // moves or gas sweeps) from a kept state picked at random, on its own stream; the integrated
  // autocorrelation time of its score series (rmt/autocorrelation.h, in moves) is recorded per level. It
  // does not enter the estimate, and its matrix evaluations are not counted. 0 = off; in [0, 10^6].
  int diagnostic_moves = 0;
  bool IsValid(std::string* why) const;
};

// kMaxLevels: some repetition used max_levels levels without reaching the event. kStalled: some
// repetition's level thresholds stopped rising (by less than 1e-12·(1 + |threshold|) for
// kStallLevels levels in a row) below 0 — the scores have converged to their supremum, so the event
// looks impossible (e.g. more directions k than positive Hessian eigenvalues) or lies beyond double
// precision. Either way the result is only an upper bound: P ≤ P(score > last threshold), whose
// estimate is log_p; the interval is then [0, its upper end] (ci_low = 0, log_ci_low = −∞).
enum class SplittingStatus { kConverged, kMaxLevels, kStalled };
inline constexpr auto kSplittingStatusNames = text::make_name_table<SplittingStatus>(
    "splitting status", {{SplittingStatus::kConverged, "converged"},
                         {SplittingStatus::kMaxLevels, "max_levels"},
                         {SplittingStatus::kStalled, "stalled"}});
inline constexpr int kStallLevels = 50;
inline std::string to_string(SplittingStatus status) { return std::string(kSplittingStatusNames.name(status)); }

struct SplittingResult {
  SplittingStatus status = SplittingStatus::kConverged;
  double p = 0;                       // exp(m − s²/(2R)), m and s the mean and sd of the runs' ln P̂
  double relative_error = 0;          // s/√R: the standard error of ln P̂
  double ci_low = 0, ci_high = 0;     // exp(m ∓ t·relative_error)
  double log_ci_low = 0, log_ci_high = 0;  // their logs (finite where they underflow)
  double log_p = 0;                   // ln p (finite even where p underflows to 0)
  std::vector<double> run_estimates;      // one per repetition (0 where it underflows)
  std::vector<double> run_log_estimates;  // ln of each run's estimate
  std::vector<int> run_levels;        // levels (thresholds) used by each run
  // Per run, per level: the conditional probability of the level given the one before (p₀ for every level
  // but the last, which is the final fraction above 0), and the acceptance rate of the moves that refilled
  // it (one entry fewer: the last level is not refilled). For slice moves, which always move, the
  // "acceptance" is moves per proposal: 1/(matrix evaluations per move).
  std::vector<std::vector<double>> run_level_probabilities, run_level_acceptance;
  // Per run, per refilled level: τ_int of the diagnostic chain's score, in moves (empty when
  // diagnostic_moves = 0). A recorded state is moves_per_state moves after the one before it.
  std::vector<std::vector<double>> run_level_tau_int;
  double mean_acceptance = 0;         // move acceptance over all runs and levels
  SplittingMoves moves_used = SplittingMoves::kMatrixPcn;
  // Honest labelling: the deepest ln P to which the calibration study found the intervals of these moves
  // calibrated (splitting_calibrated_to_log_p), and whether this estimate lies inside that range
  // (log_p ≥ calibrated_to_log_p). Outside it the interval is indicative only.
  double calibrated_to_log_p = 0;
  bool within_calibration = false;
  std::int64_t matrix_evaluations = 0;  // H(z) built, over all runs (the cost measure)
};

SplittingResult subset_simulation(const Ensemble& ensemble, const SplittingOptions& options, std::uint64_t seed,
                                  std::uint64_t stream_base, const Progress& progress = {});

// The same in three steps (work items under MPI, rmt/montecarlo.h): the items are the repetitions.
std::int64_t subset_simulation_items(const SplittingOptions& options);
void subset_simulation_compute_items(const Ensemble& ensemble, const SplittingOptions& options, std::uint64_t seed,
                                     std::uint64_t stream_base, std::int64_t first_item, ItemRecords records,
                                     const Progress& progress = {});
SplittingResult subset_simulation_from_items(const Ensemble& ensemble, const SplittingOptions& options,
                                             std::span<const std::vector<double>> records);

// The depth in ln P down to which the calibration study of docs/rmt.md ("Calibration: objective Hessians",
// 20 seeds per cell against the exact two-level-Hessian values of rmt/exact_jacobi.h) found the 95%
// intervals of these moves covering: pcn and slice as measured there; NaN for the eigenvalue gas (not
// studied on that footing: the GOE has exact values and its estimator is integration). kAuto throws.
double splitting_calibrated_to_log_p(SplittingMoves moves);

// Smallest eigenvalue of the symmetric H (Eigen's SelfAdjointEigenSolver, eigenvalues only).
double lambda_min(const Eigen::MatrixXd& H);

}  // namespace saddlescope::rmt
