// rmt-check: is a random critical point a minimum with probability 0.5^k? P(all k eigenvalues > 0) for
// random-matrix ensembles by plain Monte Carlo with exact intervals, by subset simulation far below
// where plain sampling sees a hit, and exactly (de Bruijn's Pfaffian) for the GOE.
#include <iostream>

#include "cli/app.h"
#include "cli/file_flags.h"
#include "cli/k_list.h"
#include "cli/progress.h"
#include "io/hdf5.h"
#include "report/rmt_calibration.h"
#include "report/rmt_check.h"
#include "rmt/calibration.h"
#include "rmt/check.h"

namespace sc = saddlescope;

namespace {

struct Options {
  std::string ensemble = "goe";
  std::string k = "1:12";
  std::string method = "auto";
  std::string sampler = "auto";
  std::string moves = "auto";
  std::string out;
  bool table = false;
  int repetitions = 0;                        // 0: each method's own default (integration 16, splitting 8)
  const CLI::Option* repetitions_flag = nullptr;
  int calibrate = 0;
  sc::rmt::CheckOptions check;
  sc::cli::CommonOptions common;
};

void setup(CLI::App& app, Options& o) {
  app.add_option("--ensemble", o.ensemble, "goe, goe-shift, diagonal, wishart or hessian")->capture_default_str();
  app.add_option("--k", o.k, "Matrix sizes: 5, 1:12, 1:30:5 or 2,4,8")->capture_default_str();
  // Checked in run() so a bad value gives our one-line message and exit 2 (CLI11 would too, but
  // negative numbers look like flags to it).
  app.add_option("--samples", o.check.monte_carlo.samples, "Plain Monte Carlo samples per k (> 0)")->capture_default_str();
  app.add_option("--method", o.method,
                 "auto (MC, then integration (GOE) or splitting (others) if MC saw < --min-hits hits), mc, splitting or "
                 "integration")
      ->capture_default_str();
  app.add_option("--sampler", o.sampler, "MC inertia: auto (tridiagonal model for GOE), dense (LDL^T), tridiagonal")
      ->capture_default_str();
  app.add_option("--min-hits", o.check.min_hits, "auto: run splitting when MC had fewer hits than this")->capture_default_str();
  app.add_option("--scale", o.check.ensemble.scale, "Ensemble scale s (GOE diag variance s^2)")->capture_default_str();
  app.add_option("--shift", o.check.ensemble.shift, "Add shift*I (GOE + mu*I)")->capture_default_str();
  app.add_option("--wishart-dof", o.check.ensemble.wishart_dof, "Wishart: columns m of X (0 = k)")->capture_default_str();
  app.add_option("--objective", o.check.ensemble.objective, "hessian: test-function spec")->capture_default_str();
  app.add_option("--point-scale", o.check.ensemble.point_scale, "hessian: x = point-scale * N(0, I)")->capture_default_str();
  app.add_option("--population", o.check.splitting.population, "Splitting: states per level")->capture_default_str();
  app.add_option("--level-probability", o.check.splitting.level_probability, "Splitting: kept fraction p0 per level")
      ->capture_default_str();
  app.add_option("--moves", o.check.splitting.moves_per_state, "Splitting: moves per recorded state (pCN proposals, slice moves, gas or row sweeps)")
      ->capture_default_str();
  app.add_option("--splitting-moves", o.moves,
                 "Splitting moves: auto (eigenvalues for GOE; for hessian rows with a constant Hessian, else slice; pcn otherwise), pcn (matrix entries, any ensemble), "
                 "eigenvalues (GOE), slice (elliptical slice sampling, any ensemble), rows (exact elliptical slice "
                 "steps on the directions' rows, hessian)")
      ->capture_default_str();
  app.add_option("--diagnostic-moves", o.check.splitting.diagnostic_moves,
                 "Splitting: moves of one extra chain per level whose score gives tau_int (0 = off)")
      ->capture_default_str();
  o.repetitions_flag = app.add_option("--repetitions", o.repetitions,
                                      "Splitting and integration: independent runs for the error bar (default: 16 for "
                                      "integration, 8 for splitting)");
  app.add_option("--nodes", o.check.integration.nodes, "Integration: Gauss-Legendre nodes in the shift")->capture_default_str();
  app.add_option("--sweeps", o.check.integration.sweeps, "Integration: recorded gas sweeps per node and repetition")
      ->capture_default_str();
  app.add_option("--burn-in", o.check.integration.burn_in, "Integration: discarded sweeps per chain")->capture_default_str();
  app.add_option("--endpoint-samples", o.check.integration.endpoint_samples, "Integration: plain MC draws for ln P(T)")
      ->capture_default_str();
  app.add_option("--calibrate", o.calibrate,
                 "Calibration: run this many independent estimates per k (seeds --seed, --seed+1, ...) and report the "
                 "coverage of their intervals against the exact values")
      ->capture_default_str();
  app.add_flag("--no-exact", [&o](std::int64_t) { o.check.exact = false; }, "Skip the exact values");
  app.add_flag("--table", o.table, "Print a Markdown table");
  app.add_option("--out", o.out, "Write a result file (HDF5)");
  sc::cli::add_common_options(app, o.common);
}

int run_calibration(const Options& o, const sc::rmt::CheckProgress& report_progress, sc::cli::ProgressLine& progress,
                    int argc, char** argv) {
  sc::rmt::CalibrationOptions c;
  c.check = o.check;
  c.seeds = o.calibrate;
  c.first_seed = o.common.seed;
  if (o.calibrate < 2) throw std::invalid_argument("--calibrate must be >= 2 (independent estimates per k), got " +
                                                    std::to_string(o.calibrate));
  std::string why;
  if (!c.IsValid(&why)) throw std::invalid_argument(why);
  const sc::rmt::CalibrationResult result = sc::rmt::calibrate(c, report_progress);
  progress.finish();
  const nlohmann::json summary = sc::report::calibration_json(result);
  if (!o.out.empty()) {
    sc::cli::write_result_file(o.out, "rmt-check", argc, argv, o.common.seed, "", summary, [&](hid_t file) {
      sc::io::h5::write_attribute(file, "settings", sc::report::settings_json(o.check, o.common.seed).dump());
      sc::report::write_calibration(file, result);
    });
  }
  if (o.common.json)
    sc::cli::print_json(summary);
  else
    std::cout << sc::report::calibration_table(result);
  return sc::cli::kSuccess;
}

int run(Options& o, int argc, char** argv) {
  sc::cli::check_file_flags({}, {{"--out", o.out}});
  // A refused value names its flag ("--method: unknown method 'x' (known: ...)").
  o.check.ensemble.kind = sc::cli::parse_flag("--ensemble", [&] { return sc::rmt::kEnsembleNames.parse(o.ensemble); });
  o.check.ks = sc::cli::parse_flag("--k", [&] { return sc::cli::parse_k_list(o.k); });
  o.check.method = sc::cli::parse_flag("--method", [&] { return sc::rmt::kMethodNames.parse(o.method); });
  o.check.monte_carlo.sampler = sc::cli::parse_flag("--sampler", [&] { return sc::rmt::kSamplerNames.parse(o.sampler); });
  o.check.splitting.moves =
      sc::cli::parse_flag("--splitting-moves", [&] { return sc::rmt::kSplittingMovesNames.parse(o.moves); });
  if (o.check.splitting.moves == sc::rmt::SplittingMoves::kEigenvalueGas &&
      !sc::rmt::Ensemble(o.check.ensemble, o.check.ks.front()).has_tridiagonal_model())
    throw std::invalid_argument("--splitting-moves eigenvalues needs --ensemble goe or goe-shift");
  if (o.check.splitting.moves == sc::rmt::SplittingMoves::kRows &&
      o.check.ensemble.kind != sc::rmt::EnsembleKind::kHessian)
    throw std::invalid_argument("--splitting-moves rows needs --ensemble hessian");
  if (o.repetitions_flag->count() > 0) o.check.splitting.repetitions = o.check.integration.repetitions = o.repetitions;
  std::string why;
  if (!o.check.IsValid(&why)) throw std::invalid_argument(why);
  // A tridiagonal request on a non-GOE ensemble, or k beyond an objective's dimension, fails here.
  for (int k : o.check.ks) sc::rmt::Ensemble(o.check.ensemble, k);
  if (o.check.monte_carlo.sampler == sc::rmt::Sampler::kTridiagonal &&
      !sc::rmt::Ensemble(o.check.ensemble, o.check.ks.front()).has_tridiagonal_model())
    throw std::invalid_argument("--sampler tridiagonal needs --ensemble goe or goe-shift");
  sc::cli::apply_threads(o.common.threads);
  if (o.check.method == sc::rmt::Method::kIntegration && o.check.ensemble.kind == sc::rmt::EnsembleKind::kWishart &&
      o.check.ensemble.shift >= 0.0)  // IsValid has checked m >= k
    std::cerr << "rmt-check: note: wishart with m >= k at --shift >= 0 is positive definite: P = 1 exactly, "
                 "nothing to estimate\n";

  sc::cli::ProgressLine progress("rmt-check", o.common.json);
  const sc::rmt::CheckProgress report_progress = [&](const std::string& stage, std::int64_t done, std::int64_t total) {
    progress.update(stage, done, total);
  };
  if (o.calibrate != 0) return run_calibration(o, report_progress, progress, argc, argv);
  const sc::rmt::CheckResult result = sc::rmt::run_check(o.check, o.common.seed, report_progress);
  progress.finish();
  const nlohmann::json summary = sc::report::to_json(result, o.check, o.common.seed);
  if (!o.out.empty()) {
    sc::cli::write_result_file(o.out, "rmt-check", argc, argv, o.common.seed, "", summary, [&](hid_t file) {
      sc::io::h5::write_attribute(file, "settings", sc::report::settings_json(o.check, o.common.seed).dump());
      sc::report::write_check(file, result);
    });
  }
  if (o.common.json) {
    sc::cli::print_json(summary);
  } else {
    std::cout << (o.table ? sc::report::markdown_table(result) : sc::report::summary_text(result, o.check, o.common.seed));
    if (!o.table && !o.out.empty()) std::cout << "result file " << o.out << "\n";
  }
  // A splitting run that did not reach the event gives an upper bound, not an estimate (rmt/splitting.h).
  for (const sc::rmt::KResult& r : result.results)
    if (r.method_used == sc::rmt::Method::kSplitting && r.splitting.status != sc::rmt::SplittingStatus::kConverged) {
      std::cerr << "rmt-check: k = " << r.k << ": splitting " << sc::rmt::to_string(r.splitting.status)
                << " before reaching the event; the result is an upper bound only\n";
      return sc::cli::kComputationFailed;
    }
  return sc::cli::kSuccess;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("Test the 0.5^k argument: P(all k eigenvalues > 0) of random symmetric matrices by Monte Carlo with "
               "exact intervals, by subset simulation for rare events, and exactly for the GOE.",
               "rmt-check");
  Options options;
  setup(app, options);
  return sc::cli::run_tool(app, argc, argv, [&] { return run(options, argc, argv); });
}
