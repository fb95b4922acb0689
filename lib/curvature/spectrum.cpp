#include "curvature/spectrum.h"

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

#include "curvature/inertia.h"
#include "curvature/trace.h"

namespace saddlescope::curvature {
namespace {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;


void dense_path(const SymmetricOperator& A, const SpectrumOptions& o, SpectrumReport& r) {
  r.method = "dense";
  if (o.progress) o.progress("eigenpairs", 0, 1);
  const MatrixXd M = A.dense();
  const Index n = M.rows();
  const DenseSpectrum eig = dense_spectrum_extremes(M, std::min(o.bottom, n), std::min(o.top, n));
  r.all_eigenvalues = eig.eigenvalues;
  const Index b = std::min(o.bottom, n), t = std::min(o.top, n);
  r.bottom_eigenvalues = eig.eigenvalues.head(b);
  r.top_eigenvalues = eig.eigenvalues.tail(t);
  const MatrixXd bv = eig.eigenvectors.leftCols(b), tv = eig.eigenvectors.rightCols(t);
  explicit_residuals(A, r.bottom_eigenvalues, bv, r.bottom_residuals);
  explicit_residuals(A, r.top_eigenvalues, tv, r.top_residuals);
  if (o.eigenvectors) {
    r.bottom_eigenvectors = bv;
    r.top_eigenvectors = tv;
  }
  r.message = "dense: all " + std::to_string(n) + " eigenvalues (LAPACK: blocked tridiagonalisation; MRRR for the vectors)";
  r.has_trace = true;
  r.trace = M.trace();
  r.trace_stderr = 0.0;
  r.trace_method = "exact";
  r.diagonal = M.diagonal();
  r.diagonal_stderr = VectorXd::Zero(n);
  r.has_index = true;
  const double max_abs = n > 0 ? eig.eigenvalues.cwiseAbs().maxCoeff() : 0.0;
  // Index by LDLᵀ (Sylvester: #{λ < −τ} = ν₋(M + τI), τ = zero_rtol·max|λ|), the eigenvalue count beside it;
  // they differ only when an eigenvalue lies within rounding of −τ, and the message says so.
  const double tau = o.density.zero_rtol * max_abs;
  Index by_eigenvalues = 0;
  for (double l : eig.eigenvalues)
    if (l < -tau) ++by_eigenvalues;
  MatrixXd shifted = M;
  shifted.diagonal().array() += tau;
  const Index negative = n > 0 ? inertia_ldlt_in_place(shifted, 0.0).negative : 0;
  if (negative != by_eigenvalues)
    r.message += "; note: LDL^T index " + std::to_string(negative) + " (used) differs from the eigenvalue count " +
                 std::to_string(by_eigenvalues) + ": an eigenvalue lies within rounding of -tau";
  r.index_fraction = n > 0 ? static_cast<double>(negative) / static_cast<double>(n) : 0.0;
  // The exact spectrum as a density: nodes = eigenvalues, weights 1/n, broadened like SLQ's.
  if (o.density.probes > 0 && n > 0) {
    r.has_density = true;
    r.density = broadened_density(eig.eigenvalues, o.density, r.trace, r.index_fraction);
  }
  if (o.progress) o.progress("eigenpairs", 1, 1);
}

void lanczos_path(const SymmetricOperator& A, const SpectrumOptions& o, SpectrumReport& r) {
  r.method = "lanczos";
  const Index n = A.rows();
  const Index want = std::max(o.top, o.bottom);
  if (want > 0) {
    EigenpairOptions e = o.lanczos;
    e.seed = o.seed;
    e.which = o.top > 0 && o.bottom > 0 ? Which::both_ends : o.top > 0 ? Which::largest : Which::smallest;
    e.k = want;
    if (e.which == Which::both_ends && 2 * want > n)
      throw std::invalid_argument("--top/--bottom: " + std::to_string(want) + " pairs at each end exceed n = " +
                                  std::to_string(n));
    if (o.progress)
      e.progress = [&](Index cycle, Index converged, std::int64_t) {
        o.progress("eigenpairs", converged, e.which == Which::both_ends ? 2 * want : want);
        (void)cycle;
      };
    const EigenpairResult er = extreme_eigenpairs(A, e);
    r.converged = er.converged;
    r.message = er.message;
    r.lanczos_iterations = er.iterations;
    const Index low = e.which == Which::largest ? 0 : want;  // pairs from the bottom end in `er`
    const Index b = std::min(o.bottom, low), t = o.top;
    r.bottom_eigenvalues = er.eigenvalues.head(b);
    r.bottom_residuals = er.residuals.head(b);
    r.top_eigenvalues = er.eigenvalues.tail(t);
    r.top_residuals = er.residuals.tail(t);
    if (o.eigenvectors) {
      r.bottom_eigenvectors = er.eigenvectors.leftCols(b);
      r.top_eigenvectors = er.eigenvectors.rightCols(t);
    }
  }
  if (o.density.probes > 0) {
    SlqOptions d = o.density;
    d.seed = o.seed;
    if (o.progress) d.progress = [&](Index done, std::int64_t) { o.progress("density", done, d.probes); };
    r.density = stochastic_lanczos_quadrature(A, d);
    r.has_density = true;
    r.has_index = true;
    r.index_fraction = r.density.index_fraction;
    r.index_fraction_stderr = r.density.index_fraction_stderr;
    r.index_fraction_resolution = r.density.index_fraction_resolution;
  }
  if (o.trace_samples > 0) {
    if (o.progress) o.progress("trace", 0, 1);
    r.has_trace = true;
    if (o.trace_method == TraceMethod::hutchinson) {
      const HutchinsonResult h = hutchinson(A, o.trace_samples, o.seed);
      r.trace = h.trace.trace;
      r.trace_stderr = h.trace.stderr_;
      r.diagonal = h.diagonal;
      r.diagonal_stderr = h.diagonal_stderr;
      r.trace_method = "hutchinson";
    } else {
      const Index products = std::min(3 * ((o.trace_samples + 2) / 3), 3 * n);
      const TraceEstimate h = hutch_plus_plus(A, products, o.seed);
      r.trace = h.trace;
      r.trace_stderr = h.stderr_;
      r.trace_method = "hutchpp";
    }
    if (o.progress) o.progress("trace", 1, 1);
  }
}


// The eigensolver's options for a spectrum request: k = the larger of top and bottom (at least 1),
// both ends when both are wanted.
EigenpairOptions eigenpair_options(const SpectrumOptions& o) {
  EigenpairOptions e = o.lanczos;
  e.k = std::max<Index>(1, std::max(o.top, o.bottom));
  e.which = o.top > 0 && o.bottom > 0 ? Which::both_ends : Which::smallest;
  return e;
}

// Misuse: invalid options, or more extreme pairs wanted than the operator has.
void check_request(const SpectrumOptions& o, Index n) {
  std::string why;
  if (!o.IsValid(&why)) throw std::invalid_argument(why);
  if (std::max(o.top, o.bottom) > n)
    throw std::invalid_argument("--top/--bottom: " + std::to_string(std::max(o.top, o.bottom)) +
                                " pairs wanted but n = " + std::to_string(n));
}

}  // namespace

SlqResult broadened_density(const VectorXd& eigenvalues, const SlqOptions& options, double trace, double index_fraction) {
  const Index n = eigenvalues.size();
  if (n == 0) throw std::invalid_argument("broadened_density: no eigenvalues");
  SlqResult d;
  d.nodes = eigenvalues;
  d.weights = VectorXd::Constant(n, 1.0 / static_cast<double>(n));
  d.steps_taken = Eigen::VectorXi::Constant(1, static_cast<int>(n));
  d.lambda_low = eigenvalues.minCoeff();
  d.lambda_high = eigenvalues.maxCoeff();
  const double max_abs = eigenvalues.cwiseAbs().maxCoeff();
  const double range = d.lambda_high - d.lambda_low;
  d.sigma_absolute = options.sigma * (range > 0.0 ? range : std::max(max_abs, 1.0));
  const double s = d.sigma_absolute;
  d.grid = VectorXd::LinSpaced(options.grid_points, d.lambda_low - 6.0 * s, d.lambda_high + 6.0 * s);
  d.density = VectorXd::Zero(options.grid_points);
  const double norm = 1.0 / (std::sqrt(2.0 * std::numbers::pi) * s * static_cast<double>(n));
  for (double c : eigenvalues) d.density += (norm * (-0.5 * ((d.grid.array() - c) / s).square()).exp()).matrix();
  d.trace = trace;
  d.index_fraction = index_fraction;
  d.message = "exact eigenvalues, broadened";
  return d;
}

SpectrumReport spectrum_from_eigenvalues(const VectorXd& eigenvalues, const SpectrumOptions& o, const std::string& method,
                                         const std::string& message) {
  const Index n = eigenvalues.size();
  check_request(o, n);
  SpectrumReport r;
  r.n = n;
  r.method = method;
  r.message = message;
  VectorXd sorted = eigenvalues;
  std::sort(sorted.begin(), sorted.end());
  r.all_eigenvalues = sorted;
  r.bottom_eigenvalues = sorted.head(std::min(o.bottom, n));
  r.top_eigenvalues = sorted.tail(std::min(o.top, n));
  r.bottom_residuals = VectorXd::Zero(r.bottom_eigenvalues.size());
  r.top_residuals = VectorXd::Zero(r.top_eigenvalues.size());
  r.has_trace = true;
  r.trace = sorted.sum();
  r.trace_method = "exact";
  r.has_index = true;
  const double tau = n > 0 ? o.density.zero_rtol * sorted.cwiseAbs().maxCoeff() : 0.0;
  Index negative = 0;
  for (double l : sorted)
    if (l < -tau) ++negative;
  r.index_fraction = n > 0 ? static_cast<double>(negative) / static_cast<double>(n) : 0.0;
  if (o.density.probes > 0 && n > 0) {
    r.has_density = true;
    r.density = broadened_density(sorted, o.density, r.trace, r.index_fraction);
  }
  return r;
}

bool SpectrumOptions::IsValid(std::string* why) const {
  auto fail = [&](const std::string& message) {
    if (why != nullptr) *why = message;
    return false;
  };
  if (dense_threshold < 0) return fail("'dense_threshold' must be >= 0, got " + std::to_string(dense_threshold));
  if (top < 0) return fail("'top' must be >= 0, got " + std::to_string(top));
  if (bottom < 0) return fail("'bottom' must be >= 0, got " + std::to_string(bottom));
  if (trace_samples < 0) return fail("'trace_samples' must be >= 0, got " + std::to_string(trace_samples));
  if (!eigenpair_options(*this).IsValid(why)) return false;
  if (density.probes > 0 && !density.IsValid(why)) return false;
  return true;
}

SpectrumReport analyze_spectrum(const SymmetricOperator& A, const SpectrumOptions& o) {
  const Index n = A.rows();
  check_request(o, n);
  const std::int64_t before = A.product_count();
  SpectrumReport r;
  r.n = n;
  const EigenpairOptions e = eigenpair_options(o);
  // Explicit --method lanczos keeps its matrix-free density and trace even when the eigensolver itself
  // goes dense (ncv ≥ n); auto and dense follow the one rule.
  const bool dense = o.method != Method::lanczos && use_dense_path(o.method, n, o.dense_threshold, krylov_dimension(e, n));
  if (dense)
    dense_path(A, o, r);
  else
    lanczos_path(A, o, r);
  r.hvp_count = A.product_count() - before;
  return r;
}

}  // namespace saddlescope::curvature
