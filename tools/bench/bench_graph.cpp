// bench-graph: saddlescope's side of the graph-model benchmark (tools/bench/bench_graph.py, docs/graph.md).
//
//   bench-graph CKPT [REPEATS]
//
// Loads a checkpoint through the same path as every tool, pins one thread, and prints one JSON object:
// the median CPU seconds (user + sys of this process) of a gradient, of one Hessian-vector product (one
// column) and of a 16-column block HVP (per column). Each call is made at a point other than the
// previous call's (x and x·(1 + 1e-9) alternate), so the engine's fixed-point cache (value, gradient
// and products at the same x reuse the forward pass) cannot shorten a call: every figure includes its
// forward pass, as torch's does.

#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/app.h"
#include "cpu_time.h"
#include "problem/problem.h"
#include "random/random.h"

namespace sc = saddlescope;

namespace {

using saddlescope::bench::cpu_seconds;

template <typename Work>
double median_cpu_seconds(int repeats, const Work& work) {
  std::vector<double> seconds;
  for (int r = 0; r < repeats; ++r) {
    const double t0 = cpu_seconds();
    work(r);
    seconds.push_back(cpu_seconds() - t0);
  }
  std::sort(seconds.begin(), seconds.end());
  return seconds[seconds.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: bench-graph CKPT [REPEATS]\n";
    return 2;
  }
  const int repeats = argc == 3 ? std::max(1, std::stoi(argv[2])) : 3;
  sc::cli::apply_threads(1);
  sc::cli::ProblemOptions source;
  source.checkpoint = argv[1];
  const sc::problem::Problem problem = sc::cli::load_problem(source);
  const auto& f = *problem.objective;
  const Eigen::VectorXd points[2] = {problem.point, problem.point * (1.0 + 1e-9)};
  const Eigen::Index n = f.dim();
  sc::random::Rng rng(1, 0);
  Eigen::MatrixXd V(n, 16), HV;
  for (Eigen::Index i = 0; i < V.size(); ++i) V.data()[i] = rng.normal();
  const Eigen::MatrixXd v1 = V.leftCols(1);
  Eigen::VectorXd g;
  f.gradient(points[1], g);  // warm-up: workspaces sized once
  nlohmann::json out;
  out["n"] = n;
  out["repeats"] = repeats;
  int calls = 0;  // every call at the other point than the call before it (the warm-up used points[1])
  auto next = [&]() -> const Eigen::VectorXd& { return points[calls++ % 2]; };
  out["gradient_cpu_seconds"] = median_cpu_seconds(repeats, [&](int) { f.gradient(next(), g); });
  out["hvp_cpu_seconds"] = median_cpu_seconds(repeats, [&](int) { f.hessian_vector_product(next(), v1, HV); });
  out["hvp16_cpu_seconds_per_column"] =
      median_cpu_seconds(repeats, [&](int) { f.hessian_vector_product(next(), V, HV); }) / 16.0;
  out["description"] = f.description();
  std::cout << out.dump(2) << "\n";
  return 0;
}
