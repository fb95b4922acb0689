// bench-optim: optimizer step cost per parameter (n = 10^6 by default) for sgd with momentum and adam,
// against torch.optim (foreach=True) measured in the same run by tools/bench/bench_optim_torch.py
// with Debian's /usr/bin/python3, and the run log's overhead on a whole Trainer step.
// Emits one JSON object (context block, then the results side by side with ratios).
//   build/bin/bench-optim [--n 1000000] [--repeats 50] [--threads 1] [--python /usr/bin/python3]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/app.h"
#include "io/provenance.h"
#include "objective/test_functions.h"
#include "optim/recorders.h"
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

double trainer_seconds(const std::string& spec, std::int64_t steps, const std::string& log) {
  const auto f = sc::objective::make_test_function(spec);
  Eigen::VectorXd x = f->default_start();
  auto config = sc::optim::OptimizerConfig::defaults(sc::optim::OptimizerKind::adam);
  auto optimizer = sc::optim::make_optimizer(config);
  sc::optim::TrainerOptions o;
  o.steps = steps;
  std::vector<sc::optim::Recorder*> recorders;
  std::unique_ptr<sc::optim::RunLogRecorder> recorder;
  if (!log.empty()) {
    sc::io::Provenance p;
    p.tool = "bench-optim";
    recorder = std::make_unique<sc::optim::RunLogRecorder>(log, p, nlohmann::json{{"bench", true}});
    recorders.push_back(recorder.get());
  }
  const auto t0 = Clock::now();
  sc::optim::train(*f, x, *optimizer, o, recorders);
  return std::chrono::duration<double>(Clock::now() - t0).count();
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
  app.add_option("--n", n, "Parameters")->capture_default_str();
  app.add_option("--repeats", repeats, "Timed steps (median reported)")->capture_default_str();
  app.add_option("--threads", threads, "Threads for both sides (torch.set_num_threads)")->capture_default_str();
  app.add_option("--python", python, "Interpreter with torch")->capture_default_str();
  app.add_option("--log-problem", log_problem, "Objective for the logging-overhead run")->capture_default_str();
  app.add_option("--log-steps", log_steps, "Trainer steps for the logging-overhead run")->capture_default_str();
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
    // Run-log overhead: the same Trainer run with and without the HDF5 log at default settings.
    const std::string log = (std::filesystem::temp_directory_path() / "bench_optim_log.h5").string();
    const double without = trainer_seconds(log_problem, log_steps, "");
    const double with = trainer_seconds(log_problem, log_steps, log);
    std::filesystem::remove(log);
    out["logging_overhead"] = {{"problem", log_problem}, {"optimizer", "adam"}, {"steps", log_steps},
                               {"without_log_s", without}, {"with_log_s", with},
                               {"overhead_fraction", (with - without) / without}};
    sc::cli::print_json(out);
    return 0;
  });
}
