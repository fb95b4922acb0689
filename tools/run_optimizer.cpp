// run-optimizer: run any optimizer (torch-named or textbook) with schedules, clipping, gradient noise
// and saddle escape on a test function or a checkpointed objective, keeping a crash-safe HDF5 run log.
#include <atomic>
#include <csignal>
#include <fstream>
#include <iostream>

#include "cli/app.h"
#include "cli/progress.h"
#include "io/checkpoint.h"
#include "io/error.h"
#include "optim/trainer.h"
#include "problem/problem.h"
#include "report/training.h"

namespace sc = saddlescope;

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true); }

// --config FILE: JSON (an object whose keys are the long flag names, '_' or '-', values as on the
// command line or as JSON numbers, booleans and arrays), or CLI11's TOML/INI format.
class JsonOrTomlConfig : public CLI::ConfigTOML {
 public:
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    std::string text((std::istreambuf_iterator<char>(input)), std::istreambuf_iterator<char>());
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos || text[first] != '{') {
      std::istringstream again(text);
      return CLI::ConfigTOML::from_config(again);
    }
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw CLI::ConversionError("--config: not a JSON object");
    std::vector<CLI::ConfigItem> items;
    for (const auto& [key, value] : j.items()) {
      CLI::ConfigItem item;
      item.name = key;
      std::replace(item.name.begin(), item.name.end(), '_', '-');
      auto text_of = [](const nlohmann::json& v) {
        if (v.is_string()) return v.get<std::string>();
        if (v.is_boolean()) return std::string(v.get<bool>() ? "true" : "false");
        return v.dump();
      };
      if (value.is_array()) {
        std::string joined;
        for (const auto& v : value) joined += (joined.empty() ? "" : ",") + text_of(v);
        item.inputs = {joined};
      } else if (value.is_object()) {
        item.inputs = {value.dump()};
      } else {
        item.inputs = {text_of(value)};
      }
      items.push_back(std::move(item));
    }
    return items;
  }
};

struct Options {
  sc::cli::ProblemOptions source;
  std::string optimizer = "sgd";
  std::string log, out;
  std::int64_t steps = 100;
  std::int64_t flush_every = 1000;
  double flush_seconds = 1.0;
  std::string schedule = "constant", warmup;
  std::int64_t milestone = 0;
  std::string escape = "none";
  std::string grad_noise;
  sc::optim::TrainerOptions trainer;
  sc::cli::CommonOptions common;
  // Hyper-parameter flags, kept as text and applied only when given (torch's per-optimizer defaults).
  std::map<std::string, std::string> hyper;
};

// Flags named as torch's keyword arguments (dashes for underscores).
const std::vector<std::pair<std::string, std::string>> kHyperFlags = {
    {"lr", "learning rate"},
    {"momentum", "momentum factor (sgd, rmsprop)"},
    {"dampening", "dampening for momentum (sgd)"},
    {"nesterov", "Nesterov momentum (sgd): true/false"},
    {"weight-decay", "L2 penalty (adamw: decoupled)"},
    {"lr-decay", "learning-rate decay (adagrad)"},
    {"initial-accumulator-value", "initial accumulator (adagrad)"},
    {"eps", "term added to the denominator"},
    {"alpha", "smoothing constant (rmsprop)"},
    {"centered", "centered RMSprop: true/false"},
    {"rho", "coefficient of the running average (adadelta)"},
    {"betas", "adam/adamw coefficients, e.g. 0.9,0.999"},
    {"amsgrad", "AMSGrad variant: true/false"},
    {"maximize", "maximize instead of minimize: true/false"},
    {"damping", "damping added to H or |H| (newton, saddle_free_newton)"},
    {"subspace", "saddle_free_newton: dense or krylov"},
    {"krylov-dim", "saddle_free_newton krylov subspace dimension"},
    {"krylov-inner-steps", "saddle_free_newton krylov: steps per subspace (Dauphin et al. 2014, Alg. 1)"},
    {"krylov-damping-grid", "saddle_free_newton krylov: damping values searched per step (1: fixed damping)"},
    {"max-iter", "lbfgs inner iterations per step"},
    {"max-eval", "lbfgs evaluations per step"},
    {"tolerance-grad", "lbfgs first-order tolerance"},
    {"tolerance-change", "lbfgs step/loss change tolerance"},
    {"history-size", "lbfgs history size"},
    {"line-search-fn", "lbfgs line search: strong_wolfe or none"}};

nlohmann::json hyper_json(const Options& o) {
  nlohmann::json j = {{"optimizer", o.optimizer}};
  for (const auto& [flag, text] : o.hyper) {
    std::string key = flag;
    std::replace(key.begin(), key.end(), '-', '_');
    const bool is_bool = key == "nesterov" || key == "centered" || key == "amsgrad" || key == "maximize";
    if (is_bool) {
      if (text != "true" && text != "false" && text != "1" && text != "0")
        throw std::invalid_argument("--" + flag + " must be true or false, got '" + text + "'");
      j[key] = text == "true" || text == "1";
    } else if (key == "subspace") {
      j[key] = text;
    } else if (key == "line_search_fn") {
      j[key] = (text == "none" || text.empty()) ? nlohmann::json(nullptr) : nlohmann::json(text);
    } else if (key == "betas") {
      const auto comma = text.find(',');
      if (comma == std::string::npos) throw std::invalid_argument("--betas needs two numbers, e.g. 0.9,0.999");
      try {
        j[key] = {std::stod(text.substr(0, comma)), std::stod(text.substr(comma + 1))};
      } catch (const std::exception&) {
        throw std::invalid_argument("--betas needs two numbers, e.g. 0.9,0.999, got '" + text + "'");
      }
    } else {
      try {
        std::size_t used = 0;
        const double v = std::stod(text, &used);
        if (used != text.size()) throw std::invalid_argument("");
        const bool integer = key == "krylov_dim" || key == "krylov_inner_steps" || key == "krylov_damping_grid" ||
                             key == "max_iter" || key == "max_eval" || key == "history_size";
        if (integer) {
          if (v != std::floor(v)) throw std::invalid_argument("");
          j[key] = static_cast<std::int64_t>(v);
        } else {
          j[key] = v;
        }
      } catch (const std::exception&) {
        throw std::invalid_argument("--" + flag + " must be a number, got '" + text + "'");
      }
    }
  }
  return j;
}

void setup(CLI::App& app, Options& o) {
  // The checkpoint (positional, or --checkpoint FILE) or --problem SPEC (a test function spec such as
  // rosenbrock:n=4, or a JSON objective spec); --at (or --x0) replaces the starting point.
  sc::cli::add_problem_options(app, o.source, "rosenbrock:n=4, saddle, or a JSON objective spec",
                               {sc::cli::ProblemFlags::At::kOptional, /*old_aliases=*/true});
  app.add_option("--optimizer", o.optimizer, "gd, sgd, adagrad, rmsprop, adadelta, adam, adamw, newton, "
                                             "saddle_free_newton, lbfgs")
      ->capture_default_str();
  for (const auto& [flag, help] : kHyperFlags) {
    app.add_option_function<std::string>("--" + flag, [&o, flag = flag](const std::string& v) { o.hyper[flag] = v; },
                                         help + " (torch's default for the optimizer when not given)");
  }
  app.add_option("--schedule", o.schedule,
                 "LR schedule: constant, step:step_size=S,gamma=G, exponential:gamma=G, cosine:T_max=T,eta_min=E, "
                 "cosine_warm_restarts:T_0=T,T_mult=M, linear:start_factor=A,end_factor=B,total_iters=N")
      ->capture_default_str();
  app.add_option("--warmup", o.warmup, "Warm-up schedule before --schedule (torch SequentialLR), e.g. "
                                       "linear:start_factor=0.1,total_iters=10");
  app.add_option("--milestone", o.milestone, "Step where --schedule takes over from --warmup (default: its total_iters)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--escape", o.escape, "Saddle escape: none, perturb, negative_curvature")
      ->check(CLI::IsMember({"none", "perturb", "negative_curvature"}))
      ->capture_default_str();
  auto& pe = o.trainer.escape.perturb;
  app.add_option("--perturb-epsilon", pe.epsilon, "perturb: target gradient accuracy epsilon (Jin et al. 2017)")->capture_default_str();
  app.add_option("--perturb-ell", pe.ell, "perturb: smoothness l (0: 1/lr)")->capture_default_str();
  app.add_option("--perturb-rho", pe.rho, "perturb: Hessian-Lipschitz rho")->capture_default_str();
  app.add_option("--perturb-radius", pe.radius, "perturb: ball radius r (0: the paper's formula)")->capture_default_str();
  app.add_option("--perturb-g-thres", pe.g_thres, "perturb: gradient threshold (0: the paper's formula)")->capture_default_str();
  app.add_option("--perturb-t-thres", pe.t_thres, "perturb: steps between perturbations (0: the paper's formula)")->capture_default_str();
  auto& nc = o.trainer.escape.negative_curvature;
  app.add_option("--nc-grad-threshold", nc.grad_threshold, "negative_curvature: act when |g| <= this")->capture_default_str();
  app.add_option("--nc-rho", nc.rho, "negative_curvature: Hessian-Lipschitz rho (0: estimate)")->capture_default_str();
  app.add_option("--nc-max-step", nc.max_step, "negative_curvature: step length cap")->capture_default_str();
  app.add_option("--grad-noise", o.grad_noise, "Gradient noise ETA,GAMMA: sigma_t^2 = ETA/(1+t)^GAMMA (Neelakantan 2015)");
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
  app.set_config("--config", "", "JSON (or TOML) file with the same options, keys as the long flag names");
  app.config_formatter(std::make_shared<JsonOrTomlConfig>());
}

// Schedule, escape, gradient noise and the trainer's own settings from the flags, validated.
void configure_trainer(Options& o) {
  o.trainer.steps = o.steps;
  o.trainer.seed = o.common.seed;
  o.trainer.schedule.main = sc::cli::parse_flag("--schedule", [&] { return sc::optim::ScheduleConfig::parse(o.schedule); });
  if (!o.warmup.empty())
    o.trainer.schedule.warmup = sc::cli::parse_flag("--warmup", [&] { return sc::optim::ScheduleConfig::parse(o.warmup); });
  o.trainer.schedule.milestone = o.milestone;
  o.trainer.escape.kind = sc::optim::kEscapeNames.parse(o.escape);
  if (!o.grad_noise.empty()) {
    const auto comma = o.grad_noise.find(',');
    try {
      o.trainer.noise.eta = std::stod(o.grad_noise.substr(0, comma));
      if (comma != std::string::npos) o.trainer.noise.gamma = std::stod(o.grad_noise.substr(comma + 1));
    } catch (const std::exception&) {
      throw std::invalid_argument("--grad-noise needs ETA,GAMMA, e.g. 0.01,0.55, got '" + o.grad_noise + "'");
    }
  }
  o.trainer.stop_requested = &g_stop;
  std::string why;
  if (!o.trainer.IsValid(&why)) throw std::invalid_argument(why);
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
                      {"steps", o.steps},
                      {"batch_size", o.trainer.batch_size},
                      {"seed", o.common.seed},
                      {"x0", std::vector<double>(problem.point.data(), problem.point.data() + problem.point.size())}};
  if (problem.point.size() > 1000) c.erase("x0");
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
  sc::cli::apply_threads(o.common.threads);
  const sc::problem::Problem problem = sc::cli::load_problem(o.source);
  const auto& f = *problem.objective;
  const sc::io::Checkpoint* source = problem.checkpoint.get();  // null for --problem
  const auto config = sc::optim::OptimizerConfig::from_json(hyper_json(o));
  auto optimizer = sc::optim::make_optimizer(config);
  if (source && source->optimizer_state && source->optimizer_state->config.value("optimizer", "") == o.optimizer)
    optimizer->load_state(*source->optimizer_state);
  configure_trainer(o);

  const auto provenance = sc::cli::provenance("run-optimizer", argc, argv, {{"seed", o.common.seed}});
  std::vector<sc::optim::Recorder*> recorders;
  std::optional<sc::report::RunLogRecorder> log;
  if (!o.log.empty()) {
    sc::report::RunLogRecorderOptions lo;
    lo.log.flush_every_steps = o.flush_every;
    lo.log.flush_every_seconds = o.flush_seconds;
    recorders.push_back(&log.emplace(o.log, provenance, run_config(o, problem, config), lo));
  }
  std::optional<sc::report::CheckpointRecorder> checkpoints;
  if (!o.out.empty()) recorders.push_back(&checkpoints.emplace(o.out, provenance, source));
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
    nlohmann::json out = summary.to_json();
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
