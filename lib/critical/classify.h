#pragma once
// Classification of a point by the first- and second-order tests, with explicit tolerances and the
// evidence behind the verdict.
#include <Eigen/Core>
#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "objective/objective.h"

namespace saddlescope::critical {

enum class Verdict { local_minimum, local_maximum, strict_saddle, degenerate, not_critical };

// Name table shared by parsing, printing and files.
inline constexpr std::array<std::pair<Verdict, std::string_view>, 5> kVerdictNames = {{
    {Verdict::local_minimum, "local_minimum"},
    {Verdict::local_maximum, "local_maximum"},
    {Verdict::strict_saddle, "strict_saddle"},
    {Verdict::degenerate, "degenerate"},
    {Verdict::not_critical, "not_critical"},
}};
std::string_view to_string(Verdict verdict);
std::optional<Verdict> verdict_from_string(std::string_view name);

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

  // False, with `why` naming the field, its value and the rule, when an option is out of range.
  bool IsValid(std::string* why) const;
};

struct Classification {
  Verdict verdict = Verdict::not_critical;
  std::string decided_by;  // which test decided, in words, with the numbers it compared
  std::string method = "dense";
  double value = 0.0;
  double grad_norm = 0.0;
  Eigen::VectorXd eigenvalues;  // ascending (all of them on the dense path)
  double zero_tolerance = 0.0;  // τ = eig_rtol·max|λ| + eig_atol
  Eigen::Index index = 0;       // eigenvalues < −τ
  Eigen::Index nullity = 0;     // |λ| ≤ τ
  Eigen::Index positive = 0;    // eigenvalues > τ
  double lambda_min = 0.0;
  double lambda_max = 0.0;
  // max|λ| / min|λ| over all eigenvalues; +∞ when some eigenvalue is zero within τ.
  double condition_number = 0.0;
  // max|λ| / min|λ| over the eigenvalues outside [−τ, τ] (NaN when there are none).
  double condition_number_nonzero = 0.0;

  // For every point that is not a local minimum: the unit eigenvector of λ_min, of the sign whose
  // step x + εv gives the lower value, and what that step does.
  bool has_escape_direction = false;
  Eigen::VectorXd escape_direction;
  double escape_step = 0.0;
  double predicted_change = 0.0;    // ½ε²λ_min: the second-order model's change
  double first_order_change = 0.0;  // ε·vᵀ∇f: the first-order term (≈ 0 at a critical point)
  double measured_change = 0.0;     // f(x + εv) − f(x)
};

// Dense path: assembles the Hessian (analytic when available), takes all eigenpairs, decides.
// Throws std::invalid_argument when the options are invalid or x has the wrong size or is not finite.
Classification classify(const objective::Objective& f, const objective::Vector& x, const ClassifyOptions& options);

// The decision alone, from a gradient norm and a spectrum (ascending eigenvalues). Used by the dense
// path above and by matrix-free paths that know only the extreme eigenvalues.
void decide(double grad_norm, const Eigen::VectorXd& eigenvalues, const ClassifyOptions& options,
            Classification& out);

}  // namespace saddlescope::critical
