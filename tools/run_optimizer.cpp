// run-optimizer: run any optimizer (torch-named or textbook) with schedules, clipping, gradient noise
// and saddle escape on a test function or a checkpointed objective, keeping a crash-safe HDF5 run log.
#include <atomic>
#include <csignal>
#include <fstream>
#include <iostream>

#include "cli/app.h"
#include "cli/config_file.h"
#include "cli/file_flags.h"
#include "cli/optimizer_flags.h"
#include "cli/progress.h"
#include "io/checkpoint.h"
#include "parallel/parallel.h"
#include "io/error.h"
#include "optim/trainer.h"
#include "problem/problem.h"
#include "report/training.h"

namespace sc = saddlescope;

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true); }

struct Options {
  sc::cli::ProblemOptions source;
  std::string log, out;
  std::int64_t steps = 100;
  std::int64_t flush_every = 1000;
  double flush_seconds = 1.0;
  std::string schedule = "constant", warmup;
  std::int64_t milestone = 0;
  sc::cli::OptimizerFlags optim;  // --optimizer, hyper-parameters, --escape and its settings, --grad-noise
  sc::optim::TrainerOptions trainer;
  sc::cli::CommonOptions common;
};

void setup(CLI::App& app, Options& o) {
  // The checkpoint (positional, or --checkpoint FILE) or --problem SPEC (a test function spec such as
  // rosenbrock:n=4, or a JSON objective spec); --at (or --x0) replaces the starting point.
  sc::cli::add_problem_options(app, o.source, "rosenbrock:n=4, saddle, or a JSON objective spec",
                               {sc::cli::ProblemFlags::At::kOptional, /*old_aliases=*/true});
  o.source.data_parallel = true;  // under mpirun each rank reads its rows of the data (docs/distributed.md)
  sc::cli::add_optimizer_flags(app, o.optim);
  app.add_option("--schedule", o.schedule,
                 "LR schedule: constant, step:step_size=S,gamma=G, exponential:gamma=G, cosine:T_max=T,eta_min=E, "
                 "cosine_warm_restarts:T_0=T,T_mult=M, linear:start_factor=A,end_factor=B,total_iters=N")
      ->capture_default_str();
  app.add_option("--warmup", o.warmup, "Warm-up schedule before --schedule (torch SequentialLR), e.g. "
                                       "linear:start_factor=0.1,total_iters=10");
  app.add_option("--milestone", o.milestone, "Step where --schedule takes over from --warmup (default: its total_iters)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--clip-norm", o.trainer.clip.max_norm, "Clip the gradient 2-norm to this (0: off)")->capture_default_str();
  app.add_option("--clip-value", o.trainer.clip.clip_value, "Clip gradient entries to [-v, v] (0: off)")->capture_default_str();
  app.add_option("--steps", o.steps, "Optimizer steps (resuming from a checkpoint: steps beyond its step)")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--batch-size", o.trainer.batch_size, "Mini-batch size (0: full batch; data objectives only)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--stop-grad-norm", o.trainer.stop_grad_norm, "Stop when |g| <= this (0: never)")->capture_default_str();
  app.add_option("--log", o.log, "HDF5 run log (SWMR, flushed periodically)");
  app.add_option("--flush-every", o.flush_every, "Flush the log every N steps")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--flush-seconds", o.flush_seconds, "... or every S seconds")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--trajectory-every", o.trainer.trajectory_every, "Log the parameters every K steps (0: off)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--curvature-every", o.trainer.curvature_every, "Curvature probe (lambda_min, lambda_max) every K steps")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--curvature-dense-threshold", o.trainer.probe.dense_max_dim,
                 "Curvature probes (and the negative-curvature escape): largest n decomposed densely (n Hessian-vector "
                 "products); above it Lanczos (0: always Lanczos)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--curvature-tol", o.trainer.probe.tolerance,
                 "Curvature probes, Lanczos path: converged when |Hv - lambda v| <= tol*|H|_est")
      ->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--histogram-every", o.trainer.histograms.every,
                 "Per-layer histograms of weights, gradients and updates every K steps into --log (0: off)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--histogram-bins", o.trainer.histograms.bins, "Histogram bins per layer and quantity (edges fixed for the run)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{4096}))->capture_default_str();
  app.add_option("--histogram-widen", o.trainer.histograms.widen,
                 "Histogram range: the first histogram step's range per layer, widened by this factor (>= 1)")
      ->capture_default_str();
  app.add_option("--checkpoint-every", o.trainer.checkpoint_every, "Checkpoint every K steps next to --out")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--out", o.out, "Final checkpoint (HDF5; classify-critical reads it)");
  sc::cli::add_common_options(app, o.common);
  sc::cli::add_config_file_option(app);
}

// Schedule, escape, gradient noise and the trainer's own settings from the flags, validated.
void configure_trainer(Options& o) {
  o.trainer.steps = o.steps;
  o.trainer.seed = o.common.seed;
  o.trainer.schedule.main = sc::cli::parse_flag("--schedule", [&] { return sc::optim::ScheduleConfig::parse(o.schedule); });
  if (!o.warmup.empty())
    o.trainer.schedule.warmup = sc::cli::parse_flag("--warmup", [&] { return sc::optim::ScheduleConfig::parse(o.warmup); });
  o.trainer.schedule.milestone = o.milestone;
  o.trainer.escape = sc::cli::escape_options(o.optim);
  o.trainer.noise = sc::cli::grad_noise_options(o.optim);
  o.trainer.stop_requested = &g_stop;
  std::string why;
  if (!o.trainer.IsValid(&why)) throw std::invalid_argument(why);
  if (o.trainer.histograms.every > 0 && o.log.empty())
    throw std::invalid_argument("--histogram-every needs --log FILE.h5 (the histograms are written to the run log)");
  if (o.trainer.checkpoint_every > 0 && o.out.empty())
    throw std::invalid_argument("--checkpoint-every needs --out FILE.h5 (periodic checkpoints are written next to it)");
}

// The run log's /config: everything that decides the run.
nlohmann::json run_config(const Options& o, const sc::problem::Problem& problem, const sc::optim::OptimizerConfig& config) {
  const auto& f = *problem.objective;
  nlohmann::json c = {{"problem", f.description()},
                      {"objective_spec", f.spec()},
                      {"source", problem.source},
                      {"optimizer", config.kind == sc::optim::OptimizerKind::gd ? "gd" : sc::optim::to_string(config.kind)},
                      {"hyperparameters", config.to_json()},
                      {"schedule", o.trainer.schedule.to_json()},
                      {"escape", o.trainer.escape.to_json()},
                      {"grad_noise", {{"eta", o.trainer.noise.eta}, {"gamma", o.trainer.noise.gamma}}},
                      {"clip", {{"max_norm", o.trainer.clip.max_norm}, {"clip_value", o.trainer.clip.clip_value}}},
                      {"curvature_probe", {{"dense_threshold", o.trainer.probe.dense_max_dim}, {"tol", o.trainer.probe.tolerance}}},
                      {"steps", o.steps},
                      {"first_step", o.trainer.first_step},
                      {"batch_size", o.trainer.batch_size},
                      {"seed", o.common.seed},
                      {"x0", std::vector<double>(problem.point.data(), problem.point.data() + problem.point.size())}};
  if (problem.point.size() > 1000) c.erase("x0");
  if (o.trainer.histograms.every > 0)
    c["histograms"] = {{"every", o.trainer.histograms.every}, {"bins", o.trainer.histograms.bins},
                       {"widen", o.trainer.histograms.widen}, {"edges_from_checkpoint", o.trainer.histograms.edges.has_value()}};
  return c;
}

// SIGINT/SIGTERM finish the current step, flush the log and end the run as "interrupted".
void stop_on_signals() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

int run(Options& o, int argc, char** argv) {
  sc::cli::check_file_flags({{"checkpoint", o.source.checkpoint}}, {{"--log", o.log}, {"--out", o.out}});
  sc::cli::apply_threads(o.common.threads);
  const sc::problem::Problem problem = sc::cli::load_problem(o.source);
  const auto& f = *problem.objective;
  const sc::io::Checkpoint* source = problem.checkpoint.get();  // null for --problem
  // Under mpirun the data set is sharded (o.source.data_parallel); rank 0 alone writes checkpoints, and
  // they carry the whole data set, so it reads that once more in full for them.
  std::optional<sc::io::Checkpoint> whole;
  if (source && source->data && sc::parallel::size() > 1 && sc::cli::writes_files() && !o.out.empty())
    source = &whole.emplace(sc::io::read_checkpoint(problem.input_path));
  const auto config = sc::cli::optimizer_config(o.optim);
  auto optimizer = sc::optim::make_optimizer(config);
  if (source) sc::optim::resume_from_checkpoint(*optimizer, *source, problem.input_path);
  // A resumed run keeps the histogram bins of the run it continues (same blocks and bin count).
  if (source && source->histogram_edges)
    o.trainer.histograms.edges = sc::optim::from_file(*source->histogram_edges, f.parameter_blocks(), o.trainer.histograms.bins);
  configure_trainer(o);
  // A checkpoint's run continues at its step: schedule, batches, noise and step numbers (trainer.h).
  if (source) o.trainer.first_step = sc::optim::resume_step(*source);
  // Batch norm in train mode: its running statistics advance every step, as torch's do.
  o.trainer.training_state = dynamic_cast<sc::objective::TrainingState*>(problem.objective.get());

  const auto provenance = sc::cli::provenance("run-optimizer", argc, argv, {{"seed", o.common.seed}});
  std::vector<sc::optim::Recorder*> recorders;
  std::optional<sc::report::RunLogRecorder> log;
  if (!o.log.empty() && sc::cli::writes_files()) {
    sc::report::RunLogRecorderOptions lo;
    lo.log.flush_every_steps = o.flush_every;
    lo.log.flush_every_seconds = o.flush_seconds;
    recorders.push_back(&log.emplace(o.log, provenance, run_config(o, problem, config), lo));
  }
  std::optional<sc::report::CheckpointRecorder> checkpoints;
  if (!o.out.empty() && sc::cli::writes_files()) recorders.push_back(&checkpoints.emplace(o.out, provenance, source));
  sc::cli::ProgressLine progress_line("run-optimizer", o.common.json);
  sc::cli::TrainingProgress progress(progress_line);
  recorders.push_back(&progress);
  stop_on_signals();

  sc::objective::Vector x = problem.point;
  sc::optim::TrainSummary summary;
  try {
    summary = sc::optim::train(f, x, *optimizer, o.trainer, recorders);
  } catch (...) {
    if (log) {
      try {
        log->abort_with_status("failed");
      } catch (...) {
      }
    }
    throw;
  }

  if (o.common.json) {
    nlohmann::json out = sc::report::to_json(summary);
    out["objective"] = f.description();
    out["optimizer"] = config.to_json();
    out["schedule"] = o.trainer.schedule.to_json();
    out["escape"] = sc::optim::to_string(o.trainer.escape.kind);
    if (x.size() <= 20 && x.allFinite()) out["final_point"] = std::vector<double>(x.data(), x.data() + x.size());
    if (!o.log.empty()) out["log"] = o.log;
    if (checkpoints) out["checkpoints"] = checkpoints->written;
    sc::cli::print_json(out);
  } else {
    const std::string last = checkpoints && !checkpoints->written.empty() ? checkpoints->written.back() : "";
    std::cout << sc::report::summary_text(summary, x, {sc::optim::to_string(config.kind), f.description(), problem.source,
                                                       o.log, last});
  }
  return summary.status == sc::optim::RunStatus::finished ? sc::cli::kSuccess : sc::cli::kComputationFailed;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("Run an optimizer (torch.optim names and defaults, or gd/newton/saddle_free_newton) with schedules, "
               "clipping, gradient noise and saddle escape, logging every step to a crash-safe HDF5 run log.",
               "run-optimizer");
  Options options;
  setup(app, options);
  return sc::cli::run_tool(app, argc, argv, [&] { return run(options, argc, argv); });
}
