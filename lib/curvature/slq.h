#pragma once
// Spectral density by stochastic Lanczos quadrature (SLQ; Ghorbani, Krishnan, Xiao, ICML 2019, "An
// investigation into neural net optimization via Hessian eigenvalue density", §2–3; Lin, Saad, Yang,
// SIAM Review 58 (2016) 34 for the quadrature).
//
// For a unit probe v, m Lanczos steps give T_m = U diag(θ) Uᵀ; the Gauss quadrature nodes θ_i and
// weights τ_i = U(0,i)² satisfy vᵀ p(A) v = Σ τ_i p(θ_i) exactly for every polynomial p of degree
// ≤ 2m−1. With v = z/√n, z Rademacher, E[vᵀ p(A) v] = tr p(A)/n, so the average over probes of the
// discrete measures Σ τ_i δ(t − θ_i) is an unbiased estimate of the spectral measure (1/n) Σ δ(t − λ_j)
// on polynomials of degree < 2m. Each probe's measure has total mass 1, so the density integrates to 1.
//
// Every probe runs its own Lanczos recurrence with full reorthogonalisation (against all its earlier
// vectors, twice), so no ghost Ritz values appear; the probes of one group share each block product.
// A probe whose recurrence breaks down (β ≈ 0: the Krylov space is invariant, the quadrature exact)
// stops early.
#include <Eigen/Core>
#include <cstdint>
#include <functional>
#include <string>

#include "curvature/operator.h"

namespace saddlescope::curvature {

struct SlqOptions {
  // Independent probes (Ghorbani et al.: 10 draws) and Lanczos steps per probe (they use 80–90).
  Eigen::Index probes = 10;
  Eigen::Index steps = 80;
  // Probes that share one block product. 0 = automatic: as many as fit in `memory_budget_bytes`
  // (each probe keeps steps·n doubles for reorthogonalisation), at least 1, at most `probes`.
  Eigen::Index probe_block = 0;
  double memory_budget_bytes = 1024.0 * 1024.0 * 1024.0;
  // Gaussian broadening: standard deviation σ = sigma · (θ_max − θ_min) over all Ritz nodes (relative,
  // so the smoothing is scale-free; PyHessian uses σ² = 1e-5 on its normalised axis, σ ≈ 0.003·range/2).
  double sigma = 0.01;
  // The smoothed density is evaluated on `grid_points` equally spaced points over
  // [θ_min − 6σ, θ_max + 6σ], so the Gaussian tails outside the grid carry < 1e-8 of the mass.
  Eigen::Index grid_points = 1024;
  // A node counts as negative for the index estimate when θ < −zero_rtol·max|θ|.
  double zero_rtol = 1e-8;
  // Probe j uses random::Rng(seed, 0x51c0000 + j): independent of the grouping and thread count.
  std::uint64_t seed = 0;
  // Optional progress after each group of probes: (probes done, products so far).
  std::function<void(Eigen::Index, std::int64_t)> progress;

  bool IsValid(std::string* why) const;
};

struct SlqResult {
  // Raw quadrature: column j belongs to probe j; rows are that probe's nodes (ascending) and weights.
  // A probe that broke down after m' < steps steps has m' nodes; the rest of its column is NaN (nodes)
  // and 0 (weights). Each column of weights sums to 1.
  Eigen::MatrixXd nodes, weights;
  Eigen::VectorXi steps_taken;  // per probe
  // Smoothed density on the grid: (1/probes) Σ_j Σ_i τ_ij · N(t; θ_ij, σ²).
  Eigen::VectorXd grid, density;
  double sigma_absolute = 0.0;
  double lambda_low = 0.0, lambda_high = 0.0;  // extreme nodes (inner bounds of the spectrum)
  // n·mean_j(v_jᵀAv_j) = n·mean_j Σ_i τ_ij θ_ij, with its standard error over probes.
  double trace = 0.0, trace_stderr = 0.0;
  // mean_j Σ_i τ_ij θ_ij²  (estimates tr(A²)/n), with its standard error.
  double second_moment = 0.0, second_moment_stderr = 0.0;
  // Fraction of negative eigenvalues (index/n): mean_j Σ_{θ_ij < −τ} τ_ij, with the standard error over
  // probes. The error bar is statistical only: nodes resolve the spectrum to about its range/steps, so
  // eigenvalues closer to zero than that may be counted with the wrong sign (a bias, not in the bar).
  double index_fraction = 0.0, index_fraction_stderr = 0.0;
  // Quadrature resolution of the index: by the Chebyshev–Markov–Stieltjes inequalities (Szegő,
  // "Orthogonal Polynomials", §3.41; Golub & Meurant, "Matrices, Moments and Quadrature", 2010, §6.2) a
  // probe's count of weight below zero differs from its exact vᵀ·1{A<0}·v by at most the larger weight
  // of the two nodes adjacent to zero; this is the mean of that bound over probes (a bias bound, to be
  // added to the statistical error bar).
  double index_fraction_resolution = 0.0;
  Eigen::Index hvp_count = 0;
  Eigen::Index probe_block = 0;
  std::string message;
};

SlqResult stochastic_lanczos_quadrature(const SymmetricOperator& A, const SlqOptions& o);

}  // namespace saddlescope::curvature
