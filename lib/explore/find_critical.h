#pragma once
// Critical points of every index from many starts.
//
// Solver: Levenberg–Marquardt on φ(x) = ½‖∇f(x)‖², i.e. Gauss–Newton on the residual r = ∇f with the
// Jacobian ∇²f = H, damped by μ (Moré 1978: LM is a trust-region method whose radius is set implicitly by
// μ). With the eigen-decomposition H = QΛQᵀ the step is
//     p = −(H² + μI)⁻¹ H g = −Q diag(λ_i / (λ_i² + μ)) Qᵀ g,
// which is Newton's step −H⁻¹g on ∇f = 0 as μ → 0 and a short gradient step on φ when μ is large.
// Why this rather than descent on f: Newton's step on ∇f = 0 is attracted by every nondegenerate critical
// point whatever its index (its fixed-point iteration converges quadratically near all of them), and the
// damping makes the merit function φ decrease monotonically, so it cannot run off to infinity from a
// saddle's neighbourhood as an undamped Newton iteration does where H is near singular. This is the
// method Dauphin et al. (NeurIPS 2014, "Identifying and attacking the saddle point problem", Sec. 6)
// used to locate the critical points of their index-versus-error plot. μ is adapted from the ratio ρ
// of the actual to the predicted decrease of φ (Nielsen 1999: μ ← μ·max(⅓, 1 − (2ρ−1)³) on success,
// μ ← μ·ν, ν ← 2ν on failure).
// A start can stall where φ has a positive local minimum (∇f ≠ 0 but H g = 0); that start is reported
// as `stalled`, never as a critical point.
//
// Each start's point comes from random::Rng(seed, kStartStream + start), so the outcome of start s is the
// same for any number of threads; duplicates are merged in start order, so the list of points is too.
#include <Eigen/Core>
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "critical/classify.h"
#include "objective/objective.h"
#include "text/names.h"

namespace saddlescope::explore {

// Builds a fresh instance of the objective; called once per worker thread (objectives keep workspaces
// and are not shared between threads).
using ObjectiveFactory = std::function<std::unique_ptr<objective::Objective>()>;

enum class StartStatus { converged, stalled, max_iterations, diverged };
inline constexpr auto kStartStatusNames = text::make_name_table<StartStatus>(
    "start status", {{StartStatus::converged, "converged"},
                     {StartStatus::stalled, "stalled"},
                     {StartStatus::max_iterations, "max_iterations"},
                     {StartStatus::diverged, "diverged"}});
inline std::string to_string(StartStatus status) { return std::string(kStartStatusNames.name(status)); }

// Random stream base for start s: Rng(seed, kStartStream + s).
inline constexpr std::uint64_t kStartStream = 0x5ad0000;

struct FindOptions {
  // Number of starts (≥ 1).
  std::int64_t starts = 100;
  // Start distribution. With `use_box`: every coordinate uniform on [box_lo, box_hi) (box_lo < box_hi).
  // Otherwise: center + radius·z with z standard normal per coordinate (center must have n entries,
  // radius > 0).
  bool use_box = true;
  double box_lo = -5.0, box_hi = 5.0;
  objective::Vector center;
  double radius = 1.0;
  std::uint64_t seed = 0;
  // Worker threads (≥ 1); results do not depend on it.
  int threads = 1;
  // A start has converged when ‖∇f(x)‖₂ ≤ grad_tol (absolute, in the objective's units).
  double grad_tol = 1e-8;
  // LM iterations per start (each: one gradient, and one Hessian + eigen-decomposition per accepted step).
  std::int64_t max_iterations = 200;
  // Initial damping μ₀ = damping_init·max λ_i² (Nielsen's τ, relative to the scale of H²).
  double damping_init = 1e-3;
  // Two converged points are one when ‖x_a − x_b‖ ≤ dedup_rtol·max(1, ‖x_a‖, ‖x_b‖). Converged points sit
  // within ≈ grad_tol/|λ|_min,nonzero of the exact point, far below the default.
  double dedup_rtol = 1e-6;
  // A start diverged when ‖x‖ exceeds this (or f, ∇f stop being finite).
  double divergence_norm = 1e6;
  // The solver assembles and decomposes the dense Hessian at every accepted step: n ≤ max_dim.
  objective::Index max_dim = 2000;
  // How each distinct point is classified (grad_tol should normally equal the solver's grad_tol, which
  // the tools do, so that every converged point passes the first-order test).
  critical::ClassifyOptions classify;
  // Progress: ("starts", done, starts) as starts finish, then ("classify", done, points) as the distinct
  // points are classified. Calls are serialised but may come from any worker thread. May be empty.
  using Progress = std::function<void(std::string_view, std::int64_t, std::int64_t)>;
  Progress progress;

  bool IsValid(std::string* why) const;
};

struct StartOutcome {
  StartStatus status = StartStatus::max_iterations;
  std::int64_t iterations = 0;
  double value = 0.0;      // f at the final iterate
  double grad_norm = 0.0;  // ‖∇f‖ at the final iterate
  std::int64_t point = -1; // index into FindSummary::points for a converged start, else −1
};

struct CriticalPoint {
  objective::Vector x;
  std::int64_t first_start = 0;  // the start whose iterate represents the point
  std::int64_t start_count = 0;  // converged starts merged into it
  critical::Classification classification;  // value, grad_norm, index, λ_min, λ_max, verdict
};

struct FindSummary {
  std::vector<StartOutcome> starts;  // in start order
  std::vector<CriticalPoint> points; // distinct, in order of first discovery (start order)
  std::int64_t converged = 0, stalled = 0, max_iterations = 0, diverged = 0;
  std::int64_t duplicates = 0;  // converged starts merged into an earlier point
  std::int64_t function_evaluations = 0, hessian_evaluations = 0;
};

// Throws std::invalid_argument for invalid options or an objective with n > max_dim (or center of the
// wrong size). Numerical outcomes are statuses in the summary.
FindSummary find_critical_points(const ObjectiveFactory& factory, const FindOptions& options);

// One start from x0 (exposed for tests): runs LM on ½‖∇f‖² and returns the outcome and the final iterate.
StartOutcome solve_from(const objective::Objective& f, objective::Vector& x, const FindOptions& options,
                        std::int64_t* gradient_count = nullptr, std::int64_t* hessian_count = nullptr);

// Spearman's rank correlation (Pearson correlation of the ranks, ties given their average rank).
// NaN when fewer than two pairs or when either variable is constant. Sizes must match.
double spearman_correlation(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace saddlescope::explore
