#include "report/spectrum.h"

#include <algorithm>
#include <cmath>

#include "io/hdf5.h"
#include "report/common.h"
#include "text/format.h"

namespace saddlescope::report {

nlohmann::json to_json(const curvature::SpectrumReport& r) {
  nlohmann::json j;
  j["method"] = r.method;
  j["curvature"] = r.curvature;
  j["n"] = r.n;
  j["converged"] = r.converged;
  j["message"] = r.message;
  j["eigenvalues_bottom"] = as_vector(r.bottom_eigenvalues);
  j["residuals_bottom"] = as_vector(r.bottom_residuals);
  j["eigenvalues_top"] = as_vector(r.top_eigenvalues);
  j["residuals_top"] = as_vector(r.top_residuals);
  if (r.bottom_eigenvalues.size() > 0) {
    j["lambda_min"] = r.bottom_eigenvalues(0);
    // Rayleigh quotients bound from the inside: λ_min ≤ θ_min; the residual bounds the distance.
    j["lambda_min_error"] = r.bottom_residuals(0);
  }
  if (r.top_eigenvalues.size() > 0) {
    j["lambda_max"] = r.top_eigenvalues(r.top_eigenvalues.size() - 1);
    j["lambda_max_error"] = r.top_residuals(r.top_residuals.size() - 1);
  }
  if (r.bottom_eigenvalues.size() > 0 && r.top_eigenvalues.size() > 0) {
    const double lo = std::abs(r.bottom_eigenvalues(0)), hi = std::abs(r.top_eigenvalues(r.top_eigenvalues.size() - 1));
    j["spectral_norm"] = std::max(lo, hi);
  }
  j["trace"] = r.has_trace ? number_or_null(r.trace) : nlohmann::json();
  j["trace_stderr"] = r.has_trace ? number_or_null(r.trace_stderr) : nlohmann::json();
  j["trace_method"] = r.has_trace ? nlohmann::json(r.trace_method) : nlohmann::json();
  if (r.has_index) {
    j["index_fraction"] = r.index_fraction;
    j["index_fraction_stderr"] = number_or_null(r.index_fraction_stderr);
    j["index_fraction_resolution"] = r.index_fraction_resolution;
  }
  if (r.has_density) {
    j["density"] = {{"probes", r.density.nodes.cols()},
                    {"sigma", r.density.sigma_absolute},
                    {"lambda_low", r.density.lambda_low},
                    {"lambda_high", r.density.lambda_high},
                    {"grid_points", r.density.grid.size()},
                    {"trace", r.density.trace},
                    {"trace_stderr", number_or_null(r.density.trace_stderr)}};
  }
  j["lanczos_iterations"] = r.lanczos_iterations;
  j["hvp_count"] = r.hvp_count;
  return j;
}

namespace {
std::string list(const Eigen::VectorXd& v) {
  std::string out;
  for (double x : v) out += (out.empty() ? "" : ", ") + text::format_number(x, 8);
  return "[" + out + "]";
}
}  // namespace

std::string summary_text(const curvature::SpectrumReport& r, const std::string& objective, const std::string& source,
                         double seconds) {
  std::string out = "hessian-spectrum: " + r.curvature + " of " + objective + " (n = " + std::to_string(r.n) +
                    ") from " + source + "\n";
  out += aligned_row("method", r.method + (r.converged ? "" : "  (NOT CONVERGED)") + "  — " + r.message);
  if (r.bottom_eigenvalues.size() > 0)
    out += aligned_row("smallest eigenvalues", list(r.bottom_eigenvalues) + "  residuals " + list(r.bottom_residuals));
  if (r.top_eigenvalues.size() > 0)
    out += aligned_row("largest eigenvalues", list(r.top_eigenvalues) + "  residuals " + list(r.top_residuals));
  if (r.has_trace)
    out += aligned_row("trace", text::format_number(r.trace, 10) + " +- " + text::format_number(r.trace_stderr, 3) +
                                    "  (" + r.trace_method + ")");
  if (r.has_index)
    out += aligned_row("negative fraction", text::format_number(r.index_fraction, 6) + " +- " +
                                                text::format_number(r.index_fraction_stderr, 3) + " (statistical) +- " +
                                                text::format_number(r.index_fraction_resolution, 3) + " (quadrature)");
  if (r.has_density)
    out += aligned_row("density", std::to_string(r.density.grid.size()) + " points on [" +
                                      text::format_number(r.density.grid(0), 6) + ", " +
                                      text::format_number(r.density.grid(r.density.grid.size() - 1), 6) +
                                      "], sigma = " + text::format_number(r.density.sigma_absolute, 3));
  out += aligned_row("products", std::to_string(r.hvp_count) + " operator-vector products in " +
                                     text::format_number(seconds, 3) + " s");
  return out;
}

void write_spectrum(hid_t parent, const curvature::SpectrumReport& r) {
  namespace h5 = io::h5;
  h5::Handle e = h5::create_group(parent, "eigenpairs");
  h5::write_attribute(e.get(), "method", r.method);
  h5::write_attribute(e.get(), "converged", static_cast<std::int64_t>(r.converged ? 1 : 0));
  h5::write_attribute(e.get(), "message", r.message);
  h5::write_vector(e.get(), "bottom_eigenvalues", r.bottom_eigenvalues);
  h5::write_vector(e.get(), "bottom_residuals", r.bottom_residuals);
  h5::write_vector(e.get(), "top_eigenvalues", r.top_eigenvalues);
  h5::write_vector(e.get(), "top_residuals", r.top_residuals);
  if (r.bottom_eigenvectors.size() > 0) h5::write_matrix(e.get(), "bottom_eigenvectors", r.bottom_eigenvectors);
  if (r.top_eigenvectors.size() > 0) h5::write_matrix(e.get(), "top_eigenvectors", r.top_eigenvectors);
  if (r.all_eigenvalues.size() > 0) {
    h5::Handle s = h5::create_group(parent, "spectrum");
    h5::write_vector(s.get(), "eigenvalues", r.all_eigenvalues);
  }
  if (r.has_density) {
    h5::Handle d = h5::create_group(parent, "density");
    h5::write_vector(d.get(), "grid", r.density.grid);
    h5::write_vector(d.get(), "density", r.density.density);
    // Raw quadrature: [steps, probes] (column j = probe j; NaN nodes / 0 weights past a breakdown).
    h5::write_matrix(d.get(), "nodes", r.density.nodes);
    h5::write_matrix(d.get(), "weights", r.density.weights);
    h5::write_attribute(d.get(), "sigma", r.density.sigma_absolute);
    h5::write_attribute(d.get(), "index_fraction", r.density.index_fraction);
    h5::write_attribute(d.get(), "index_fraction_stderr", r.density.index_fraction_stderr);
    h5::write_attribute(d.get(), "index_fraction_resolution", r.density.index_fraction_resolution);
  }
  if (r.has_trace) {
    h5::Handle t = h5::create_group(parent, "trace");
    h5::write_attribute(t.get(), "trace", r.trace);
    h5::write_attribute(t.get(), "trace_stderr", r.trace_stderr);
    h5::write_attribute(t.get(), "method", r.trace_method);
    if (r.diagonal.size() > 0) {
      h5::Handle g = h5::create_group(parent, "diagonal");
      h5::write_vector(g.get(), "estimate", r.diagonal);
      h5::write_vector(g.get(), "stderr", r.diagonal_stderr);
    }
  }
}

}  // namespace saddlescope::report
