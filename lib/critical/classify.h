#pragma once
// Classification of a point by the first- and second-order tests, with explicit tolerances and the
// evidence behind the verdict.
#include <Eigen/Core>
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "curvature/lanczos.h"
#include "curvature/slq.h"
#include "curvature/spectrum.h"
#include "objective/objective.h"
#include "text/names.h"

namespace saddlescope::critical {

// `uncertain` is only given by the matrix-free path: the point is critical, but an extreme eigenvalue
// lies within its error bar (its Lanczos residual) of the zero tolerance, or Lanczos did not converge,
// so two verdicts remain possible; `decided_by` names them and the numbers. The dense path is exact to
// rounding and never answers `uncertain`.
enum class Verdict { local_minimum, local_maximum, strict_saddle, degenerate, not_critical, uncertain };

// Name table shared by parsing, printing and files.
inline constexpr auto kVerdictNames = text::make_name_table<Verdict>(
    "verdict", {{Verdict::local_minimum, "local_minimum"},
                {Verdict::local_maximum, "local_maximum"},
                {Verdict::strict_saddle, "strict_saddle"},
                {Verdict::degenerate, "degenerate"},
                {Verdict::not_critical, "not_critical"},
                {Verdict::uncertain, "uncertain"}});
inline std::string to_string(Verdict verdict) { return std::string(kVerdictNames.name(verdict)); }

struct ClassifyOptions {
  // A point is critical when ‖∇f(x)‖₂ ≤ grad_tol (absolute: gradients carry the objective's units).
  double grad_tol = 1e-6;
  // An eigenvalue counts as zero when |λ| ≤ eig_rtol·max|λ| + eig_atol. The default rtol sits three
  // orders above the backward error of the dense eigensolver (~n·2.2e-16 relative to ‖H‖ for the
  // sizes the dense path handles), so rounding never turns a zero eigenvalue into a sign; atol decides
  // when the whole Hessian is (numerically) zero, as at the monkey saddle.
  double eig_rtol = 1e-8;
  double eig_atol = 1e-10;
  // Step ε along the escape direction for the predicted (½ε²λ_min) and measured decrease.
  double escape_step = 1e-3;

  // Which eigenvalue path: dense (all eigenvalues, exact to rounding), lanczos (matrix-free: λ_min and
  // λ_max with residual error bars, index fraction from SLQ), or auto (dense when n ≤ dense_threshold).
  curvature::Method method = curvature::Method::auto_select;
  Eigen::Index dense_threshold = curvature::kDenseThreshold;
  // Lanczos path: pairs at each end (`lanczos.k`, default 1; tools set it to --show), tolerance, seed.
  // `lanczos.which` is ignored (both ends are computed).
  curvature::EigenpairOptions lanczos;
  // Lanczos path: SLQ for the index estimate (probes = 0 skips it).
  curvature::SlqOptions density;
  // Block verdict (classify-critical --block): when not empty, the point is classified on these
  // parameter blocks alone — the first-order test on the gradient's block coordinates, the spectrum of
  // the diagonal block H_bb (curvature/blocks.h), the escape direction embedded in the full space (zero
  // outside the blocks). A block minimum says nothing about the other coordinates; a block saddle is a
  // saddle of f too (a descent direction of H_bb is one of H).
  std::vector<objective::Objective::Block> blocks;

  // False, with `why` naming the field, its value and the rule, when an option is out of range.
  bool IsValid(std::string* why) const;
};

struct Classification {
  Verdict verdict = Verdict::not_critical;
  std::string decided_by;  // which test decided, in words, with the numbers it compared
  // Block verdict: the names of the blocks the classification was restricted to (empty: all of x);
  // `n`, the eigenvalues, index and grad_norm are then those of the block, the escape direction is full-size.
  std::vector<std::string> blocks;
  std::string method = "dense";
  Eigen::Index n = 0;  // parameters
  double value = 0.0;
  double grad_norm = 0.0;
  // Ascending: all of them on the dense path; on the Lanczos path the k smallest then the k largest
  // Ritz values, with their residual norms ‖Hv − θv‖ in `residuals` (empty on the dense path).
  Eigen::VectorXd eigenvalues;
  Eigen::VectorXd residuals;
  double zero_tolerance = 0.0;  // τ = eig_rtol·max|λ| + eig_atol
  // Dense path: exact counts. Lanczos path: counts among the computed Ritz values, which by Cauchy
  // interlacing (θ_j ≥ λ_j from the bottom, θ ≤ λ from the top) are lower bounds for index and positive.
  Eigen::Index index = 0;       // eigenvalues < −τ
  Eigen::Index nullity = 0;     // |λ| ≤ τ
  Eigen::Index positive = 0;    // eigenvalues > τ
  // How the counts were made: "ldlt" (dense path: Bunch–Kaufman on H ± τI), "eigenvalues" (decide() from a
  // spectrum alone) or "ritz" (Lanczos path). On the dense path `inertia_disagreement` is true when the
  // eigenvalue count differs from the LDLᵀ one (see decide(grad, H, ...)); the eigenvalue counts are then
  // in `eigenvalue_index`, `eigenvalue_nullity`, `eigenvalue_positive`.
  std::string inertia_method = "eigenvalues";
  bool inertia_disagreement = false;
  Eigen::Index eigenvalue_index = 0, eigenvalue_nullity = 0, eigenvalue_positive = 0;
  double lambda_min = 0.0;
  double lambda_max = 0.0;
  // Lanczos path: residual norms of the extreme Ritz pairs. The Rayleigh quotient bounds from inside,
  // so λ_min ∈ [lambda_min − lambda_min_error, lambda_min] and λ_max ∈ [lambda_max, lambda_max +
  // lambda_max_error] (assuming no eigenvalue beyond the extremes was missed by the Krylov space). 0 dense.
  double lambda_min_error = 0.0;
  double lambda_max_error = 0.0;
  // max|λ| / min|λ| over all eigenvalues; +∞ when some eigenvalue is zero within τ. On the Lanczos path
  // it comes from the extremes and is exact only for a definite spectrum; NaN for an indefinite one.
  double condition_number = 0.0;
  // max|λ| / min|λ| over the eigenvalues outside [−τ, τ] (NaN when there are none or on the Lanczos path).
  double condition_number_nonzero = 0.0;
  // Lanczos path with SLQ: estimated index/n with its statistical error and quadrature resolution
  // (curvature/slq.h); dense path: exact index/n, errors 0.
  bool has_index_fraction = false;
  double index_fraction = 0.0, index_fraction_stderr = 0.0, index_fraction_resolution = 0.0;
  bool converged = true;      // Lanczos convergence (always true on the dense path)
  Eigen::Index hvp_count = 0; // Hessian-vector products used (dense path: n, or 0 with an analytic Hessian)

  // For every point that is not a local minimum: the unit eigenvector of λ_min, of the sign whose
  // step x + εv gives the lower value, and what that step does.
  bool has_escape_direction = false;
  Eigen::VectorXd escape_direction;
  double escape_step = 0.0;
  double predicted_change = 0.0;    // ½ε²λ_min: the second-order model's change
  double first_order_change = 0.0;  // ε·vᵀ∇f: the first-order term (≈ 0 at a critical point)
  double measured_change = 0.0;     // f(x + εv) − f(x)
};

// Dense path (n ≤ dense_threshold or method dense): assembles the Hessian (analytic when available), takes all
// eigenpairs, decides. Lanczos path: both-ends eigenpairs and SLQ, then decide_from_extremes.
// Throws std::invalid_argument when the options are invalid or x has the wrong size or is not finite.
Classification classify(const objective::Objective& f, const objective::Vector& x, const ClassifyOptions& options);

// The decision alone, from a gradient norm and a spectrum (ascending eigenvalues). Used by the dense
// path above and by matrix-free paths that know only the extreme eigenvalues.
void decide(double grad_norm, const Eigen::VectorXd& eigenvalues, const ClassifyOptions& options,
            Classification& out);

// The dense path's decision: the eigenvalues give the spectrum, λ_min/λ_max, τ and the condition
// numbers; the inertia (index, nullity, positive) comes from two Bunch–Kaufman LDLᵀ factorisations of
// the Hessian `H` shifted by ±τ (curvature::inertia_ldlt_band), the same counts as "eigenvalues < −τ,
// within [−τ, τ], > τ" by Sylvester's law. The two can differ only when an eigenvalue lies within rounding
// (≈ n·ε·‖H‖ times the pivot growth) of ±τ; then the LDLᵀ counts are used, `inertia_disagreement` is set
// and `decided_by` says so with both counts (the verdict is at the edge of the tolerance either way).
void decide(double grad_norm, const Eigen::MatrixXd& H, const Eigen::VectorXd& eigenvalues,
            const ClassifyOptions& options, Classification& out);

// The decision from the extremes only: `bottom`/`top` ascending Ritz values with residuals, `converged`
// whether Lanczos met its tolerance. Rules (τ = eig_rtol·max(|θ_min|, |θ_max|) + eig_atol):
//   θ_min < −τ and θ_max > τ                   → strict_saddle (certain: Rayleigh quotients bound λ from inside)
//   θ_min − r_min > τ                          → local_minimum;  θ_max + r_max < −τ → local_maximum
//   θ_min ∈ [−τ, τ] and θ_min − r_min ≥ −τ (or the mirror at the top) → degenerate
//   anything else (an extreme within its error bar of ±τ, or not converged) → uncertain, naming both readings.
void decide_from_extremes(double grad_norm, Eigen::Index n, const Eigen::VectorXd& bottom,
                          const Eigen::VectorXd& bottom_residuals, const Eigen::VectorXd& top,
                          const Eigen::VectorXd& top_residuals, bool converged, const ClassifyOptions& options,
                          Classification& out);

}  // namespace saddlescope::critical
