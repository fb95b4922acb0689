#pragma once
// Extreme eigenpairs of a symmetric operator, matrix-free: block Lanczos with full reorthogonalisation
// and thick restart (a symmetric Krylov–Schur method; Wu & Simon, SIAM J. Matrix Anal. Appl. 22 (2000)
// 602, "Thick-restart Lanczos"; Stewart, SIAM J. Matrix Anal. Appl. 23 (2001) 601, "Krylov–Schur").
//
// Why our own solver rather than plain Spectra (which the operator concept in operator.h also serves):
//  * λ_min. A Krylov space is shift-invariant, so shifting H − σI (Li et al.'s 0.51·λ_max trick) does
//    not speed up Lanczos at all; what makes λ_min "slow" in Spectra (issue #98) is its convergence test
//    |res| ≤ tol·max(ε^{2/3}, |θ|), relative to the Ritz value itself. Hessian spectra have a bulk at zero
//    and λ_min close to it, so that test asks for residuals far below rounding and never passes. We test
//    against the operator's scale instead (below), which is what bounds the eigenvalue error.
//  * Degenerate Hessians (networks' symmetries give many zero eigenvalues). A single start vector sees
//    one copy of each repeated eigenvalue; a block of b columns sees b. When the Krylov space becomes
//    invariant (breakdown), the lost columns are replaced by fresh random vectors orthogonal to the
//    basis — the case that Debian's Spectra 1.0.1 mishandles when the start vector lies in the null space.
//  * Both ends from one Krylov space: `Which::both_ends` costs little more than one end.
//  * Block products: one forward/backward pass per block, as the Objective interface is built for.
// Full reorthogonalisation (block classical Gram–Schmidt: the three-term part, one sweep over the whole
// basis, and a second only when the first removed more than 1 − 1/√2 of the norm — the DGKS test, as in
// ARPACK) keeps the basis orthonormal to rounding,
// so no ghost copies appear; its cost, O(n·ncv) per product and memory-bound, is about a quarter of an
// HVP for the [784,256,256,10] MLP on 512 samples (n = 2.7e5, ncv = 40; docs/spectral.md, benchmark b).
#include <Eigen/Core>
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "curvature/operator.h"
#include "objective/objective.h"
#include "text/names.h"

namespace saddlescope::curvature {

enum class Which { smallest, largest, both_ends };
inline constexpr auto kWhichNames = text::make_name_table<Which>(
    "end", {{Which::smallest, "smallest"}, {Which::largest, "largest"}, {Which::both_ends, "both_ends"}});
inline std::string to_string(Which which) { return std::string(kWhichNames.name(which)); }

enum class Method { auto_select, dense, lanczos };

// The dense path's size limit, one for every caller (classify-critical, hessian-spectrum, escape
// probes): `auto` decomposes densely when n ≤ this. At n = 2000 the dense matrix is 32 MB and LAPACK's
// blocked tridiagonalisation takes about a second on one core; beyond it time grows as n³.
inline constexpr Eigen::Index kDenseThreshold = 2000;

struct EigenpairOptions {
  // Pairs wanted (at each end for both_ends, so 2k in all). Must be ≥ 1 and, with the solver's n,
  // k ≤ n (2k ≤ n for both_ends).
  Eigen::Index k = 1;
  Which which = Which::smallest;
  // Krylov subspace size (basis columns kept in memory: ncv·n doubles). 0 = automatic:
  //   ncv = max(40, 2·k_total + 2·b), k_total = k (2k for both_ends), b the block size;
  // when that reaches n the solver is exact and dense (see below). An explicit ncv must satisfy
  // ncv ≥ k_total + b. If ncv ≥ n the operator is assembled densely (n products) and decomposed exactly.
  Eigen::Index ncv = 0;
  // A Ritz pair (θ, v) is converged when ‖Av − θv‖₂ ≤ tol · ‖A‖_est, where ‖A‖_est = max(|θ_min|, |θ_max|)
  // over the current Ritz values (a lower bound of ‖A‖₂ that converges first). Then some eigenvalue lies
  // within ‖Av − θv‖₂ of θ (Weyl), and within ‖Av − θv‖²/gap when θ is separated by `gap` from the rest
  // of the spectrum. The residuals reported are recomputed by one explicit product at the end.
  double tol = 1e-8;
  // ARPACK's test instead (for comparisons with scipy.sparse.linalg.eigsh at "the same tol"): a pair is
  // converged when ‖Av − θv‖₂ ≤ tol·max(ε^{2/3}, |θ|), ε^{2/3} ≈ 3.7e-11 absolute (dsconv in ARPACK).
  // Stricter than the default for Ritz values small next to ‖A‖, and unreachable for an eigenvalue
  // within rounding of zero; meant for benchmarks, not for degenerate Hessians.
  bool tol_relative_to_value = false;
  // Restart cycles (Rayleigh–Ritz extractions), as Spectra's maxit. Each cycle costs ncv − kept products.
  Eigen::Index max_iterations = 1000;
  // Start block: standard normal entries from random::Rng(seed, stream 0x1a4c205) — same seed, same bits.
  std::uint64_t seed = 0;
  // Block size b: vectors per product pass; an eigenvalue of multiplicity ≤ b is found with all its
  // copies (a Krylov space from b start vectors holds at most b of them). 0 = automatic: b = 1, the
  // cheapest in products (measured: 274 vs 1265 HVPs for top-5 + bottom-5 of rosenbrock:n=5000 with
  // b = 1 vs b = 5). Set b ≥ the expected multiplicity when repeated extreme eigenvalues matter
  // (degenerate Hessians whose smallest eigenvalue is a many-fold zero).
  Eigen::Index block_size = 0;
  // Optional progress report after each restart cycle: (cycle, converged wanted pairs, products so far).
  // Called from the calling thread; the library never prints.
  std::function<void(Eigen::Index, Eigen::Index, std::int64_t)> progress;

  // False, with `why` naming the field, its value and the rule, when an option is out of range.
  bool IsValid(std::string* why) const;
};

struct EigenpairResult {
  Eigen::VectorXd eigenvalues;   // ascending (for both_ends: the k smallest, then the k largest)
  Eigen::MatrixXd eigenvectors;  // n×k, column j ↔ eigenvalues(j), unit norm
  Eigen::VectorXd residuals;     // ‖Hv−λv‖₂ per pair, from an explicit product
  Eigen::Index hvp_count = 0;    // operator-vector products (columns), including the residual check
  Eigen::Index iterations = 0;   // restart cycles
  bool converged = false;
  std::string message;
  Eigen::Index block_size = 0, ncv = 0;  // what was used
  double norm_estimate = 0.0;            // ‖A‖_est the tolerance was relative to
  bool dense = false;                    // true when ncv ≥ n made the solver decompose densely
};

// The one rule for "dense or matrix-free", used by every caller of the extremes: dense when `method`
// is dense; also when the Krylov basis Lanczos would need (`ncv`, see krylov_dimension) holds the whole
// space (n ≤ ncv: the dense problem assembled column by column, exact and cheaper densely, whatever
// was asked — this covers tiny n such as 2); with auto, also when n ≤ dense_threshold.
bool use_dense_path(Method method, Eigen::Index n, Eigen::Index dense_threshold, Eigen::Index ncv);
// The Krylov basis size the solver uses for `o` at dimension n: o.ncv, or max(40, 2·k_total + 2·b).
Eigen::Index krylov_dimension(const EigenpairOptions& o, Eigen::Index n);

// ‖A v_j − λ_j v_j‖₂ for the columns of V (one block product): the one residual computation of every
// eigenpair result (Lanczos, dense, Spectra).
void explicit_residuals(const SymmetricOperator& A, const Eigen::VectorXd& lambda, const Eigen::MatrixXd& V,
                        Eigen::VectorXd& residuals);

// Hessian of f at x.
EigenpairResult extreme_eigenpairs(const objective::Objective& f, const objective::Vector& x, const EigenpairOptions& o);
// Any symmetric operator (Hessian, GGN, Fisher, explicit matrices).
EigenpairResult extreme_eigenpairs(const SymmetricOperator& A, const EigenpairOptions& o);

// The same question answered by Spectra 1.0.1's SymEigsSolver over SpectraOperator (single vector,
// implicit restart, Spectra's own relative tolerance on `tol`). For cross-checks and benchmarks only;
// `block_size` and `progress` are ignored. Residuals are recomputed like ours.
EigenpairResult spectra_extreme_eigenpairs(const SymmetricOperator& A, const EigenpairOptions& o);

}  // namespace saddlescope::curvature
