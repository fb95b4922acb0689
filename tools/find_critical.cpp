// find-critical: critical points of every index from many starts, deduplicated and classified.
#include <cstdio>
#include <iostream>
#include <map>

#include "cli/app.h"
#include "explore/find_critical.h"
#include "io/atomic_file.h"
#include "io/error.h"
#include "io/hdf5.h"
#include "io/result.h"
#include "problem/problem.h"
#include "text/format.h"

namespace sc = saddlescope;

namespace {

struct Options {
  std::string checkpoint;
  std::string problem;
  std::string box = "-5,5";
  std::string method = "auto";
  std::string out;
  long x_max_dim = 100;
  sc::explore::FindOptions find;
  sc::cli::CommonOptions common;
};

void setup(CLI::App& app, Options& o) {
  app.add_option("checkpoint", o.checkpoint,
                 "Checkpoint file (HDF5): starts are sampled around its parameters, params + radius*N(0, I)");
  app.add_option("--problem", o.problem, "Test function spec instead of a checkpoint, e.g. himmelblau")
      ->excludes(app.get_option("checkpoint"));
  app.add_option("--box", o.box, "--problem: starts uniform on [lo, hi)^n, given as lo,hi")->capture_default_str();
  app.add_option("--radius", o.find.radius, "Checkpoint: standard deviation of the starts around its parameters")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--starts", o.find.starts, "Number of starts")->check(CLI::Range(1L, 100000000L))->capture_default_str();
  app.add_option("--grad-tol", o.find.grad_tol, "A start converged when |grad f| <= this (absolute)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-iterations", o.find.max_iterations, "Levenberg-Marquardt iterations per start")
      ->check(CLI::Range(1L, 100000000L))
      ->capture_default_str();
  app.add_option("--dedup-rtol", o.find.dedup_rtol, "Points closer than dedup-rtol*max(1,|x|) are one point")
      ->check(CLI::Range(0.0, 0.999))
      ->capture_default_str();
  app.add_option("--max-dim", o.find.max_dim, "Largest n the dense Newton solver accepts")
      ->check(CLI::Range(1L, 100000L))
      ->capture_default_str();
  app.add_option("--method", o.method, "Classification: dense, lanczos, or auto (dense when n is small)")
      ->check(CLI::IsMember(sc::curvature::kMethodNames.names()))
      ->capture_default_str();
  app.add_option("--x-max-dim", o.x_max_dim, "--json lists each point's x only when n <= this (the file always has it)")
      ->check(CLI::Range(0L, 1000000L))
      ->capture_default_str();
  app.add_option("--out", o.out, "Write a result file (HDF5)");
  sc::cli::add_common_options(app, o.common);
}

std::pair<double, double> parse_box(const std::string& text) {
  const sc::objective::Vector v = sc::problem::parse_point(text, 2, "--box");
  if (!(v(0) < v(1))) throw std::invalid_argument("--box: lo must be below hi, got '" + text + "'");
  return {v(0), v(1)};
}

int run(Options& o, int argc, char** argv) {
  if (o.checkpoint.empty() && o.problem.empty()) throw std::invalid_argument("give a checkpoint file or --problem SPEC");
  // Parallelism is over starts (--threads workers); Eigen stays single-threaded inside each.
  sc::cli::apply_threads(1);
  sc::explore::FindOptions find = o.find;
  find.threads = o.common.threads;
  find.seed = o.common.seed;
  find.classify.grad_tol = find.grad_tol;
  find.classify.method = sc::curvature::kMethodNames.parse(o.method);
  find.classify.lanczos.seed = o.common.seed;
  find.classify.density.seed = o.common.seed;
  sc::explore::ObjectiveFactory factory;
  std::string source, input_path;
  std::unique_ptr<sc::objective::Objective> described;
  if (!o.problem.empty()) {
    auto [lo, hi] = parse_box(o.box);
    find.use_box = true;
    find.box_lo = lo;
    find.box_hi = hi;
    const nlohmann::json spec = {{"kind", "function"}, {"function", o.problem}};
    factory = [spec] { return sc::problem::make_objective(spec, nullptr); };
    described = factory();
    source = "problem " + o.problem;
  } else {
    sc::problem::Problem p = sc::problem::load_checkpoint_problem(o.checkpoint);
    find.use_box = false;
    find.center = p.point;
    // Workers build their objectives from a copy in memory: no file is read once threads run.
    factory = sc::problem::checkpoint_objective_factory(o.checkpoint);
    described = std::move(p.objective);
    source = p.source;
    input_path = p.input_path;
  }
  const sc::explore::FindSummary r = sc::explore::find_critical_points(factory, find);
  const auto n = described->dim();

  nlohmann::json summary;
  summary["objective"] = described->description();
  summary["source"] = source;
  summary["n"] = n;
  summary["starts"] = find.starts;
  summary["converged"] = r.converged;
  summary["not_converged"] = {{"stalled", r.stalled}, {"max_iterations", r.max_iterations}, {"diverged", r.diverged}};
  summary["duplicates"] = r.duplicates;
  summary["unique_points"] = r.points.size();
  summary["settings"] = {{"grad_tol", find.grad_tol}, {"max_iterations", find.max_iterations},
                         {"dedup_rtol", find.dedup_rtol}, {"seed", find.seed}, {"method", o.method}};
  if (find.use_box) summary["settings"]["box"] = {find.box_lo, find.box_hi};
  else summary["settings"]["radius"] = find.radius;
  std::map<std::string, int> verdicts;
  std::vector<double> losses, indices;
  nlohmann::json points = nlohmann::json::array();
  for (const auto& p : r.points) {
    const auto& c = p.classification;
    ++verdicts[std::string(sc::critical::to_string(c.verdict))];
    nlohmann::json j = {{"value", c.value},           {"verdict", sc::critical::to_string(c.verdict)},
                        {"index", c.index},           {"nullity", c.nullity},
                        {"grad_norm", c.grad_norm},   {"lambda_min", c.lambda_min},
                        {"lambda_max", c.lambda_max}, {"start_count", p.start_count}};
    if (n <= o.x_max_dim) j["x"] = std::vector<double>(p.x.data(), p.x.data() + p.x.size());
    points.push_back(j);
    if (c.verdict != sc::critical::Verdict::local_minimum) {
      losses.push_back(c.value);
      indices.push_back(static_cast<double>(c.index));
    }
  }
  summary["verdicts"] = verdicts;
  // Dauphin et al. (2014): higher loss, higher index. Over the points that are not local minima.
  const double rho = sc::explore::spearman_correlation(losses, indices);
  summary["index_loss_spearman"] = std::isfinite(rho) ? nlohmann::json(rho) : nlohmann::json(nullptr);
  summary["points"] = points;

  if (!o.out.empty()) {
    nlohmann::json header = summary;
    header.erase("points");  // the datasets below hold them
    sc::cli::write_result_file(o.out, "find-critical", argc, argv, o.common.seed, input_path, header, [&](hid_t file) {
      sc::io::h5::write_attribute(file, "objective_spec", described->spec().dump());
      const auto m = static_cast<Eigen::Index>(r.points.size());
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
        verdict[k] = std::string(sc::critical::to_string(p.classification.verdict));
      }
      sc::io::h5::Handle g = sc::io::h5::create_group(file, "points");
      sc::io::h5::write_matrix(g.get(), "x", X);
      sc::io::h5::write_vector(g.get(), "value", value);
      sc::io::h5::write_int_vector(g.get(), "index", index);
      sc::io::h5::write_int_vector(g.get(), "nullity", nullity);
      sc::io::h5::write_vector(g.get(), "lambda_min", lmin);
      sc::io::h5::write_vector(g.get(), "lambda_max", lmax);
      sc::io::h5::write_vector(g.get(), "grad_norm", gnorm);
      sc::io::h5::write_strings(g.get(), "verdict", verdict);
      sc::io::h5::write_int_vector(g.get(), "start_count", count);
      sc::io::h5::write_int_vector(g.get(), "first_start", first);
      std::vector<std::int64_t> iterations, point;
      std::vector<std::string> status;
      Eigen::VectorXd start_value(find.starts), start_grad(find.starts);
      for (std::int64_t s = 0; s < find.starts; ++s) {
        iterations.push_back(r.starts[s].iterations);
        point.push_back(r.starts[s].point);
        status.push_back(std::string(sc::explore::to_string(r.starts[s].status)));
        start_value(s) = r.starts[s].value;
        start_grad(s) = r.starts[s].grad_norm;
      }
      sc::io::h5::Handle s = sc::io::h5::create_group(file, "starts");
      sc::io::h5::write_strings(s.get(), "status", status);
      sc::io::h5::write_int_vector(s.get(), "iterations", iterations);
      sc::io::h5::write_int_vector(s.get(), "point", point);
      sc::io::h5::write_vector(s.get(), "final_value", start_value);
      sc::io::h5::write_vector(s.get(), "final_grad_norm", start_grad);
    });
  }

  if (o.common.json) {
    sc::cli::print_json(summary);
  } else {
    std::cout << "find-critical: " << described->description() << " (n = " << n << ") from " << source << "\n"
              << "  starts                " << find.starts << " (converged " << r.converged << ", stalled "
              << r.stalled << ", max_iterations " << r.max_iterations << ", diverged " << r.diverged << ")\n"
              << "  distinct points       " << r.points.size() << " (" << r.duplicates << " duplicates merged)\n";
    for (const auto& [name, count] : verdicts) std::cout << "    " << name << std::string(20 - std::min<size_t>(19, name.size()), ' ') << count << "\n";
    std::cout << "  spearman(loss, index) " << (std::isfinite(rho) ? sc::text::format_number(rho, 4) : "n/a")
              << " over the points that are not minima\n";
    std::cout << "  value          index  lambda_min     lambda_max     verdict\n";
    for (const auto& p : r.points) {
      const auto& c = p.classification;
      std::printf("  %-14.8g %-6ld %-14.6g %-14.6g %s\n", c.value, static_cast<long>(c.index), c.lambda_min,
                  c.lambda_max, std::string(sc::critical::to_string(c.verdict)).c_str());
    }
    if (!o.out.empty()) std::cout << "  result file           " << o.out << "\n";
  }
  // No start converged: the computation failed (exit 1), with the output written.
  return r.converged > 0 ? sc::cli::kSuccess : sc::cli::kComputationFailed;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("Find critical points of every index (minima, saddles, maxima) from many starts by Levenberg-Marquardt "
               "damped Newton on |grad f|^2 = 0, merge duplicates and classify each.",
               "find-critical");
  Options options;
  setup(app, options);
  return sc::cli::run_tool(app, argc, argv, [&] { return run(options, argc, argv); });
}
