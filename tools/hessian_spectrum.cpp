// hessian-spectrum: extreme eigenpairs, spectral density, trace and diagonal of the Hessian (or GGN,
// or empirical Fisher) at a point, densely when small and matrix-free otherwise.
#include <chrono>
#include <iostream>
#include <optional>

#include "cli/app.h"
#include "cli/file_flags.h"
#include "cli/progress.h"
#include "curvature/blocks.h"
#include "curvature/kfac.h"
#include "objective/kronecker_names.h"
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
  std::string blocks;      // --block: restrict to these parameter blocks
  bool per_layer = false;  // --per-layer: the layer table
  std::string kfac_fisher = "exact";
  bool compare_kfac = false;
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
  std::vector<std::string> curvatures = sc::curvature::kCurvatureNames.names();
  curvatures.emplace_back("kfac");
  app.add_option("--curvature", o.curvature,
                 "Operator: hessian, ggn (Gauss-Newton), fisher (empirical Fisher) or kfac (Kronecker-factored "
                 "approximation, Martens & Grosse 2015: every eigenvalue in closed form from its factors)")
      ->check(CLI::IsMember(curvatures))
      ->capture_default_str();
  app.add_option("--kfac-fisher", o.kfac_fisher,
                 "K-FAC factors (--curvature kfac, --compare-kfac): exact (K-FAC of the GGN), sampled (Monte Carlo "
                 "true Fisher, from --seed) or empirical (observed targets)")
      ->check(CLI::IsMember(sc::objective::kKroneckerFisherNames.names()))
      ->capture_default_str();
  app.add_flag("--compare-kfac", o.compare_kfac,
               "Also a per-layer table of K-FAC against the exact Gauss-Newton matrix's diagonal block: extreme "
               "eigenvalues, traces and the relative Frobenius error");
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
  app.add_option("--block", o.blocks,
                 "Restrict to the diagonal block of these parameter blocks: names or globs, comma-separated "
                 "(e.g. 'layer1.*'); eigenvectors are reported embedded in the full parameter space");
  app.add_flag("--per-layer", o.per_layer,
               "Also report lambda_min, lambda_max and trace of each layer's diagonal block (weight and bias "
               "together; with --block, of the selected layers only)");
  app.add_option("--out", o.out, "Write a result file (HDF5)");
  sc::cli::add_common_options(app, o.common);
}

int run(Options& o, int argc, char** argv) {
  sc::cli::check_file_flags({{"checkpoint", o.source.checkpoint}}, {{"--out", o.out}});
  sc::cli::apply_threads(o.common.threads);
  const sc::problem::Problem problem = sc::cli::load_problem(o.source);
  auto& s = o.spectrum;
  s.method = sc::curvature::kMethodNames.parse(o.method);
  s.trace_method = sc::curvature::kTraceMethodNames.parse(o.trace_method);
  s.seed = o.common.seed;
  const bool kfac = o.curvature == "kfac";
  const auto fisher = sc::objective::kKroneckerFisherNames.parse(o.kfac_fisher);
  const std::vector<sc::curvature::ParameterBlock> all_blocks = problem.objective->parameter_blocks();
  const std::vector<sc::curvature::ParameterBlock> blocks =
      o.blocks.empty() ? all_blocks : sc::curvature::select_blocks(all_blocks, sc::curvature::split_block_patterns(o.blocks));
  if (kfac && s.eigenvectors && o.blocks.empty())
    throw std::invalid_argument("--eigenvectors: K-FAC's eigenvalues come from its factors in closed form, without "
                                "eigenvectors (give --block to run Lanczos on a block of it, or leave --eigenvectors out)");
  std::optional<sc::curvature::KfacOperator> kfac_op;
  if (kfac || o.compare_kfac)
    kfac_op.emplace(sc::curvature::KfacOperator::at(*problem.objective, problem.point, fisher, o.common.seed));
  const sc::curvature::ObjectiveOperator objective_op(
      *problem.objective, problem.point, kfac ? sc::curvature::Curvature::hessian : sc::curvature::kCurvatureNames.parse(o.curvature));
  const sc::curvature::SymmetricOperator& op =
      kfac ? static_cast<const sc::curvature::SymmetricOperator&>(*kfac_op) : objective_op;
  sc::cli::ProgressLine progress("hessian-spectrum", o.common.json);
  s.progress = progress.callback();
  const auto t0 = std::chrono::steady_clock::now();
  sc::curvature::SpectrumReport report =
      !o.blocks.empty() ? sc::curvature::analyze_block_spectrum(op, blocks, s)
      : kfac ? sc::curvature::spectrum_from_eigenvalues(
                   kfac_op->eigenvalues(), s, "kfac-closed-form",
                   "every eigenvalue from the Kronecker factors' eigenvalues (alpha_i * gamma_j + lambda), no Lanczos")
             : sc::curvature::analyze_spectrum(op, s);
  sc::curvature::LayerTableOptions table;
  table.lanczos = s.lanczos;
  table.dense_threshold = s.dense_threshold;
  if (s.trace_samples > 0) table.trace_samples = s.trace_samples;
  table.seed = s.seed;
  std::vector<sc::curvature::LayerCurvature> layers;
  if (o.per_layer) layers = sc::curvature::layer_table(op, sc::curvature::group_by_layer(blocks), table);
  std::vector<sc::curvature::KfacLayerComparison> comparison;
  std::vector<sc::curvature::ParameterBlock> outside;  // parameters in no K-FAC layer (BN scales, shifts, …)
  if (kfac_op) outside = sc::curvature::kfac_uncovered_blocks(all_blocks, *kfac_op);
  if (o.compare_kfac) {
    const sc::curvature::ObjectiveOperator ggn(*problem.objective, problem.point, sc::curvature::Curvature::ggn);
    comparison = sc::curvature::compare_kfac(ggn, *kfac_op, table);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  progress.finish();
  report.curvature = o.curvature;
  bool converged = report.converged;
  for (const auto& row : layers) converged = converged && row.converged;
  for (const auto& row : comparison) converged = converged && row.exact.converged;

  nlohmann::json summary = sc::report::to_json(report);
  summary["objective"] = problem.objective->description();
  summary["source"] = problem.source;
  summary["seconds"] = seconds;
  summary["tol"] = s.lanczos.tol;
  if (!o.blocks.empty()) summary["blocks"] = sc::report::blocks_to_json(blocks);
  if (o.per_layer) summary["layers"] = sc::report::to_json(layers);
  if (kfac || o.compare_kfac) summary["kfac_fisher"] = o.kfac_fisher;
  if (o.compare_kfac) summary["kfac_comparison"] = sc::report::to_json(comparison);
  if (kfac_op) summary["kfac_outside"] = sc::report::kfac_outside_to_json(outside);
  if (!o.out.empty()) {
    sc::cli::write_result_file(o.out, "hessian-spectrum", argc, argv, o.common.seed, problem.input_path, summary,
                               [&](hid_t file) {
                                 sc::io::h5::write_attribute(file, "objective_spec", problem.objective->spec().dump());
                                 sc::io::h5::write_vector(file, "point", problem.point);
                                 sc::report::write_spectrum(file, report);
                                 if (!o.blocks.empty()) sc::report::write_blocks(file, blocks);
                                 if (o.per_layer) sc::report::write_layer_table(file, layers);
                                 if (o.compare_kfac) sc::report::write_kfac_comparison(file, comparison, o.kfac_fisher, outside);
                               });
  }
  if (o.common.json) {
    sc::cli::print_json(summary);
  } else {
    std::cout << sc::report::summary_text(report, problem.objective->description(), problem.source, seconds);
    if (!o.blocks.empty())
      std::cout << sc::report::aligned_row("restricted to", sc::report::blocks_to_json(blocks)["names"].dump() +
                                                              " (the diagonal block; eigenvectors embedded in the full space)");
    if (kfac)
      std::cout << sc::report::aligned_row("K-FAC", "factors '" + o.kfac_fisher + "'; " +
                                                        (o.blocks.empty() ? "eigenvalues from the factors in closed form, not Lanczos"
                                                                          : "a block of it, by the method above"));
    if (o.per_layer) std::cout << sc::report::layer_table_text(layers);
    if (o.compare_kfac) std::cout << sc::report::kfac_comparison_text(comparison);
    if (kfac_op) std::cout << sc::report::kfac_outside_text(outside);
    if (!o.out.empty()) std::cout << sc::report::aligned_row("result file", o.out);
  }
  return converged ? sc::cli::kSuccess : sc::cli::kComputationFailed;
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
