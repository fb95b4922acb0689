// bench-optim: optimizer step cost per parameter (n = 10^6 by default) for sgd with momentum and adam,
// against torch.optim (foreach=True) measured in the same run by tools/bench/bench_optim_torch.py
// with Debian's /usr/bin/python3, and the run log's overhead on whole Trainer steps (the medium MLP
// on digits with mini-batches, and a cheap test-function step).
// Emits one JSON object (context block, then the results side by side with ratios).
//   build/bin/bench-optim [--n 1000000] [--repeats 50] [--threads 1] [--python /usr/bin/python3]
//                         [--log-mlp-steps 1000] [--log-batch-size 64] [--log-repeats 5]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/app.h"
#include "io/provenance.h"
#include "models/datasets.h"
#include "models/network.h"
#include "objective/test_functions.h"
#include "report/training.h"
#include "optim/trainer.h"
#include "random/random.h"

namespace sc = saddlescope;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median seconds of one optimizer.step on n parameters with a fixed gradient (as torch's opt.step()
// with p.grad set), after 5 warm-up steps.
double step_seconds(const sc::optim::OptimizerConfig& config, Eigen::Index n, int repeats) {
  sc::random::Rng rng(1, 0);
  Eigen::VectorXd x(n), g(n);
  for (Eigen::Index i = 0; i < n; ++i) x(i) = rng.normal(), g(i) = rng.normal();
  auto optimizer = sc::optim::make_optimizer(config);
  sc::optim::StepInput in;
  in.gradient = &g;
  in.lr = config.lr;
  std::vector<double> times;
  for (int r = 0; r < repeats + 5; ++r) {
    const auto t0 = Clock::now();
    optimizer->step(x, in);
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    if (r >= 5) times.push_back(dt);
  }
  return median(times);
}

// Forwards every hook to the run-log recorder and adds up the time spent in it (file creation,
// rows, flushes, close): the log's own cost, measured directly instead of as a difference of two
// noisy run times.
class TimedRecorder : public sc::optim::Recorder {
 public:
  explicit TimedRecorder(sc::optim::Recorder& inner) : inner_(inner) {}
  void begin(const sc::optim::RunInfo& i) override { timed([&] { inner_.begin(i); }); }
  void on_step(const sc::optim::StepRecord& r) override { timed([&] { inner_.on_step(r); }); }
  void on_trajectory(std::int64_t t, const sc::optim::Vector& x) override { timed([&] { inner_.on_trajectory(t, x); }); }
  void on_curvature(std::int64_t t, const sc::optim::CurvatureProbe& p) override {
    timed([&] { inner_.on_curvature(t, p); });
  }
  void on_event(const sc::optim::Event& e) override { timed([&] { inner_.on_event(e); }); }
  void end(const sc::optim::TrainSummary& s, const sc::optim::Vector& x) override { timed([&] { inner_.end(s, x); }); }
  double seconds = 0.0;

 private:
  template <class F>
  void timed(F&& f) {
    const auto t0 = Clock::now();
    f();
    seconds += std::chrono::duration<double>(Clock::now() - t0).count();
  }
  sc::optim::Recorder& inner_;
};

// Seconds per Trainer step over `steps` steps of `config` on f from x0, with the HDF5 run log at
// run-optimizer's default settings (per-step scalars and per-layer gradient norms, flushed every
// 1000 steps or 1 s; trajectory, curvature probe and periodic checkpoints off) or without any recorder.
double trainer_step_seconds(const sc::objective::Objective& f, const Eigen::VectorXd& x0,
                            const sc::optim::OptimizerConfig& config, std::int64_t steps, std::int64_t batch_size,
                            const std::string& log, double* log_seconds_per_step = nullptr) {
  Eigen::VectorXd x = x0;
  auto optimizer = sc::optim::make_optimizer(config);
  sc::optim::TrainerOptions o;
  o.steps = steps;
  o.batch_size = batch_size;
  o.seed = 1;
  std::vector<sc::optim::Recorder*> recorders;
  std::unique_ptr<sc::report::RunLogRecorder> recorder;
  std::unique_ptr<TimedRecorder> timer;
  if (!log.empty()) {
    sc::io::Provenance p;
    p.tool = "bench-optim";
    recorder = std::make_unique<sc::report::RunLogRecorder>(log, p, nlohmann::json{{"bench", true}});
    timer = std::make_unique<TimedRecorder>(*recorder);
    recorders.push_back(timer.get());
  }
  const auto t0 = Clock::now();
  sc::optim::train(f, x, *optimizer, o, recorders);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!log.empty()) std::filesystem::remove(log);
  if (log_seconds_per_step != nullptr) *log_seconds_per_step = timer ? timer->seconds / static_cast<double>(steps) : 0.0;
  return seconds / static_cast<double>(steps);
}

// The run log's overhead on whole Trainer steps: `repeats` pairs of runs (without, then with the
// log; interleaved so that drift in the machine's load hits both alike). Reports the medians of the
// per-step times and overhead = (median with − median without) / median without, with the spread of
// the per-pair overheads; and, measured directly, the median time spent inside the log's recorder per
// step relative to the rest of the step (insensitive to the load drifting between two runs).
nlohmann::json logging_overhead(const sc::objective::Objective& f, const Eigen::VectorXd& x0,
                                const sc::optim::OptimizerConfig& config, std::int64_t steps, std::int64_t batch_size,
                                int repeats) {
  const std::string log = (std::filesystem::temp_directory_path() /
                           ("bench_optim_log_" + std::to_string(getpid()) + ".h5")).string();
  trainer_step_seconds(f, x0, config, std::max<std::int64_t>(1, steps / 10), batch_size, "");  // warm-up
  std::vector<double> without, with, pair_overhead, in_log, in_log_fraction;
  for (int r = 0; r < repeats; ++r) {
    without.push_back(trainer_step_seconds(f, x0, config, steps, batch_size, ""));
    double log_seconds = 0.0;
    with.push_back(trainer_step_seconds(f, x0, config, steps, batch_size, log, &log_seconds));
    pair_overhead.push_back((with.back() - without.back()) / without.back());
    in_log.push_back(log_seconds);
    in_log_fraction.push_back(log_seconds / (with.back() - log_seconds));
  }
  const double a = median(without), b = median(with);
  return {{"problem", f.description()},
          {"parameters", f.dim()},
          {"optimizer", config.to_json()},
          {"steps_per_run", steps},
          {"batch_size", batch_size},
          {"repeats", repeats},
          {"log_settings", "run-optimizer defaults: flush every 1000 steps or 1 s; no trajectory, curvature, checkpoints"},
          {"median_step_without_log_s", a},
          {"median_step_with_log_s", b},
          {"overhead_fraction", (b - a) / a},
          // Direct: time inside the run-log recorder per step, over the rest of the logged step.
          {"median_log_time_per_step_s", median(in_log)},
          {"median_log_time_fraction", median(in_log_fraction)},
          {"pair_overhead_min", *std::min_element(pair_overhead.begin(), pair_overhead.end())},
          {"pair_overhead_max", *std::max_element(pair_overhead.begin(), pair_overhead.end())}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("Benchmark optimizer steps against torch.optim and the run log's overhead", "bench-optim");
  long n = 1000000;
  int repeats = 50;
  int threads = 1;
  std::string python = "/usr/bin/python3";
  std::string log_problem = "rosenbrock:n=10000";
  long log_steps = 20000;
  long log_mlp_steps = 1000;
  long log_batch_size = 64;
  int log_repeats = 5;
  app.add_option("--n", n, "Parameters")->capture_default_str();
  app.add_option("--repeats", repeats, "Timed steps (median reported)")->capture_default_str();
  app.add_option("--threads", threads, "Threads for both sides (torch.set_num_threads)")->capture_default_str();
  app.add_option("--python", python, "Interpreter with torch")->capture_default_str();
  app.add_option("--log-problem", log_problem, "Objective for the logging-overhead run")->capture_default_str();
  app.add_option("--log-steps", log_steps, "Trainer steps per run on --log-problem")->capture_default_str();
  app.add_option("--log-mlp-steps", log_mlp_steps, "Trainer steps per run on the medium MLP (0: skip)")
      ->capture_default_str();
  app.add_option("--log-batch-size", log_batch_size, "Mini-batch size of the medium-MLP run (0: full batch)")
      ->capture_default_str();
  app.add_option("--log-repeats", log_repeats, "Pairs of runs (without, with the log); medians reported")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  return sc::cli::run_tool(app, argc, argv, [&] {
    sc::cli::apply_threads(threads);
    nlohmann::json out;
    char host[256] = {};
    gethostname(host, sizeof host);
    out["context"] = {{"date", sc::io::utc_now_iso8601()}, {"host", host}, {"n", n}, {"repeats", repeats},
                      {"threads", threads}, {"statistic", "median seconds per step"}};
    // torch side, same run.
    const std::string script = std::string(SADDLESCOPE_SOURCE_DIR) + "/tools/bench/bench_optim_torch.py";
    const std::string command = python + " " + script + " " + std::to_string(n) + " " + std::to_string(repeats) + " " +
                                std::to_string(threads);
    nlohmann::json torch = nlohmann::json::object();
    if (FILE* pipe = popen(command.c_str(), "r")) {
      std::string text;
      char buffer[4096];
      while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) text += buffer;
      if (pclose(pipe) == 0) torch = nlohmann::json::parse(text, nullptr, false);
    }
    auto sgd = sc::optim::OptimizerConfig::defaults(sc::optim::OptimizerKind::sgd);
    sgd.lr = 1e-3;
    sgd.momentum = 0.9;
    auto adam = sc::optim::OptimizerConfig::defaults(sc::optim::OptimizerKind::adam);
    for (auto [name, config] : {std::pair{"sgd_momentum", sgd}, std::pair{"adam", adam}}) {
      const double ours = step_seconds(config, n, repeats);
      nlohmann::json row = {{"saddlescope_s", ours}, {"saddlescope_ns_per_param", ours / n * 1e9}};
      if (torch.is_object() && torch.contains(name)) {
        const double theirs = torch[name].get<double>();
        row["torch_foreach_s"] = theirs;
        row["torch_ns_per_param"] = theirs / n * 1e9;
        row["speedup_vs_torch"] = theirs / ours;
      }
      out["optimizer_step"][name] = row;
    }
    if (torch.is_object() && torch.contains("torch_version")) out["context"]["torch_version"] = torch["torch_version"];
    // Run-log overhead. (1) The case: the medium MLP [64, 128, 128, 10] (docs/models.md), tanh,
    // cross-entropy, Xavier init (seed 5), on the digits data set (1797 × 64, 10 classes), trained by
    // sgd with momentum on mini-batches of --log-batch-size; (2) a cheap step, where the log's
    // fixed cost per step weighs most: adam on --log-problem.
    if (log_mlp_steps > 0) {
      const std::string digits = std::string(SADDLESCOPE_SOURCE_DIR) + "/data/datasets/digits.h5";
      sc::models::NetworkOptions mlp;
      mlp.widths = {64, 128, 128, 10};
      mlp.activation = sc::models::Activation::tanh;
      mlp.loss = sc::models::Loss::cross_entropy;
      const sc::models::Network net(mlp, sc::io::read_data_file(digits, "digits"));
      const Eigen::VectorXd x0 = sc::models::initial_parameters(mlp, sc::models::Init::xavier, 5);
      auto sgd_mlp = sc::optim::OptimizerConfig::defaults(sc::optim::OptimizerKind::sgd);
      sgd_mlp.lr = 0.05;
      sgd_mlp.momentum = 0.9;
      out["logging_overhead"]["medium_mlp"] =
          logging_overhead(net, x0, sgd_mlp, log_mlp_steps, log_batch_size, log_repeats);
    }
    const auto cheap = sc::objective::make_test_function(log_problem);
    out["logging_overhead"]["cheap_step"] =
        logging_overhead(*cheap, cheap->default_start(), adam, log_steps, 0, log_repeats);
    sc::cli::print_json(out);
    return 0;
  });
}
