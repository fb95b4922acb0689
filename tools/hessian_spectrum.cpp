// hessian-spectrum: extreme eigenpairs, spectral density, trace and diagonal of the Hessian (or GGN,
// or empirical Fisher) at a point, densely when small and matrix-free otherwise.
#include <chrono>
#include <iostream>

#include "cli/app.h"
#include "cli/progress.h"
#include "curvature/spectrum.h"
#include "io/hdf5.h"
#include "problem/problem.h"
#include "report/common.h"
#include "report/spectrum.h"

namespace sc = saddlescope;

namespace {

struct Options {
  sc::cli::ProblemOptions source;
  std::string method = "auto";
  std::string curvature = "hessian";
  std::string trace_method = "hutchinson";
  std::string out;
  bool no_density = false;
  sc::curvature::SpectrumOptions spectrum;
  sc::cli::CommonOptions common;
};

void setup(CLI::App& app, Options& o) {
  auto& s = o.spectrum;
  sc::cli::add_problem_options(app, o.source, "rosenbrock:n=100000");
  o.source.data_parallel = true;  // under mpirun each rank reads its rows of the data (docs/distributed.md)
  app.add_option("--method", o.method, "auto (dense when n <= --dense-threshold), dense, or lanczos")
      ->check(CLI::IsMember(sc::curvature::kMethodNames.names()))
      ->capture_default_str();
  app.add_option("--dense-threshold", s.dense_threshold, "Largest n that --method auto decomposes densely")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--curvature", o.curvature, "Operator: hessian, ggn (Gauss-Newton) or fisher (empirical Fisher)")
      ->check(CLI::IsMember(sc::curvature::kCurvatureNames.names()))
      ->capture_default_str();
  app.add_option("--top", s.top, "Largest eigenpairs to compute (0 = none)")->check(CLI::Range(0L, 100000L))->capture_default_str();
  app.add_option("--bottom", s.bottom, "Smallest eigenpairs to compute (0 = none)")->check(CLI::Range(0L, 100000L))->capture_default_str();
  app.add_option("--tol", s.lanczos.tol, "Lanczos: converged when |Hv - lambda v| <= tol*|H|_est")
      ->check(CLI::Range(1e-15, 0.5))
      ->capture_default_str();
  app.add_flag("--tol-relative-to-value", s.lanczos.tol_relative_to_value,
               "Lanczos: ARPACK's test |Hv - lambda v| <= tol*max(eps^(2/3), |lambda|) instead (for comparisons with eigsh)");
  app.add_option("--ncv", s.lanczos.ncv, "Lanczos subspace size (0 = automatic: max(40, 2k_total + 2b))")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--block-size", s.lanczos.block_size, "Lanczos block size (0 = automatic: 1); set it >= the multiplicity of repeated extreme eigenvalues")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--max-iterations", s.lanczos.max_iterations, "Lanczos restart cycles")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_flag("--eigenvectors", s.eigenvectors, "Store the eigenvectors in the result file");
  app.add_option("--density-probes", s.density.probes, "SLQ probes for the spectral density (0 = no density)")
      ->check(CLI::Range(0L, 100000L))
      ->capture_default_str();
  app.add_option("--density-steps", s.density.steps, "Lanczos steps per SLQ probe")->check(CLI::Range(1L, 100000L))->capture_default_str();
  app.add_option("--sigma", s.density.sigma, "Gaussian broadening, relative to the spectral range")
      ->check(CLI::Range(1e-9, 0.999))
      ->capture_default_str();
  app.add_option("--grid-points", s.density.grid_points, "Points of the smoothed density")->check(CLI::Range(2L, 10000000L))->capture_default_str();
  app.add_option("--memory-budget", s.density.memory_budget_bytes, "Bytes SLQ may hold for reorthogonalisation (sets probes per block)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--trace-samples", s.trace_samples, "Products for the trace/diagonal estimate (0 = none)")
      ->check(CLI::Range(0L, 1000000L))
      ->capture_default_str();
  app.add_option("--trace-method", o.trace_method, "hutchinson (also gives the diagonal) or hutchpp")
      ->check(CLI::IsMember(sc::curvature::kTraceMethodNames.names()))
      ->capture_default_str();
  app.add_option("--out", o.out, "Write a result file (HDF5)");
  sc::cli::add_common_options(app, o.common);
}

int run(Options& o, int argc, char** argv) {
  sc::cli::apply_threads(o.common.threads);
  const sc::problem::Problem problem = sc::cli::load_problem(o.source);
  auto& s = o.spectrum;
  s.method = sc::curvature::kMethodNames.parse(o.method);
  s.trace_method = sc::curvature::kTraceMethodNames.parse(o.trace_method);
  s.seed = o.common.seed;
  const sc::curvature::Curvature curvature = sc::curvature::kCurvatureNames.parse(o.curvature);
  const sc::curvature::ObjectiveOperator op(*problem.objective, problem.point, curvature);
  sc::cli::ProgressLine progress("hessian-spectrum", o.common.json);
  s.progress = progress.callback();
  const auto t0 = std::chrono::steady_clock::now();
  sc::curvature::SpectrumReport report = sc::curvature::analyze_spectrum(op, s);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  progress.finish();
  report.curvature = o.curvature;

  nlohmann::json summary = sc::report::to_json(report);
  summary["objective"] = problem.objective->description();
  summary["source"] = problem.source;
  summary["seconds"] = seconds;
  summary["tol"] = s.lanczos.tol;
  if (!o.out.empty()) {
    sc::cli::write_result_file(o.out, "hessian-spectrum", argc, argv, o.common.seed, problem.input_path, summary,
                               [&](hid_t file) {
                                 sc::io::h5::write_attribute(file, "objective_spec", problem.objective->spec().dump());
                                 sc::io::h5::write_vector(file, "point", problem.point);
                                 sc::report::write_spectrum(file, report);
                               });
  }
  if (o.common.json) {
    sc::cli::print_json(summary);
  } else {
    std::cout << sc::report::summary_text(report, problem.objective->description(), problem.source, seconds);
    if (!o.out.empty()) std::cout << sc::report::aligned_row("result file", o.out);
  }
  return report.converged ? sc::cli::kSuccess : sc::cli::kComputationFailed;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("Eigenvalues at both ends with residuals, spectral density (SLQ), trace and diagonal of the Hessian, "
               "Gauss-Newton or Fisher matrix at a point; dense below a size threshold, matrix-free above.",
               "hessian-spectrum");
  Options options;
  setup(app, options);
  return sc::cli::run_tool(app, argc, argv, [&] { return run(options, argc, argv); });
}
