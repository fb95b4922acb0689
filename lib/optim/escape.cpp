#include "optim/escape.h"

#include <cmath>
#include <stdexcept>

#include "curvature/dense.h"
#include "curvature/lanczos.h"
#include "text/format.h"

namespace saddlescope::optim {
namespace {

std::string fmt(double v) { return text::format_number(v, text::kRoundTrip); }

bool fail(std::string* why, const std::string& what, const std::string& field, double value, const std::string& rule) {
  if (why != nullptr) *why = what + ": '" + field + "' = " + fmt(value) + " " + rule;
  return false;
}

}  // namespace

bool ClipOptions::IsValid(std::string* why) const {
  if (!(max_norm >= 0.0)) return fail(why, "clipping", "max_norm", max_norm, "must be >= 0 (0: off)");
  if (!(clip_value >= 0.0)) return fail(why, "clipping", "clip_value", clip_value, "must be >= 0 (0: off)");
  return true;
}

bool clip_gradient(Vector& g, const ClipOptions& o) {
  bool changed = false;
  if (o.max_norm > 0.0) {
    // torch.nn.utils.clip_grad_norm_: clip_coef = max_norm / (total_norm + 1e-6), applied if < 1.
    const double coefficient = o.max_norm / (g.norm() + 1e-6);
    if (coefficient < 1.0) {
      g *= coefficient;
      changed = true;
    }
  }
  if (o.clip_value > 0.0) {
    for (Index i = 0; i < g.size(); ++i) {
      const double c = std::clamp(g(i), -o.clip_value, o.clip_value);
      if (c != g(i)) changed = true;
      g(i) = c;
    }
  }
  return changed;
}

bool GradNoiseOptions::IsValid(std::string* why) const {
  if (!(eta >= 0.0) || !std::isfinite(eta)) return fail(why, "grad noise", "eta", eta, "must be finite and >= 0");
  if (!(gamma >= 0.0) || !std::isfinite(gamma)) return fail(why, "grad noise", "gamma", gamma, "must be finite and >= 0");
  return true;
}

void add_gradient_noise(Vector& g, std::int64_t step, const GradNoiseOptions& o, random::Rng& rng) {
  if (o.eta == 0.0) return;
  const double sigma = std::sqrt(o.eta / std::pow(1.0 + static_cast<double>(step), o.gamma));
  for (Index i = 0; i < g.size(); ++i) g(i) += sigma * rng.normal();
}

bool CurvatureProbeOptions::IsValid(std::string* why) const {
  if (dense_max_dim < 0) return fail(why, "curvature probe", "dense_max_dim", static_cast<double>(dense_max_dim), "must be >= 0");
  if (!(tolerance > 0.0)) return fail(why, "curvature probe", "tolerance", tolerance, "must be > 0");
  if (max_restarts < 1) return fail(why, "curvature probe", "max_restarts", static_cast<double>(max_restarts), "must be >= 1");
  return true;
}

CurvatureProbe probe_curvature(const objective::Objective& f, const Vector& x, const CurvatureProbeOptions& o,
                               random::Rng& rng) {
  CurvatureProbe p;
  const Index n = x.size();
  if (n <= o.dense_max_dim) {
    const curvature::DenseSpectrum s = curvature::dense_spectrum(curvature::dense_hessian(f, x), true);
    p.lambda_min = s.eigenvalues(0);
    p.lambda_max = s.eigenvalues(n - 1);
    p.v_min = s.eigenvectors.col(0);
    p.hvp_count = f.has_analytic_hessian() ? 0 : n;
    p.method = "dense";
    return p;
  }
  // Matrix-free: block thick-restart Lanczos for both ends (curvature/lanczos.h), seeded from the
  // probe stream so the same seed gives the same bits.
  curvature::EigenpairOptions eo;
  eo.k = 1;
  eo.which = curvature::Which::both_ends;
  eo.tol = o.tolerance;
  eo.max_iterations = o.max_restarts;
  eo.seed = rng.next();
  const curvature::EigenpairResult r = curvature::extreme_eigenpairs(f, x, eo);
  p.lambda_min = r.eigenvalues(0);
  p.lambda_max = r.eigenvalues(r.eigenvalues.size() - 1);
  p.v_min = r.eigenvectors.col(0);
  p.hvp_count = r.hvp_count;
  p.converged = r.converged;
  p.method = "lanczos";
  return p;
}

bool PerturbOptions::IsValid(std::string* why) const {
  const std::string w = "perturb";
  if (!(epsilon > 0.0)) return fail(why, w, "epsilon", epsilon, "must be > 0");
  if (!(ell >= 0.0)) return fail(why, w, "ell", ell, "must be >= 0 (0: 1/lr)");
  if (!(rho > 0.0)) return fail(why, w, "rho", rho, "must be > 0");
  if (!(delta > 0.0 && delta < 1.0)) return fail(why, w, "delta", delta, "must be in (0, 1)");
  if (!(delta_f > 0.0)) return fail(why, w, "delta_f", delta_f, "must be > 0");
  if (!(c > 0.0)) return fail(why, w, "c", c, "must be > 0");
  if (!(radius >= 0.0)) return fail(why, w, "radius", radius, "must be >= 0 (0: the paper's formula)");
  if (!(g_thres >= 0.0)) return fail(why, w, "g_thres", g_thres, "must be >= 0 (0: the paper's formula)");
  if (t_thres < 0) return fail(why, w, "t_thres", static_cast<double>(t_thres), "must be >= 0 (0: the paper's formula)");
  return true;
}

PerturbThresholds perturb_thresholds(const PerturbOptions& o, Index dim, double lr) {
  PerturbThresholds t;
  const double ell = o.ell > 0.0 ? o.ell : (lr > 0.0 ? 1.0 / lr : 1.0);
  const double d = static_cast<double>(dim);
  t.chi = 3.0 * std::max(std::log(d * ell * o.delta_f / (o.c * o.epsilon * o.epsilon * o.delta)), 4.0);
  const double chi2 = t.chi * t.chi;
  t.radius = o.radius > 0.0 ? o.radius : std::sqrt(o.c) / chi2 * o.epsilon / ell;
  t.g_thres = o.g_thres > 0.0 ? o.g_thres : std::sqrt(o.c) / chi2 * o.epsilon;
  t.f_thres = o.c / (chi2 * t.chi) * std::sqrt(o.epsilon * o.epsilon * o.epsilon / o.rho);
  t.t_thres = o.t_thres > 0 ? o.t_thres
                            : static_cast<std::int64_t>(std::ceil(t.chi / (o.c * o.c) * ell / std::sqrt(o.rho * o.epsilon)));
  return t;
}

Vector uniform_in_ball(Index n, double radius, random::Rng& rng) {
  Vector v(n);
  for (Index i = 0; i < n; ++i) v(i) = rng.normal();
  const double norm = v.norm();
  const double r = radius * std::pow(rng.uniform_open_zero(), 1.0 / static_cast<double>(n));
  return norm > 0.0 ? Vector(v * (r / norm)) : Vector(Vector::Zero(n));
}

bool NegativeCurvatureOptions::IsValid(std::string* why) const {
  const std::string w = "negative_curvature";
  if (!(grad_threshold >= 0.0)) return fail(why, w, "grad_threshold", grad_threshold, "must be >= 0");
  if (!(lambda_tolerance >= 0.0)) return fail(why, w, "lambda_tolerance", lambda_tolerance, "must be >= 0");
  if (!(rho >= 0.0)) return fail(why, w, "rho", rho, "must be >= 0 (0: estimate)");
  if (!(probe_step > 0.0)) return fail(why, w, "probe_step", probe_step, "must be > 0");
  if (!(max_step > 0.0)) return fail(why, w, "max_step", max_step, "must be > 0");
  if (cooldown < 0) return fail(why, w, "cooldown", static_cast<double>(cooldown), "must be >= 0");
  return true;
}

NegativeCurvatureStep negative_curvature_step(const objective::Objective& f, const Vector& x, const Vector& gradient,
                                              const CurvatureProbe& probe, const NegativeCurvatureOptions& o) {
  NegativeCurvatureStep s;
  s.lambda_min = probe.lambda_min;
  if (!(probe.lambda_min < -o.lambda_tolerance)) return s;
  const Vector& v = probe.v_min;
  double rho = o.rho;
  if (rho <= 0.0) {
    objective::Matrix V = v, HV;
    f.hessian_vector_product(x + o.probe_step * v, V, HV);
    ++s.hvp_count;
    rho = std::abs(v.dot(HV.col(0)) - probe.lambda_min) / o.probe_step;
  }
  const double lambda = std::abs(probe.lambda_min);
  s.rho = rho;
  s.step_length = rho > 0.0 ? std::min(2.0 * lambda / rho, o.max_step) : o.max_step;
  const double slope = v.dot(gradient);
  s.direction = slope > 0.0 ? Vector(-v) : v;
  s.taken = true;
  return s;
}

bool EscapeOptions::IsValid(std::string* why) const {
  if (kind == EscapeKind::perturb) return perturb.IsValid(why);
  if (kind == EscapeKind::negative_curvature) return negative_curvature.IsValid(why);
  return true;
}

nlohmann::json EscapeOptions::to_json() const {
  nlohmann::json j = {{"escape", to_string(kind)}};
  if (kind == EscapeKind::perturb)
    j.update({{"epsilon", perturb.epsilon}, {"ell", perturb.ell}, {"rho", perturb.rho}, {"delta", perturb.delta},
              {"delta_f", perturb.delta_f}, {"c", perturb.c}, {"radius", perturb.radius}, {"g_thres", perturb.g_thres},
              {"t_thres", perturb.t_thres}});
  if (kind == EscapeKind::negative_curvature)
    j.update({{"grad_threshold", negative_curvature.grad_threshold},
              {"lambda_tolerance", negative_curvature.lambda_tolerance}, {"rho", negative_curvature.rho},
              {"probe_step", negative_curvature.probe_step}, {"max_step", negative_curvature.max_step},
              {"cooldown", negative_curvature.cooldown}});
  return j;
}

}  // namespace saddlescope::optim
