#include "report/find_critical.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "io/hdf5.h"
#include "text/format.h"

namespace saddlescope::report {
namespace {

std::map<std::string, int> verdict_counts(const explore::FindSummary& r) {
  std::map<std::string, int> counts;
  for (const auto& p : r.points) ++counts[critical::to_string(p.classification.verdict)];
  return counts;
}

// Dauphin et al. (2014): higher loss, higher index. Over the points that are not local minima.
double index_loss_spearman(const explore::FindSummary& r) {
  std::vector<double> losses, indices;
  for (const auto& p : r.points) {
    const auto& c = p.classification;
    if (c.verdict == critical::Verdict::local_minimum) continue;
    losses.push_back(c.value);
    indices.push_back(static_cast<double>(c.index));
  }
  return explore::spearman_correlation(losses, indices);
}

}  // namespace

nlohmann::json to_json(const explore::FindSummary& r, const explore::FindOptions& find,
                       const FindCriticalSource& source) {
  nlohmann::json summary;
  summary["objective"] = source.objective;
  summary["source"] = source.source;
  summary["n"] = source.n;
  summary["starts"] = find.starts;
  summary["converged"] = r.converged;
  summary["not_converged"] = {{"stalled", r.stalled}, {"max_iterations", r.max_iterations}, {"diverged", r.diverged}};
  summary["duplicates"] = r.duplicates;
  summary["unique_points"] = r.points.size();
  summary["settings"] = {{"grad_tol", find.grad_tol},     {"max_iterations", find.max_iterations},
                         {"dedup_rtol", find.dedup_rtol}, {"seed", find.seed},
                         {"method", curvature::to_string(find.classify.method)}};
  if (find.use_box) summary["settings"]["box"] = {find.box_lo, find.box_hi};
  else summary["settings"]["radius"] = find.radius;
  nlohmann::json points = nlohmann::json::array();
  for (const auto& p : r.points) {
    const auto& c = p.classification;
    nlohmann::json j = {{"value", c.value},           {"verdict", critical::to_string(c.verdict)},
                        {"index", c.index},           {"nullity", c.nullity},
                        {"grad_norm", c.grad_norm},   {"lambda_min", c.lambda_min},
                        {"lambda_max", c.lambda_max}, {"start_count", p.start_count}};
    if (source.n <= source.x_max_dim) j["x"] = std::vector<double>(p.x.data(), p.x.data() + p.x.size());
    points.push_back(j);
  }
  summary["verdicts"] = verdict_counts(r);
  const double rho = index_loss_spearman(r);
  summary["index_loss_spearman"] = std::isfinite(rho) ? nlohmann::json(rho) : nlohmann::json(nullptr);
  summary["points"] = points;
  return summary;
}

std::string summary_text(const explore::FindSummary& r, const explore::FindOptions& find,
                         const FindCriticalSource& source) {
  std::string out = "find-critical: " + source.objective + " (n = " + std::to_string(source.n) + ") from " +
                    source.source + "\n";
  out += "  starts                " + std::to_string(find.starts) + " (converged " + std::to_string(r.converged) +
         ", stalled " + std::to_string(r.stalled) + ", max_iterations " + std::to_string(r.max_iterations) +
         ", diverged " + std::to_string(r.diverged) + ")\n";
  out += "  distinct points       " + std::to_string(r.points.size()) + " (" + std::to_string(r.duplicates) +
         " duplicates merged)\n";
  for (const auto& [name, count] : verdict_counts(r))
    out += "    " + name + std::string(20 - std::min<std::size_t>(19, name.size()), ' ') + std::to_string(count) + "\n";
  const double rho = index_loss_spearman(r);
  out += "  spearman(loss, index) " + (std::isfinite(rho) ? text::format_number(rho, 4) : std::string("n/a")) +
         " over the points that are not minima\n";
  out += "  value          index  lambda_min     lambda_max     verdict\n";
  for (const auto& p : r.points) {
    const auto& c = p.classification;
    char line[256];
    std::snprintf(line, sizeof line, "  %-14.8g %-6ld %-14.6g %-14.6g %s\n", c.value, static_cast<long>(c.index),
                  c.lambda_min, c.lambda_max, critical::to_string(c.verdict).c_str());
    out += line;
  }
  return out;
}

void write_find_critical(hid_t file, const explore::FindSummary& r, const FindCriticalSource& source) {
  namespace h5 = io::h5;
  h5::write_attribute(file, "objective_spec", source.objective_spec);
  const auto m = static_cast<Eigen::Index>(r.points.size());
  const Eigen::Index n = source.n;
  Eigen::MatrixXd X(m, n);
  Eigen::VectorXd value(m), lmin(m), lmax(m), gnorm(m);
  std::vector<std::int64_t> index(m), nullity(m), count(m), first(m);
  std::vector<std::string> verdict(m);
  for (Eigen::Index k = 0; k < m; ++k) {
    const auto& p = r.points[k];
    X.row(k) = p.x.transpose();
    value(k) = p.classification.value;
    lmin(k) = p.classification.lambda_min;
    lmax(k) = p.classification.lambda_max;
    gnorm(k) = p.classification.grad_norm;
    index[k] = p.classification.index;
    nullity[k] = p.classification.nullity;
    count[k] = p.start_count;
    first[k] = p.first_start;
    verdict[k] = critical::to_string(p.classification.verdict);
  }
  h5::Handle g = h5::create_group(file, "points");
  h5::write_matrix(g.get(), "x", X);
  h5::write_vector(g.get(), "value", value);
  h5::write_int_vector(g.get(), "index", index);
  h5::write_int_vector(g.get(), "nullity", nullity);
  h5::write_vector(g.get(), "lambda_min", lmin);
  h5::write_vector(g.get(), "lambda_max", lmax);
  h5::write_vector(g.get(), "grad_norm", gnorm);
  h5::write_strings(g.get(), "verdict", verdict);
  h5::write_int_vector(g.get(), "start_count", count);
  h5::write_int_vector(g.get(), "first_start", first);
  std::vector<std::int64_t> iterations, point;
  std::vector<std::string> status;
  const auto starts = static_cast<Eigen::Index>(r.starts.size());
  Eigen::VectorXd start_value(starts), start_grad(starts);
  for (Eigen::Index s = 0; s < starts; ++s) {
    iterations.push_back(r.starts[s].iterations);
    point.push_back(r.starts[s].point);
    status.push_back(explore::to_string(r.starts[s].status));
    start_value(s) = r.starts[s].value;
    start_grad(s) = r.starts[s].grad_norm;
  }
  h5::Handle s = h5::create_group(file, "starts");
  h5::write_strings(s.get(), "status", status);
  h5::write_int_vector(s.get(), "iterations", iterations);
  h5::write_int_vector(s.get(), "point", point);
  h5::write_vector(s.get(), "final_value", start_value);
  h5::write_vector(s.get(), "final_grad_norm", start_grad);
}

}  // namespace saddlescope::report
