// find-critical: critical points of every index from many starts, deduplicated and classified.
#include <iostream>
#include <tuple>

#include "cli/app.h"
#include "cli/file_flags.h"
#include "cli/progress.h"
#include "explore/find_critical.h"
#include "problem/problem.h"
#include "report/find_critical.h"

namespace sc = saddlescope;

namespace {

struct Options {
  sc::cli::ProblemOptions source;
  std::string box = "-5,5";
  std::string method = "auto";
  std::string out;
  long x_max_dim = 100;
  sc::explore::FindOptions find;
  sc::cli::CommonOptions common;
};

void setup(CLI::App& app, Options& o) {
  // A checkpoint: starts are sampled around its parameters, params + radius*N(0, I); --problem: in --box.
  sc::cli::add_problem_options(app, o.source, "himmelblau", {sc::cli::ProblemFlags::At::kAbsent});
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
  sc::cli::check_file_flags({{"checkpoint", o.source.checkpoint}}, {{"--out", o.out}});
  // Parallelism is over starts (--threads workers); Eigen stays single-threaded inside each.
  sc::cli::apply_threads(1);
  const sc::problem::Problem problem = sc::cli::load_problem(o.source);
  sc::explore::FindOptions find = o.find;
  find.threads = o.common.threads;
  find.seed = o.common.seed;
  find.classify.grad_tol = find.grad_tol;
  find.classify.method = sc::curvature::kMethodNames.parse(o.method);
  find.classify.lanczos.seed = o.common.seed;
  find.classify.density.seed = o.common.seed;
  find.use_box = !o.source.problem.empty();
  if (find.use_box) std::tie(find.box_lo, find.box_hi) = parse_box(o.box);
  else find.center = problem.point;
  sc::cli::ProgressLine progress("find-critical", o.common.json);
  find.progress = progress.callback();
  const sc::explore::FindSummary r = sc::explore::find_critical_points(problem.factory, find);
  progress.finish();

  const sc::report::FindCriticalSource source{problem.objective->description(), problem.source,
                                              problem.objective->dim(), problem.objective->spec().dump(), o.x_max_dim};
  const nlohmann::json summary = sc::report::to_json(r, find, source);
  if (!o.out.empty()) {
    nlohmann::json header = summary;
    header.erase("points");  // the datasets hold them
    sc::cli::write_result_file(o.out, "find-critical", argc, argv, o.common.seed, problem.input_path, header,
                               [&](hid_t file) { sc::report::write_find_critical(file, r, source); });
  }
  if (o.common.json) {
    sc::cli::print_json(summary);
  } else {
    std::cout << sc::report::summary_text(r, find, source);
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
