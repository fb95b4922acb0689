// run-optimizer: run any optimizer (torch-named or textbook) with schedules, clipping, gradient noise
// and saddle escape on a test function or a checkpointed objective, keeping a crash-safe HDF5 run log.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <iostream>

#include "cli/app.h"
#include "cli/config_file.h"
#include "cli/optimizer_flags.h"
#include "io/checkpoint.h"
#include "io/error.h"
#include "io/json_text.h"
#include "objective/test_functions.h"
#include "optim/recorders.h"
#include "optim/trainer.h"
#include "problem/problem.h"
#include "text/format.h"

namespace sc = saddlescope;

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true); }

struct Options {
  std::string problem, checkpoint, x0;
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
  auto* problem = app.add_option("--problem", o.problem,
                                 "Test function spec (e.g. rosenbrock:n=4, saddle) or a JSON objective spec");
  auto* checkpoint = app.add_option("--checkpoint", o.checkpoint, "Start from a checkpoint (objective, point, data)");
  problem->excludes(checkpoint);
  app.add_option("--x0", o.x0, "Start point x1,x2,... (default: the test function's documented start)");
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
  app.add_option("--steps", o.steps, "Optimizer steps")->check(CLI::NonNegativeNumber)->capture_default_str();
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
  app.add_option("--checkpoint-every", o.trainer.checkpoint_every, "Checkpoint every K steps next to --out")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--out", o.out, "Final checkpoint (HDF5; classify-critical reads it)");
  sc::cli::add_common_options(app, o.common);
  sc::cli::add_config_file_option(app);
}

int run(Options& o, int argc, char** argv) {
  if (o.problem.empty() && o.checkpoint.empty()) throw std::invalid_argument("give --problem SPEC or --checkpoint FILE");
  sc::cli::apply_threads(o.common.threads);

  // The problem and the start point.
  sc::problem::Problem problem;
  std::optional<sc::io::Checkpoint> source;
  if (!o.checkpoint.empty()) {
    problem = sc::problem::load_checkpoint_problem(o.checkpoint);
    source = sc::io::read_checkpoint(o.checkpoint);
  } else if (!o.problem.empty() && o.problem.front() == '{') {
    std::string why;
    const auto spec = sc::io::parse_json_bounded(o.problem, &why);
    if (spec.is_discarded()) throw std::invalid_argument("--problem: " + why);
    problem.objective = sc::problem::make_objective(spec, nullptr);
    problem.source = "problem " + o.problem;
  } else {
    problem.objective = sc::problem::make_objective({{"kind", "function"}, {"function", o.problem}}, nullptr);
    problem.source = "problem " + o.problem;
  }
  const auto& f = *problem.objective;
  if (!o.x0.empty()) {
    problem.point = sc::problem::parse_point(o.x0, f.dim(), "--x0");
  } else if (problem.point.size() == 0) {
    const auto* tf = dynamic_cast<const sc::objective::TestFunction*>(&f);
    if (tf == nullptr) throw std::invalid_argument("--x0 is needed: " + f.description() + " has no default start");
    problem.point = tf->default_start();
  }

  // Optimizer, schedule, escape, noise.
  const auto config = sc::cli::optimizer_config(o.optim);
  auto optimizer = sc::optim::make_optimizer(config);
  if (source) sc::optim::resume_from_checkpoint(*optimizer, *source, o.checkpoint);
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
  if (o.trainer.checkpoint_every > 0 && o.out.empty())
    throw std::invalid_argument("--checkpoint-every needs --out FILE.h5 (periodic checkpoints are written next to it)");

  const nlohmann::json seeds = {{"seed", o.common.seed}};
  const auto provenance = sc::cli::provenance("run-optimizer", argc, argv, seeds);
  nlohmann::json run_config = {{"problem", f.description()},
                               {"objective_spec", f.spec()},
                               {"source", problem.source},
                               {"optimizer", config.kind == sc::optim::OptimizerKind::gd ? "gd" : sc::optim::to_string(config.kind)},
                               {"hyperparameters", config.to_json()},
                               {"schedule", o.trainer.schedule.to_json()},
                               {"escape", o.trainer.escape.to_json()},
                               {"grad_noise", {{"eta", o.trainer.noise.eta}, {"gamma", o.trainer.noise.gamma}}},
                               {"clip", {{"max_norm", o.trainer.clip.max_norm}, {"clip_value", o.trainer.clip.clip_value}}},
                               {"steps", o.steps},
                               {"batch_size", o.trainer.batch_size},
                               {"seed", o.common.seed},
                               {"x0", std::vector<double>(problem.point.data(), problem.point.data() + problem.point.size())}};
  if (problem.point.size() > 1000) run_config.erase("x0");

  std::vector<sc::optim::Recorder*> recorders;
  std::optional<sc::optim::RunLogRecorder> log;
  if (!o.log.empty()) {
    sc::optim::RunLogRecorderOptions lo;
    lo.log.flush_every_steps = o.flush_every;
    lo.log.flush_every_seconds = o.flush_seconds;
    log.emplace(o.log, provenance, run_config, lo);
    recorders.push_back(&*log);
  }
  std::optional<sc::optim::CheckpointRecorder> checkpoints;
  if (!o.out.empty()) {
    checkpoints.emplace(o.out, provenance, source ? &*source : nullptr);
    recorders.push_back(&*checkpoints);
  }
  std::optional<sc::optim::ProgressBarRecorder> bar;
  if (isatty(STDERR_FILENO) && !o.common.json) {
    bar.emplace(std::cerr);
    recorders.push_back(&*bar);
  }

  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

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

  nlohmann::json out = summary.to_json();
  out["objective"] = f.description();
  out["optimizer"] = config.to_json();
  out["schedule"] = o.trainer.schedule.to_json();
  out["escape"] = sc::optim::to_string(o.trainer.escape.kind);
  if (x.size() <= 20 && x.allFinite()) out["final_point"] = std::vector<double>(x.data(), x.data() + x.size());
  if (!o.log.empty()) out["log"] = o.log;
  if (checkpoints) out["checkpoints"] = checkpoints->written;
  if (o.common.json) {
    sc::cli::print_json(out);
  } else {
    auto line = [](const std::string& k, const std::string& v) { std::cout << "  " << std::left << std::setw(20) << k << v << "\n"; };
    std::cout << "run-optimizer: " << sc::optim::to_string(config.kind) << " on " << f.description() << " (n = " << f.dim()
              << ") from " << problem.source << "\n";
    line("status", sc::optim::to_string(summary.status) + " (" + summary.message + ")");
    line("steps", std::to_string(summary.steps_taken));
    line("loss", sc::text::format_number(summary.initial_loss) + " -> " + sc::text::format_number(summary.final_loss));
    line("final |grad|", sc::text::format_number(summary.final_grad_norm));
    if (x.size() <= 6 && x.allFinite()) {
      std::string p;
      for (Eigen::Index i = 0; i < x.size(); ++i) p += (i ? ", " : "") + sc::text::format_number(x(i), 10);
      line("final point", "(" + p + ")");
    }
    if (summary.perturbations) line("perturbations", std::to_string(summary.perturbations));
    if (summary.negative_curvature_steps) line("neg.-curv. steps", std::to_string(summary.negative_curvature_steps));
    if (summary.saddles_detected) line("saddles detected", std::to_string(summary.saddles_detected));
    if (summary.clipped_steps) line("clipped steps", std::to_string(summary.clipped_steps));
    if (!o.log.empty()) line("run log", o.log);
    if (checkpoints && !checkpoints->written.empty()) line("checkpoint", checkpoints->written.back());
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
