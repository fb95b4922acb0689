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
// Error: `repetitions` independent runs (own streams); the estimate is their mean, its relative error
// the standard error of the mean over the estimate, and the interval p·exp(±t·rel) with t the Student
// quantile at `confidence` for repetitions − 1 degrees of freedom (log-normal approximation; the
// spread of runs is measured, not assumed). The fixed-p₀ estimator has a bias of order 1/population
// (Cérou et al., Stat. Comput. 22 (2012) 795), far below the reported errors at the defaults.
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
// rmt/coulomb_gas.h). kAuto: the eigenvalue gas where it exists — the pCN chains in k(k+1)/2 dimensions
// stop mixing at deep levels (measured: estimates orders of magnitude low for k ≥ 17).
enum class SplittingMoves { kAuto, kMatrixPcn, kEigenvalueGas };
inline constexpr auto kSplittingMovesNames = text::make_name_table<SplittingMoves>(
    "moves", {{SplittingMoves::kAuto, "auto"}, {SplittingMoves::kMatrixPcn, "pcn"}, {SplittingMoves::kEigenvalueGas, "eigenvalues"}});
inline std::string to_string(SplittingMoves moves) { return std::string(kSplittingMovesNames.name(moves)); }

struct SplittingOptions {
  SplittingMoves moves = SplittingMoves::kAuto;
  std::int64_t population = 1000;  // states per level; ≥ 10
  double level_probability = 0.2;  // p₀: 0.2 minimises variance × cost for ideal chains; in (0, 0.5]
  int moves_per_state = 3;         // pCN proposals (or eigenvalue sweeps) between recorded states; ≥ 1
  int repetitions = 8;             // independent runs for the error bar; ≥ 2
  double initial_step = 0.5;       // √(1−ρ²) at the first level; in (0, 1]
  int max_levels = 5000;           // a run that needs more stops with status kMaxLevels
  double confidence = 0.95;        // of the interval; in (0, 1)
  bool IsValid(std::string* why) const;
};

enum class SplittingStatus { kConverged, kMaxLevels };
inline constexpr auto kSplittingStatusNames = text::make_name_table<SplittingStatus>(
    "splitting status", {{SplittingStatus::kConverged, "converged"}, {SplittingStatus::kMaxLevels, "max_levels"}});
inline std::string to_string(SplittingStatus status) { return std::string(kSplittingStatusNames.name(status)); }

struct SplittingResult {
  SplittingStatus status = SplittingStatus::kConverged;
  double p = 0;                       // mean of the run estimates
  double relative_error = 0;          // standard error of the mean / p
  double ci_low = 0, ci_high = 0;     // p·exp(∓t·relative_error)
  double log_ci_low = 0, log_ci_high = 0;  // their logs (finite where they underflow)
  double log_p = 0;                   // ln p (finite even where p underflows to 0)
  std::vector<double> run_estimates;      // one per repetition (0 where it underflows)
  std::vector<double> run_log_estimates;  // ln of each run's estimate
  std::vector<int> run_levels;        // levels (thresholds) used by each run
  // Per run, per level: the conditional probability of the level given the one before (p₀ for every level
  // but the last, which is the final fraction above 0), and the acceptance rate of the moves that refilled
  // it (one entry fewer: the last level is not refilled).
  std::vector<std::vector<double>> run_level_probabilities, run_level_acceptance;
  double mean_acceptance = 0;         // move acceptance over all runs and levels
  SplittingMoves moves_used = SplittingMoves::kMatrixPcn;
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

// Smallest eigenvalue of the symmetric H (Eigen's SelfAdjointEigenSolver, eigenvalues only).
double lambda_min(const Eigen::MatrixXd& H);

}  // namespace saddlescope::rmt
