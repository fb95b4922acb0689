#pragma once
// The GOE eigenvalues as a Coulomb gas, and Markov moves on it that keep mixing deep in the tail.
//
// The eigenvalues of the base GOE H₀ = (A + Aᵀ)/2 (β = 1, rmt/ensemble.h) have the joint density
//   p(λ) ∝ Π_{i<j} |λ_i − λ_j| Π_i e^{−λ_i²/2}
// (Mehta, Random Matrices, ch. 3). Every event rmt-check asks about for goe/goe-shift depends on H only
// through its eigenvalues, so a chain on λ ∈ R^k (k dimensions) replaces one on the k(k+1)/2 matrix
// entries — where the pCN chains froze from k ≈ 17 (docs/rmt.md).
//
// `gas_sweep` leaves p conditioned on {λ_i > wall for all i} invariant. One sweep is:
//  * k single-eigenvalue random-walk Metropolis proposals λ_i' = λ_i + σ₁ξ (local rearrangement);
//  * one translation λ' = λ + σ_t ξ·1 — the Vandermonde factor is unchanged, so it costs O(k) and moves
//    the trace (the slowest mode of the single moves, and the observable of rmt/integration.h) in one step;
//  * one dilation about the wall, λ' − wall = e^{σ_d ξ}(λ − wall) — a move that a hard wall cannot
//    reject, accepted with the Metropolis–Hastings ratio including the Jacobian e^{kσ_dξ}; it moves the
//    width of the gas, the other slow collective mode.
// Each is reversible with respect to the conditioned density (symmetric proposals in λ, in λ·1 and in
// the log-scale), so the sweep is too as a composition of invariant kernels.
//
// The same moves serve the Laguerre gas of the real Wishart (GasWeight::kLaguerre): the eigenvalues of
// XXᵀ, X k×m Gaussian with m ≥ k, have the density ∝ Π_{i<j}|λ_i − λ_j| Π_i λ_i^a e^{−λ_i/2} on λ > 0,
// a = (m − k − 1)/2 (Muirhead, Thm 3.2.17), and the wall is a threshold c ≥ 0. Only the one-body factor
// changes in the acceptance ratios, and the single move is a random walk in r = √(λ − wall) reflected at 0
// (steps shrink at the hard edge, where the smallest eigenvalue sits; the ratio carries Δ(a ln λ − λ/2) and
// the Jacobian r'/r: measured, it cut the τ_int of the node nearest c = 0 at m = k from ~10–40 sweeps to
// the figures in docs/rmt.md); the translation by
// Σ_i [a ln((λ_i + δ)/λ_i)] − kδ/2 (O(k); the Vandermonde factor is still unchanged); the dilation about
// the wall by Σ_i [a ln(λ_i'/λ_i) − (λ_i' − λ_i)/2], beside the Vandermonde's ς^{k(k−1)/2} and the
// Jacobian ς^k. The Gaussian path keeps its own expressions (the GOE's bits are unchanged).
//
// Acceptance is counted per move type; rmt/integration.h and rmt/splitting.h adapt the three step sizes
// between batches (a deterministic function of the chain, so results do not depend on threads).
#include <Eigen/Core>
#include <array>
#include <cstdint>

#include "random/random.h"

namespace saddlescope::rmt {

struct GasSteps {
  double single = 0.3;      // σ₁, in units of the base GOE eigenvalues
  double translation = 0.05;
  double dilation = 0.02;   // σ_d of the log-scale
};

// Proposed and accepted counts per move type: [0] single, [1] translation, [2] dilation.
struct GasCounts {
  std::array<std::int64_t, 3> proposed{}, accepted{};
  double rate(int type) const {
    return proposed[type] > 0 ? static_cast<double>(accepted[type]) / static_cast<double>(proposed[type]) : 0.0;
  }
};

// The one-body factor of the gas: kGaussian e^{−λ²/2} (the GOE), kLaguerre λ^a e^{−λ/2} on λ > 0 (the
// real Wishart, a = `power` ≥ −½; the wall must then be ≥ 0).
struct GasWeight {
  enum class Kind { kGaussian, kLaguerre };
  Kind kind = Kind::kGaussian;
  double power = 0;  // a, Laguerre only
};

// One sweep (above) on the gas λ (length k, every λ_i > wall on entry; so on exit). The random numbers
// drawn do not depend on acceptance, so two chains with the same stream stay aligned.
void gas_sweep(Eigen::VectorXd& lambda, double wall, const GasSteps& steps, random::Rng& rng, GasCounts& counts);
void gas_sweep(Eigen::VectorXd& lambda, double wall, const GasWeight& weight, const GasSteps& steps, random::Rng& rng,
               GasCounts& counts);

// Multiplies each step by exp(2(rate − target)) from the counts of the last batch, clamped to a range
// that keeps proposals meaningful (a rule of thumb for random-walk proposals, target ≈ 0.4).
void adapt_gas_steps(const GasCounts& batch, GasSteps& steps, double target = 0.4);

// A draw of the base GOE eigenvalues (dense eigen-solve of (A + Aᵀ)/2), ascending.
Eigen::VectorXd draw_goe_eigenvalues(Eigen::Index k, random::Rng& rng);
// A draw of the eigenvalues of XXᵀ, X k×m standard Gaussian (dense eigen-solve), ascending.
Eigen::VectorXd draw_wishart_eigenvalues(Eigen::Index k, Eigen::Index m, random::Rng& rng);

}  // namespace saddlescope::rmt
