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

nlohmann::json blocks_to_json(const std::vector<curvature::ParameterBlock>& blocks) {
  nlohmann::json names = nlohmann::json::array();
  Eigen::Index size = 0;
  for (const auto& block : blocks) {
    names.push_back(block.name);
    size += block.size;
  }
  return {{"names", names}, {"size", size}};
}

void write_blocks(hid_t parent, const std::vector<curvature::ParameterBlock>& blocks) {
  namespace h5 = io::h5;
  h5::Handle g = h5::create_group(parent, "blocks");
  std::vector<std::string> names;
  std::vector<std::int64_t> offset, size;
  for (const auto& block : blocks) {
    names.push_back(block.name);
    offset.push_back(block.offset);
    size.push_back(block.size);
  }
  h5::write_strings(g.get(), "names", names);
  h5::write_int_vector(g.get(), "offset", offset);
  h5::write_int_vector(g.get(), "size", size);
}

nlohmann::json to_json(const std::vector<curvature::LayerCurvature>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rows)
    out.push_back({{"name", r.name},
                   {"size", r.size},
                   {"lambda_min", number_or_null(r.lambda_min)},
                   {"lambda_max", number_or_null(r.lambda_max)},
                   {"trace", number_or_null(r.trace)},
                   {"trace_stderr", number_or_null(r.trace_stderr)},
                   {"exact", r.exact},
                   {"converged", r.converged},
                   {"hvp_count", r.hvp_count}});
  return out;
}

std::string layer_table_text(const std::vector<curvature::LayerCurvature>& rows) {
  std::string out = "  per layer (lambda_min, lambda_max, trace; * = Lanczos/Hutchinson estimate, ! = not converged)\n";
  for (const auto& r : rows)
    out += aligned_row("  " + r.name, "[" + std::to_string(r.size) + "]  " + text::format_number(r.lambda_min, 6) + "  " +
                                          text::format_number(r.lambda_max, 6) + "  " + text::format_number(r.trace, 6) +
                                          (r.exact ? "" : " +- " + text::format_number(r.trace_stderr, 2) + " *") +
                                          (r.converged ? "" : " !"));
  return out;
}

void write_layer_table(hid_t parent, const std::vector<curvature::LayerCurvature>& rows) {
  namespace h5 = io::h5;
  h5::Handle g = h5::create_group(parent, "layers");
  const auto m = static_cast<Eigen::Index>(rows.size());
  Eigen::VectorXd size(m), lo(m), hi(m), trace(m), stderr_(m), exact(m), converged(m), products(m);
  std::vector<std::string> names;
  for (Eigen::Index i = 0; i < m; ++i) {
    const auto& r = rows[static_cast<std::size_t>(i)];
    names.push_back(r.name);
    size(i) = static_cast<double>(r.size);
    lo(i) = r.lambda_min;
    hi(i) = r.lambda_max;
    trace(i) = r.trace;
    stderr_(i) = r.trace_stderr;
    exact(i) = r.exact ? 1.0 : 0.0;
    converged(i) = r.converged ? 1.0 : 0.0;
    products(i) = static_cast<double>(r.hvp_count);
  }
  h5::write_strings(g.get(), "names", names);
  h5::write_vector(g.get(), "size", size);
  h5::write_vector(g.get(), "lambda_min", lo);
  h5::write_vector(g.get(), "lambda_max", hi);
  h5::write_vector(g.get(), "trace", trace);
  h5::write_vector(g.get(), "trace_stderr", stderr_);
  h5::write_vector(g.get(), "exact", exact);
  h5::write_vector(g.get(), "converged", converged);
  h5::write_vector(g.get(), "hvp_count", products);
}

nlohmann::json to_json(const std::vector<curvature::KfacLayerComparison>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rows)
    out.push_back({{"name", r.name},
                   {"size", r.size},
                   {"kfac_lambda_min", number_or_null(r.kfac_lambda_min)},
                   {"kfac_lambda_max", number_or_null(r.kfac_lambda_max)},
                   {"kfac_trace", number_or_null(r.kfac_trace)},
                   {"exact_lambda_min", number_or_null(r.exact.lambda_min)},
                   {"exact_lambda_max", number_or_null(r.exact.lambda_max)},
                   {"exact_trace", number_or_null(r.exact.trace)},
                   {"exact_trace_stderr", number_or_null(r.exact.trace_stderr)},
                   {"exact_converged", r.exact.converged},
                   {"relative_frobenius_error", number_or_null(r.relative_frobenius_error)},
                   {"frobenius_exact", r.frobenius_exact}});
  return out;
}

std::string kfac_comparison_text(const std::vector<curvature::KfacLayerComparison>& rows) {
  std::string out = "  K-FAC vs exact GGN per layer (lambda_max, trace: K-FAC / exact; relative Frobenius error)\n";
  for (const auto& r : rows)
    out += aligned_row("  " + r.name, "[" + std::to_string(r.size) + "]  " + text::format_number(r.kfac_lambda_max, 6) +
                                          " / " + text::format_number(r.exact.lambda_max, 6) + "  " +
                                          text::format_number(r.kfac_trace, 6) + " / " +
                                          text::format_number(r.exact.trace, 6) + "  " +
                                          text::format_number(r.relative_frobenius_error, 3) +
                                          (r.frobenius_exact ? "" : " (estimated)"));
  return out;
}

nlohmann::json kfac_outside_to_json(const std::vector<curvature::ParameterBlock>& outside) {
  const nlohmann::json blocks = blocks_to_json(outside);
  return {{"parameters", blocks["size"]}, {"names", blocks["names"]}};
}

std::string kfac_outside_text(const std::vector<curvature::ParameterBlock>& outside) {
  if (outside.empty()) return aligned_row("outside K-FAC", "none: every parameter is in a K-FAC layer");
  const nlohmann::json j = kfac_outside_to_json(outside);
  return aligned_row("outside K-FAC", j["parameters"].dump() + " parameters in " + std::to_string(outside.size()) +
                                          " blocks " + j["names"].dump() + ": K-FAC gives them lambda alone; not compared");
}

void write_kfac_comparison(hid_t parent, const std::vector<curvature::KfacLayerComparison>& rows, const std::string& fisher,
                           const std::vector<curvature::ParameterBlock>& outside) {
  namespace h5 = io::h5;
  h5::Handle g = h5::create_group(parent, "kfac_comparison");
  h5::write_attribute(g.get(), "fisher", fisher);
  const nlohmann::json j = kfac_outside_to_json(outside);
  h5::write_attribute(g.get(), "outside_parameters", j["parameters"].get<std::int64_t>());
  h5::write_attribute(g.get(), "outside_blocks", j["names"].dump());
  const auto m = static_cast<Eigen::Index>(rows.size());
  std::vector<std::string> names;
  Eigen::VectorXd size(m), klo(m), khi(m), ktr(m), elo(m), ehi(m), etr(m), err(m);
  for (Eigen::Index i = 0; i < m; ++i) {
    const auto& r = rows[static_cast<std::size_t>(i)];
    names.push_back(r.name);
    size(i) = static_cast<double>(r.size);
    klo(i) = r.kfac_lambda_min;
    khi(i) = r.kfac_lambda_max;
    ktr(i) = r.kfac_trace;
    elo(i) = r.exact.lambda_min;
    ehi(i) = r.exact.lambda_max;
    etr(i) = r.exact.trace;
    err(i) = r.relative_frobenius_error;
  }
  h5::write_strings(g.get(), "names", names);
  h5::write_vector(g.get(), "size", size);
  h5::write_vector(g.get(), "kfac_lambda_min", klo);
  h5::write_vector(g.get(), "kfac_lambda_max", khi);
  h5::write_vector(g.get(), "kfac_trace", ktr);
  h5::write_vector(g.get(), "exact_lambda_min", elo);
  h5::write_vector(g.get(), "exact_lambda_max", ehi);
  h5::write_vector(g.get(), "exact_trace", etr);
  h5::write_vector(g.get(), "relative_frobenius_error", err);
}

}  // namespace saddlescope::report
