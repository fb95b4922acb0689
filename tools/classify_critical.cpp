// classify-critical: what kind of point is this, and what is the evidence?
#include <algorithm>
#include <iostream>

#include "cli/app.h"
#include "cli/file_flags.h"
#include "critical/classify.h"
#include "curvature/blocks.h"
#include "io/hdf5.h"
#include "problem/problem.h"
#include "report/classification.h"

namespace sc = saddlescope;

namespace {

struct Options {
  sc::cli::ProblemOptions source;
  std::string method = "auto";
  std::string out;
  std::string blocks;
  long show = 5;
  bool show_given = false;  // --show on the command line (the default is clamped to n silently)
  sc::critical::ClassifyOptions classify;
  sc::cli::CommonOptions common;
};

void setup(CLI::App& app, Options& o) {
  sc::cli::add_problem_options(app, o.source, "himmelblau or rosenbrock:n=4");
  o.source.data_parallel = true;  // under mpirun each rank reads its rows of the data (docs/distributed.md)
  app.add_option("--grad-tol", o.classify.grad_tol, "Critical when |grad f| <= this (absolute)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--eig-rtol", o.classify.eig_rtol, "Zero eigenvalue: |lambda| <= eig-rtol*max|lambda| + eig-atol")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--eig-atol", o.classify.eig_atol, "Absolute part of the zero-eigenvalue tolerance")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--escape-step", o.classify.escape_step, "Step eps along the escape direction")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--method", o.method,
                 "Eigenvalue method: dense (all eigenvalues), lanczos (matrix-free extremes with error bars, index "
                 "from SLQ), or auto (dense when n <= --dense-threshold)")
      ->check(CLI::IsMember(sc::curvature::kMethodNames.names()))
      ->capture_default_str();
  app.add_option("--dense-threshold", o.classify.dense_threshold, "Largest n that --method auto decomposes densely")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--tol", o.classify.lanczos.tol, "Lanczos: converged when |Hv - lambda v| <= tol*|H|_est")
      ->check(CLI::Range(1e-15, 0.5))
      ->capture_default_str();
  app.add_option("--max-iterations", o.classify.lanczos.max_iterations, "Lanczos restart cycles")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--density-probes", o.classify.density.probes, "Lanczos path: SLQ probes for the index estimate (0 = none)")
      ->check(CLI::Range(0L, 100000L))
      ->capture_default_str();
  app.add_option("--density-steps", o.classify.density.steps, "Lanczos path: Lanczos steps per SLQ probe")
      ->check(CLI::Range(1L, 100000L))
      ->capture_default_str();
  app.add_option("--show", o.show, "Eigenvalues to list at each end of the spectrum")
      ->check(CLI::Range(1L, 1000000L))
      ->each([&o](const std::string&) { o.show_given = true; })
      ->capture_default_str();
  app.add_option("--block", o.blocks,
                 "Classify on these parameter blocks only (names or globs, comma-separated): the gradient's block "
                 "coordinates and the diagonal Hessian block; a block verdict, the escape direction embedded");
  app.add_option("--out", o.out, "Write a result file (HDF5)");
  sc::cli::add_common_options(app, o.common);
}

int run(const Options& o, int argc, char** argv) {
  sc::cli::check_file_flags({{"checkpoint", o.source.checkpoint}}, {{"--out", o.out}});
  sc::cli::apply_threads(o.common.threads);
  const sc::problem::Problem problem = sc::cli::load_problem(o.source);
  sc::critical::ClassifyOptions classify = o.classify;
  classify.method = sc::curvature::kMethodNames.parse(o.method);
  // More eigenvalues than there are parameters cannot be listed: clamp, and say so (#17 item 19).
  const long show = std::min<long>(o.show, static_cast<long>(problem.objective->dim()));
  if (show < o.show && o.show_given)
    std::cerr << "note: --show " << o.show << " exceeds the " << show << " parameters; showing " << show << "\n";
  classify.lanczos.k = show;
  classify.lanczos.seed = o.common.seed;
  classify.density.seed = o.common.seed;
  if (!o.blocks.empty())
    classify.blocks = sc::curvature::select_blocks(problem.objective->parameter_blocks(),
                                                   sc::curvature::split_block_patterns(o.blocks));
  const sc::critical::Classification c = sc::critical::classify(*problem.objective, problem.point, classify);

  nlohmann::json summary = sc::report::to_json(c, show);
  summary["objective"] = problem.objective->description();
  summary["source"] = problem.source;
  summary["tolerances"] = {{"grad_tol", o.classify.grad_tol},
                           {"eig_rtol", o.classify.eig_rtol},
                           {"eig_atol", o.classify.eig_atol}};
  if (c.method == "lanczos") summary["tolerances"]["lanczos_tol"] = o.classify.lanczos.tol;

  if (!o.out.empty()) {
    sc::cli::write_result_file(o.out, "classify-critical", argc, argv, o.common.seed, problem.input_path, summary,
                               [&](hid_t file) {
                                 sc::io::h5::write_attribute(file, "objective_spec", problem.objective->spec().dump());
                                 sc::io::h5::write_vector(file, "point", problem.point);
                                 sc::io::h5::Handle group = sc::io::h5::create_group(file, "classification");
                                 sc::report::write_classification(group.get(), c);
                               });
  }

  if (o.common.json) {
    sc::cli::print_json(summary);
  } else {
    std::cout << "classify-critical: " << problem.objective->description() << " (n = " << problem.objective->dim()
              << ") from " << problem.source << "\n"
              << sc::report::summary_text(c, show);
    if (!o.out.empty()) std::cout << "  result file           " << o.out << "\n";
  }
  // A Lanczos run that did not converge is a failed computation (exit 1), with its output written.
  return c.converged ? sc::cli::kSuccess : sc::cli::kComputationFailed;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("Classify the point in a checkpoint (or a test function at --at): minimum, maximum, strict saddle, "
               "degenerate or not critical, with the evidence and the escape direction.",
               "classify-critical");
  Options options;
  setup(app, options);
  return sc::cli::run_tool(app, argc, argv, [&] { return run(options, argc, argv); });
}
