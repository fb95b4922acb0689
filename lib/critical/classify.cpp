#include "critical/classify.h"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "curvature/blocks.h"
#include "curvature/dense.h"
#include "curvature/inertia.h"
#include "text/format.h"

namespace saddlescope::critical {
namespace {

std::string number(double value) { return text::format_number(value, 3, text::Notation::scientific); }

}  // namespace

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
  if (dense_threshold < 0) return fail("'dense_threshold' must be >= 0, got " + std::to_string(dense_threshold));
  curvature::EigenpairOptions e = lanczos;
  e.which = curvature::Which::both_ends;
  std::string inner;
  if (!e.IsValid(&inner)) return fail("lanczos: " + inner);
  if (density.probes > 0 && !density.IsValid(&inner)) return fail("density: " + inner);
  return true;
}

namespace {

// τ = eig_rtol·max|λ| + eig_atol over a spectrum.
double zero_tolerance(const Eigen::VectorXd& eigenvalues, const ClassifyOptions& options) {
  const double max_abs = eigenvalues.size() > 0 ? eigenvalues.cwiseAbs().maxCoeff() : 0.0;
  return options.eig_rtol * max_abs + options.eig_atol;
}

// The verdict and everything else from the eigenvalues, with the inertia already set in `out`.
void decide_with_inertia(double grad_norm, const Eigen::VectorXd& eigenvalues, const ClassifyOptions& options,
                         Classification& out);

}  // namespace

void decide(double grad_norm, const Eigen::VectorXd& eigenvalues, const ClassifyOptions& options,
            Classification& out) {
  out.zero_tolerance = zero_tolerance(eigenvalues, options);
  const auto inertia = curvature::inertia_from_eigenvalues(eigenvalues, out.zero_tolerance);
  out.index = out.eigenvalue_index = inertia.negative;
  out.nullity = out.eigenvalue_nullity = inertia.zero;
  out.positive = out.eigenvalue_positive = inertia.positive;
  out.inertia_method = "eigenvalues";
  out.inertia_disagreement = false;
  decide_with_inertia(grad_norm, eigenvalues, options, out);
}

void decide(double grad_norm, const Eigen::MatrixXd& H, const Eigen::VectorXd& eigenvalues,
            const ClassifyOptions& options, Classification& out) {
  if (H.rows() != eigenvalues.size() || H.cols() != eigenvalues.size())
    throw std::invalid_argument("decide: the Hessian is " + std::to_string(H.rows()) + "x" + std::to_string(H.cols()) +
                                " but there are " + std::to_string(eigenvalues.size()) + " eigenvalues");
  out.zero_tolerance = zero_tolerance(eigenvalues, options);
  const auto by_eigenvalues = curvature::inertia_from_eigenvalues(eigenvalues, out.zero_tolerance);
  const auto by_ldlt = curvature::inertia_ldlt_band(H, out.zero_tolerance);
  out.eigenvalue_index = by_eigenvalues.negative;
  out.eigenvalue_nullity = by_eigenvalues.zero;
  out.eigenvalue_positive = by_eigenvalues.positive;
  out.index = by_ldlt.negative;
  out.nullity = by_ldlt.zero;
  out.positive = by_ldlt.positive;
  out.inertia_method = "ldlt";
  out.inertia_disagreement = by_eigenvalues.negative != by_ldlt.negative || by_eigenvalues.zero != by_ldlt.zero ||
                             by_eigenvalues.positive != by_ldlt.positive;
  decide_with_inertia(grad_norm, eigenvalues, options, out);
  if (out.inertia_disagreement)
    out.decided_by += "; note: LDL^T inertia (" + std::to_string(by_ldlt.negative) + " negative, " +
                      std::to_string(by_ldlt.zero) + " zero, " + std::to_string(by_ldlt.positive) +
                      " positive, used) differs from the eigenvalue count (" + std::to_string(by_eigenvalues.negative) +
                      ", " + std::to_string(by_eigenvalues.zero) + ", " + std::to_string(by_eigenvalues.positive) +
                      "): an eigenvalue lies within rounding of +-tau";
}

namespace {

void decide_with_inertia(double grad_norm, const Eigen::VectorXd& eigenvalues, const ClassifyOptions& options,
                         Classification& out) {
  out.grad_norm = grad_norm;
  out.eigenvalues = eigenvalues.array() + 0.0;  // + 0.0 turns −0 into +0 for printing
  const Eigen::Index n = eigenvalues.size();
  out.n = n;
  const double max_abs = n > 0 ? eigenvalues.cwiseAbs().maxCoeff() : 0.0;
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

}  // namespace

void decide_from_extremes(double grad_norm, Eigen::Index n, const Eigen::VectorXd& bottom,
                          const Eigen::VectorXd& bottom_residuals, const Eigen::VectorXd& top,
                          const Eigen::VectorXd& top_residuals, bool converged, const ClassifyOptions& options,
                          Classification& out) {
  if (bottom.size() < 1 || top.size() < 1 || bottom_residuals.size() != bottom.size() || top_residuals.size() != top.size())
    throw std::invalid_argument("decide_from_extremes: need at least one Ritz value with a residual at each end");
  out.method = "lanczos";
  out.n = n;
  out.grad_norm = grad_norm;
  out.converged = converged;
  out.eigenvalues.resize(bottom.size() + top.size());
  out.eigenvalues << bottom, top;
  out.eigenvalues = out.eigenvalues.array() + 0.0;
  out.residuals.resize(out.eigenvalues.size());
  out.residuals << bottom_residuals, top_residuals;
  const double t_min = bottom(0), t_max = top(top.size() - 1);
  const double r_min = bottom_residuals(0), r_max = top_residuals(top_residuals.size() - 1);
  out.lambda_min = t_min;
  out.lambda_max = t_max;
  out.lambda_min_error = r_min;
  out.lambda_max_error = r_max;
  const double max_abs = std::max(std::abs(t_min), std::abs(t_max));
  const double tau = options.eig_rtol * max_abs + options.eig_atol;
  out.zero_tolerance = tau;
  const auto inertia = curvature::inertia_from_eigenvalues(out.eigenvalues, tau);
  out.index = out.eigenvalue_index = inertia.negative;
  out.nullity = out.eigenvalue_nullity = inertia.zero;
  out.positive = out.eigenvalue_positive = inertia.positive;
  out.inertia_method = "ritz";
  const double min_abs = std::min(std::abs(t_min), std::abs(t_max));
  if (t_min > tau || t_max < -tau)  // definite: min|λ| is at an end
    out.condition_number = max_abs / min_abs;
  else if (std::abs(t_min) <= tau || std::abs(t_max) <= tau)
    out.condition_number = std::numeric_limits<double>::infinity();
  else
    out.condition_number = std::numeric_limits<double>::quiet_NaN();
  out.condition_number_nonzero = std::numeric_limits<double>::quiet_NaN();

  const std::string lmin = "lambda_min = " + number(t_min) + " (error <= " + number(r_min) + ")";
  const std::string lmax = "lambda_max = " + number(t_max) + " (error <= " + number(r_max) + ")";
  const std::string tau_text = "tau = " + number(tau);
  if (!(grad_norm <= options.grad_tol)) {
    out.verdict = Verdict::not_critical;
    out.decided_by = "first-order test: |grad f| = " + number(grad_norm) + " > grad_tol = " + number(options.grad_tol);
    return;
  }
  const std::string first = "|grad f| = " + number(grad_norm) + " <= grad_tol; ";
  // Rayleigh quotients: λ_min ≤ θ_min and λ_max ≥ θ_max hold whether or not Lanczos converged.
  if (t_min < -tau && t_max > tau) {
    out.verdict = Verdict::strict_saddle;
    out.decided_by = first + "Lanczos: " + lmin + " < -tau and " + lmax + " > tau (" + tau_text +
                     "; Rayleigh quotients, so certain)";
    return;
  }
  const std::string not_conv = converged ? "" : " (Lanczos did not converge)";
  auto uncertain = [&](const std::string& a, const std::string& b, const std::string& why) {
    out.verdict = Verdict::uncertain;
    out.decided_by = first + "uncertain between " + a + " and " + b + ": " + why + " (" + tau_text + ")" + not_conv;
  };
  if (t_min > tau) {
    if (converged && t_min - r_min > tau) {
      out.verdict = Verdict::local_minimum;
      out.decided_by = first + "Lanczos: " + lmin + " > tau (" + tau_text + ") beyond its error bar";
    } else {
      uncertain("local_minimum", "degenerate", lmin + " is within its error bar of tau");
    }
  } else if (t_max < -tau) {
    if (converged && t_max + r_max < -tau) {
      out.verdict = Verdict::local_maximum;
      out.decided_by = first + "Lanczos: " + lmax + " < -tau (" + tau_text + ") beyond its error bar";
    } else {
      uncertain("local_maximum", "degenerate", lmax + " is within its error bar of -tau");
    }
  } else if (std::abs(t_min) <= tau) {
    // λ_min ∈ [θ_min − r_min, θ_min]: zero within τ unless the error bar reaches below −τ.
    if (converged && t_min - r_min >= -tau) {
      out.verdict = Verdict::degenerate;
      out.decided_by = first + "Lanczos: " + lmin + " is zero within tau (" + tau_text + "), " + lmax +
                       (t_max > tau ? ": a degenerate minimum or a higher-order saddle" : ": the Hessian vanishes to tau");
    } else {
      uncertain("degenerate", "strict_saddle", lmin + " may lie below -tau");
    }
  } else {  // t_min < −τ, |t_max| ≤ τ
    if (converged && t_max + r_max <= tau) {
      out.verdict = Verdict::degenerate;
      out.decided_by = first + "Lanczos: " + lmax + " is zero within tau (" + tau_text + "), " + lmin +
                       ": a degenerate maximum or a higher-order saddle";
    } else {
      uncertain("degenerate", "strict_saddle", lmax + " may lie above tau");
    }
  }
}

namespace {

void set_escape(const objective::Objective& f, const objective::Vector& x, const objective::Vector& g,
                objective::Vector v, const ClassifyOptions& options, Classification& out) {
  // ±v are both eigenvectors; take the sign whose step descends more. At a critical point the
  // first-order term is ~0 and the choice is made by the third- and higher-order terms (at the
  // monkey saddle, f(±ε, 0) = ±ε³).
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

}  // namespace

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
  const curvature::ObjectiveOperator full(f, x, curvature::Curvature::hessian);
  std::optional<curvature::RestrictedOperator> restricted;
  objective::Vector block_g = g;
  if (!options.blocks.empty()) {
    restricted.emplace(full, options.blocks);
    block_g = restricted->restrict(g);
    for (const auto& block : options.blocks) out.blocks.push_back(block.name);
  }
  const curvature::SymmetricOperator& H = restricted ? static_cast<const curvature::SymmetricOperator&>(*restricted) : full;
  const auto embed = [&](const objective::Vector& v) { return restricted ? restricted->embed(v) : v; };
  const Eigen::Index n = H.rows();
  curvature::EigenpairOptions e = options.lanczos;
  e.which = curvature::Which::both_ends;
  e.k = std::max<Eigen::Index>(1, std::min(e.k, n / 2));
  // The one dense-or-Lanczos rule (curvature::use_dense_path): tiny n (no room for both ends in a
  // Krylov basis) goes dense whatever was asked.
  const bool dense = curvature::use_dense_path(options.method, n, options.dense_threshold, curvature::krylov_dimension(e, n));

  if (dense) {
    const Eigen::MatrixXd M = H.dense();
    const curvature::DenseSpectrum spectrum = curvature::dense_spectrum_lowest_vector(M);
    decide(block_g.norm(), M, spectrum.eigenvalues, options, out);
    out.has_index_fraction = n > 0;
    out.index_fraction = n > 0 ? static_cast<double>(out.index) / static_cast<double>(n) : 0.0;
    out.hvp_count = full.product_count();
    if (out.verdict != Verdict::local_minimum && spectrum.eigenvalues.size() > 0)
      set_escape(f, x, g, embed(spectrum.eigenvectors.col(0)), options, out);
    return out;
  }

  const curvature::EigenpairResult r = curvature::extreme_eigenpairs(H, e);
  decide_from_extremes(block_g.norm(), n, r.eigenvalues.head(e.k), r.residuals.head(e.k), r.eigenvalues.tail(e.k),
                       r.residuals.tail(e.k), r.converged, options, out);
  if (options.density.probes > 0) {
    const curvature::SlqResult q = curvature::stochastic_lanczos_quadrature(H, options.density);
    out.has_index_fraction = true;
    out.index_fraction = q.index_fraction;
    out.index_fraction_stderr = q.index_fraction_stderr;
    out.index_fraction_resolution = q.index_fraction_resolution;
  }
  out.hvp_count = full.product_count();
  if (out.verdict != Verdict::local_minimum) set_escape(f, x, g, embed(r.eigenvectors.col(0)), options, out);
  return out;
}

}  // namespace saddlescope::critical
