#include "report/classification.h"

#include <cmath>
#include <sstream>

#include "io/hdf5.h"
#include "report/common.h"
#include "text/format.h"

namespace saddlescope::report {
namespace {

std::vector<double> head(const Eigen::VectorXd& v, Eigen::Index k) {
  const Eigen::Index m = std::min(k, v.size());
  return std::vector<double>(v.data(), v.data() + m);
}
std::vector<double> tail(const Eigen::VectorXd& v, Eigen::Index k) {
  const Eigen::Index m = std::min(k, v.size());
  return std::vector<double>(v.data() + v.size() - m, v.data() + v.size());
}
std::string list(const std::vector<double>& values, int digits = 6) {
  std::string out;
  for (double x : values) out += (out.empty() ? "" : ", ") + text::format_number(x, digits);
  return out;
}

}  // namespace

nlohmann::json to_json(const critical::Classification& c, Eigen::Index show, Eigen::Index max_listed_direction) {
  nlohmann::json j;
  j["verdict"] = std::string(to_string(c.verdict));
  j["decided_by"] = c.decided_by;
  if (!c.blocks.empty()) {
    // A block verdict: the classification of the diagonal block H_bb on these parameter blocks only.
    j["block_verdict"] = true;
    j["blocks"] = c.blocks;
  }
  j["method"] = c.method;
  j["n"] = c.n;
  j["value"] = c.value;
  j["grad_norm"] = c.grad_norm;
  j["index"] = c.index;
  j["nullity"] = c.nullity;
  j["positive"] = c.positive;
  j["zero_tolerance"] = c.zero_tolerance;
  j["inertia_method"] = c.inertia_method;
  if (c.inertia_disagreement)
    j["inertia_by_eigenvalues"] = {c.eigenvalue_index, c.eigenvalue_nullity, c.eigenvalue_positive};
  j["lambda_min"] = c.lambda_min;
  j["lambda_max"] = c.lambda_max;
  j["eigenvalues_smallest"] = head(c.eigenvalues, show);
  j["eigenvalues_largest"] = tail(c.eigenvalues, show);
  j["uncertain"] = c.verdict == critical::Verdict::uncertain;
  j["converged"] = c.converged;
  j["hvp_count"] = c.hvp_count;
  // Error bars of the extremes (0 on the dense path): λ_min ∈ [λ_min − err, λ_min], λ_max ∈ [λ_max, λ_max + err].
  j["lambda_min_error"] = c.lambda_min_error;
  j["lambda_max_error"] = c.lambda_max_error;
  if (c.residuals.size() > 0) {
    j["residuals_smallest"] = head(c.residuals, show);
    j["residuals_largest"] = tail(c.residuals, show);
  }
  if (c.has_index_fraction) {
    const auto finite = [](double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(); };
    j["index_fraction"] = c.index_fraction;
    j["index_fraction_stderr"] = finite(c.index_fraction_stderr);
    j["index_fraction_resolution"] = c.index_fraction_resolution;
    j["index_estimate"] = c.index_fraction * static_cast<double>(c.n);
  }
  // JSON has no infinity: an infinite condition number (a zero eigenvalue) is null.
  j["condition_number"] = std::isfinite(c.condition_number) ? nlohmann::json(c.condition_number) : nlohmann::json();
  j["condition_number_nonzero"] =
      std::isfinite(c.condition_number_nonzero) ? nlohmann::json(c.condition_number_nonzero) : nlohmann::json();
  if (c.has_escape_direction) {
    nlohmann::json e;
    e["step"] = c.escape_step;
    e["predicted_change"] = c.predicted_change;
    e["first_order_change"] = c.first_order_change;
    e["measured_change"] = c.measured_change;
    if (c.escape_direction.size() <= max_listed_direction)
      e["direction"] = std::vector<double>(c.escape_direction.data(), c.escape_direction.data() + c.escape_direction.size());
    j["escape"] = e;
  } else {
    j["escape"] = nullptr;
  }
  return j;
}

std::string summary_text(const critical::Classification& c, Eigen::Index show) {
  std::ostringstream s;
  auto row = [&](const std::string& label, const std::string& value) { s << aligned_row(label, value); };
  const Eigen::Index n = c.eigenvalues.size();
  const bool lanczos = c.method == "lanczos";
  if (c.blocks.empty()) {
    row("verdict", std::string(to_string(c.verdict)));
  } else {
    std::string names;
    for (const auto& name : c.blocks) names += (names.empty() ? "" : ", ") + name;
    row("verdict", std::string(to_string(c.verdict)) + "  (BLOCK VERDICT: the diagonal block of " + names +
                       " only; the escape direction is zero outside it)");
  }
  row("method", c.method + (lanczos ? "  (" + std::to_string(c.hvp_count) + " Hessian-vector products" +
                                          (c.converged ? ")" : ", NOT CONVERGED)")
                                    : std::string()));
  row("decided by", c.decided_by);
  row("value", text::format_number(c.value, 12));
  row("gradient norm", text::format_number(c.grad_norm, 4));
  if (lanczos) {
    row("lambda_min", text::format_number(c.lambda_min, 10) + "  (true value in [" +
                          text::format_number(c.lambda_min - c.lambda_min_error, 10) + ", " +
                          text::format_number(c.lambda_min, 10) + "])");
    row("lambda_max", text::format_number(c.lambda_max, 10) + "  (true value in [" + text::format_number(c.lambda_max, 10) +
                          ", " + text::format_number(c.lambda_max + c.lambda_max_error, 10) + "])");
    row("smallest Ritz values", "[" + list(head(c.eigenvalues, show)) + "]");
    row("largest Ritz values", "[" + list(tail(c.eigenvalues, show)) + "]  (of " + std::to_string(c.n) + ")");
  } else if (n <= 2 * show) {
    row("eigenvalues", "[" + list(head(c.eigenvalues, n)) + "]  (all " + std::to_string(n) + ", ascending)");
  } else {
    row("smallest eigenvalues", "[" + list(head(c.eigenvalues, show)) + "]");
    row("largest eigenvalues", "[" + list(tail(c.eigenvalues, show)) + "]  (of " + std::to_string(n) + ")");
  }
  if (lanczos) {
    row("index", ">= " + std::to_string(c.index) + " (Ritz values < -tau; Cauchy interlacing)" +
                     (c.has_index_fraction ? "; estimated " + text::format_number(c.index_fraction * static_cast<double>(c.n), 6) +
                                                 " +- " + text::format_number(c.index_fraction_stderr * static_cast<double>(c.n), 3) +
                                                 " (SLQ, statistical) +- " +
                                                 text::format_number(c.index_fraction_resolution * static_cast<double>(c.n), 3) +
                                                 " (quadrature)"
                                           : std::string()));
  } else
  row("index / nullity", std::to_string(c.index) + " negative, " + std::to_string(c.nullity) + " zero, " +
                             std::to_string(c.positive) + " positive  (zero means |lambda| <= " +
                             text::format_number(c.zero_tolerance, 3) + ")");
  row("condition number", text::format_number(c.condition_number, 6) +
                              (std::isfinite(c.condition_number)
                                   ? std::string()
                                   : "  (over nonzero eigenvalues: " + text::format_number(c.condition_number_nonzero, 6) + ")"));
  if (c.has_escape_direction) {
    const Eigen::Index m = c.escape_direction.size();
    std::vector<double> shown(c.escape_direction.data(), c.escape_direction.data() + std::min<Eigen::Index>(m, 6));
    row("escape direction", "v = [" + list(shown, 4) + (m > 6 ? ", ...]" : "]") + "  (eigenvector of lambda_min)");
    row("step", "eps = " + text::format_number(c.escape_step, 3));
    row("predicted change", "0.5*eps^2*lambda_min = " + text::format_number(c.predicted_change, 6) +
                                (c.verdict == critical::Verdict::not_critical
                                     ? "  (+ first-order term eps*v.grad = " + text::format_number(c.first_order_change, 6) + ")"
                                     : std::string()));
    row("measured change", "f(x + eps*v) - f(x) = " + text::format_number(c.measured_change, 6));
  }
  return s.str();
}

void write_classification(hid_t group, const critical::Classification& c) {
  namespace h5 = io::h5;
  h5::write_attribute(group, "verdict", std::string(to_string(c.verdict)));
  h5::write_attribute(group, "decided_by", c.decided_by);
  if (!c.blocks.empty()) h5::write_strings(group, "blocks", c.blocks);
  h5::write_attribute(group, "method", c.method);
  h5::write_attribute(group, "n", static_cast<std::int64_t>(c.n));
  h5::write_attribute(group, "converged", static_cast<std::int64_t>(c.converged ? 1 : 0));
  h5::write_attribute(group, "hvp_count", static_cast<std::int64_t>(c.hvp_count));
  h5::write_attribute(group, "lambda_min_error", c.lambda_min_error);
  h5::write_attribute(group, "lambda_max_error", c.lambda_max_error);
  if (c.residuals.size() > 0) h5::write_vector(group, "residuals", c.residuals);
  if (c.has_index_fraction) {
    h5::write_attribute(group, "index_fraction", c.index_fraction);
    h5::write_attribute(group, "index_fraction_stderr", c.index_fraction_stderr);
    h5::write_attribute(group, "index_fraction_resolution", c.index_fraction_resolution);
  }
  h5::write_attribute(group, "value", c.value);
  h5::write_attribute(group, "grad_norm", c.grad_norm);
  h5::write_attribute(group, "index", static_cast<std::int64_t>(c.index));
  h5::write_attribute(group, "nullity", static_cast<std::int64_t>(c.nullity));
  h5::write_attribute(group, "zero_tolerance", c.zero_tolerance);
  h5::write_attribute(group, "inertia_method", c.inertia_method);
  h5::write_attribute(group, "lambda_min", c.lambda_min);
  h5::write_attribute(group, "lambda_max", c.lambda_max);
  h5::write_attribute(group, "condition_number", c.condition_number);
  h5::write_vector(group, "eigenvalues", c.eigenvalues);
  if (c.has_escape_direction) {
    h5::write_vector(group, "escape_direction", c.escape_direction);
    h5::write_attribute(group, "escape_step", c.escape_step);
    h5::write_attribute(group, "predicted_change", c.predicted_change);
    h5::write_attribute(group, "measured_change", c.measured_change);
  }
}

}  // namespace saddlescope::report
