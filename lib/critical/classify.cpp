#include "critical/classify.h"

#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "curvature/dense.h"

namespace saddlescope::critical {
namespace {

std::string number(double value) {
  std::ostringstream s;
  s.precision(3);
  s << std::scientific << value;
  return s.str();
}

}  // namespace

std::string_view to_string(Verdict verdict) {
  for (const auto& [v, name] : kVerdictNames)
    if (v == verdict) return name;
  return "unknown";
}

std::optional<Verdict> verdict_from_string(std::string_view name) {
  for (const auto& [v, n] : kVerdictNames)
    if (n == name) return v;
  return std::nullopt;
}

bool ClassifyOptions::IsValid(std::string* why) const {
  auto fail = [&](const std::string& message) {
    if (why != nullptr) *why = message;
    return false;
  };
  if (!(grad_tol >= 0.0) || !std::isfinite(grad_tol))
    return fail("'grad_tol' must be finite and >= 0, got " + number(grad_tol));
  if (!(eig_rtol >= 0.0 && eig_rtol < 1.0)) return fail("'eig_rtol' must satisfy 0 <= eig_rtol < 1, got " + number(eig_rtol));
  if (!(eig_atol >= 0.0) || !std::isfinite(eig_atol))
    return fail("'eig_atol' must be finite and >= 0, got " + number(eig_atol));
  if (!(escape_step > 0.0) || !std::isfinite(escape_step))
    return fail("'escape_step' must be finite and > 0, got " + number(escape_step));
  return true;
}

void decide(double grad_norm, const Eigen::VectorXd& eigenvalues, const ClassifyOptions& options,
            Classification& out) {
  out.grad_norm = grad_norm;
  out.eigenvalues = eigenvalues.array() + 0.0;  // + 0.0 turns −0 into +0 for printing
  const Eigen::Index n = eigenvalues.size();
  const double max_abs = n > 0 ? eigenvalues.cwiseAbs().maxCoeff() : 0.0;
  out.zero_tolerance = options.eig_rtol * max_abs + options.eig_atol;
  const auto inertia = curvature::inertia_from_eigenvalues(eigenvalues, out.zero_tolerance);
  out.index = inertia.negative;
  out.nullity = inertia.zero;
  out.positive = inertia.positive;
  out.lambda_min = n > 0 ? eigenvalues(0) : 0.0;
  out.lambda_max = n > 0 ? eigenvalues(n - 1) : 0.0;
  const double min_abs = n > 0 ? eigenvalues.cwiseAbs().minCoeff() : 0.0;
  out.condition_number = min_abs > out.zero_tolerance ? max_abs / min_abs : std::numeric_limits<double>::infinity();
  double min_nonzero = std::numeric_limits<double>::infinity();
  for (double lambda : eigenvalues)
    if (std::abs(lambda) > out.zero_tolerance) min_nonzero = std::min(min_nonzero, std::abs(lambda));
  out.condition_number_nonzero =
      std::isfinite(min_nonzero) ? max_abs / min_nonzero : std::numeric_limits<double>::quiet_NaN();

  const std::string tau = "tau = " + number(out.zero_tolerance);
  if (!(grad_norm <= options.grad_tol)) {
    out.verdict = Verdict::not_critical;
    out.decided_by = "first-order test: |grad f| = " + number(grad_norm) + " > grad_tol = " + number(options.grad_tol);
    return;
  }
  const std::string first = "|grad f| = " + number(grad_norm) + " <= grad_tol; ";
  if (out.index > 0 && out.positive > 0) {
    out.verdict = Verdict::strict_saddle;
    out.decided_by = first + "second-order test: " + std::to_string(out.index) + " eigenvalue(s) < -tau and " +
                     std::to_string(out.positive) + " > tau (" + tau + ")";
  } else if (out.nullity > 0) {
    out.verdict = Verdict::degenerate;
    out.decided_by = first + "second-order test inconclusive: " + std::to_string(out.nullity) +
                     " eigenvalue(s) within tau of zero (" + tau + ")" +
                     (out.index > 0 ? ", the others negative: a degenerate maximum or a higher-order saddle"
                                    : out.positive > 0 ? ", the others positive: a degenerate minimum or a "
                                                         "higher-order saddle"
                                                       : ": the Hessian vanishes");
  } else if (out.index == 0) {
    out.verdict = Verdict::local_minimum;
    out.decided_by = first + "second-order test: all " + std::to_string(n) + " eigenvalues > tau (" + tau + ")";
  } else {
    out.verdict = Verdict::local_maximum;
    out.decided_by = first + "second-order test: all " + std::to_string(n) + " eigenvalues < -tau (" + tau + ")";
  }
}

Classification classify(const objective::Objective& f, const objective::Vector& x, const ClassifyOptions& options) {
  std::string why;
  if (!options.IsValid(&why)) throw std::invalid_argument(why);
  if (x.size() != f.dim())
    throw std::invalid_argument("classify: the point has " + std::to_string(x.size()) + " coordinates, the objective " +
                                std::to_string(f.dim()));
  if (!x.allFinite()) throw std::invalid_argument("classify: the point contains NaN or Inf");

  Classification out;
  objective::Vector g;
  out.value = f.gradient(x, g);
  if (!std::isfinite(out.value) || !g.allFinite())
    throw std::invalid_argument("classify: the objective or its gradient is not finite at this point");
  const curvature::DenseSpectrum spectrum = curvature::dense_spectrum(curvature::dense_hessian(f, x), true);
  decide(g.norm(), spectrum.eigenvalues, options, out);

  if (out.verdict != Verdict::local_minimum && spectrum.eigenvalues.size() > 0) {
    // ±v are both eigenvectors; take the sign whose step descends more. At a critical point the
    // first-order term is ~0 and the choice is made by the third- and higher-order terms (at the
    // monkey saddle, f(±ε, 0) = ±ε³).
    objective::Vector v = spectrum.eigenvectors.col(0);
    const double eps = options.escape_step;
    const double plus = f.value(x + eps * v), minus = f.value(x - eps * v);
    if (minus < plus || (minus == plus && v.dot(g) > 0)) v = -v;
    out.has_escape_direction = true;
    out.escape_direction = v.array() + 0.0;  // + 0.0 turns −0 into +0 for printing
    out.escape_step = eps;
    out.predicted_change = 0.5 * eps * eps * out.lambda_min;
    out.first_order_change = eps * v.dot(g);
    out.measured_change = std::min(plus, minus) - out.value;
  }
  return out;
}

}  // namespace saddlescope::critical
