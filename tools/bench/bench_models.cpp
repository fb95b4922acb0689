// bench-models: timings of the network objectives (gradient, single HVP, block HVP of 16 vectors, dense
// Hessian) and of Eigen's DGEMM on this machine, as JSON. Run by tools/bench/bench_models.py, which
// measures PyTorch in the same run and writes the comparison; not part of the test suite.
#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <iostream>

#include "cli/app.h"
#include "models/network.h"
#include "random/random.h"

namespace sc = saddlescope;
using sc::objective::Matrix;
using sc::objective::Vector;

namespace {

// Median wall time of `fn` over at least `min_repeats` calls and at least `budget` seconds in total
// (after one warm-up call that also sizes the workspaces).
template <class F>
double median_seconds(F&& fn, double budget, int min_repeats) {
  fn();
  std::vector<double> times;
  const auto start = std::chrono::steady_clock::now();
  while (static_cast<int>(times.size()) < min_repeats ||
         std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < budget) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (times.size() >= 1000) break;
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  return times[times.size() / 2];
}

Matrix normal_matrix(Eigen::Index rows, Eigen::Index cols, std::uint64_t seed) {
  sc::random::Rng rng(seed, 0);
  Matrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = rng.normal();
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("Benchmark the network objectives' derivatives (JSON on stdout).", "bench-models");
  sc::cli::CommonOptions common;
  double budget = 1.0;
  app.add_option("--budget", budget, "Seconds spent on each measurement (at least 3 repeats)")->check(CLI::PositiveNumber);
  sc::cli::add_common_options(app, common);
  return sc::cli::run_tool(app, argc, argv, [&] {
    sc::cli::apply_threads(common.threads);
    nlohmann::json out = {{"threads", common.threads}, {"eigen_threads", Eigen::nbThreads()}};
    // Eigen DGEMM rate: C = A·B with 1024×1024 operands, 2n³ flops.
    {
      const Eigen::Index n = 1024;
      const Matrix A = normal_matrix(n, n, 1), B = normal_matrix(n, n, 2);
      Matrix C(n, n);
      const double t = median_seconds([&] { C.noalias() = A * B; }, budget, 3);
      out["dgemm"] = {{"n", n}, {"seconds", t}, {"gflops", 2.0 * n * n * n / t * 1e-9}};
    }
    struct Config {
      std::string name;
      std::vector<std::int64_t> widths;
      std::int64_t batch;
      bool dense;
    };
    const std::vector<Config> configs = {{"small", {10, 32, 32, 3}, 256, true},
                                         {"medium", {64, 128, 128, 10}, 1024, false},
                                         {"large", {784, 256, 256, 10}, 512, false}};
    for (const auto& c : configs) {
      sc::models::NetworkOptions o;
      o.widths = c.widths;
      o.activation = sc::models::Activation::tanh;
      o.loss = sc::models::Loss::cross_entropy;
      sc::io::DataArrays data;
      data.X = normal_matrix(c.batch, c.widths.front(), 3);
      data.y.resize(c.batch, 1);
      sc::random::Rng rng(4, 0);
      for (Eigen::Index i = 0; i < c.batch; ++i) data.y(i, 0) = static_cast<double>(rng.below(c.widths.back()));
      const sc::models::Network net(o, data);
      const Vector x = sc::models::initial_parameters(o, sc::models::Init::xavier, 5);
      const Matrix V1 = normal_matrix(net.dim(), 1, 6), V16 = normal_matrix(net.dim(), 16, 7);
      Vector g;
      Matrix HV;
      // Flops of one HVP as implemented (network.cpp), 2 per multiply-add, per sample: the first layer's
      // weights take part in 3 products (forward, V_Wᵀh, h·R{δ}ᵀ), every later layer's in 8 (forward,
      // Wᵀδ, WᵀR{h}, V_Wᵀh, h·R{δ}ᵀ, R{h}δᵀ, W R{δ}, V_W δ). Biases and elementwise work are not counted.
      double hvp_flops = 0;
      for (std::size_t l = 1; l < c.widths.size(); ++l)
        hvp_flops += (l == 1 ? 6.0 : 16.0) * static_cast<double>(c.batch) * static_cast<double>(c.widths[l] * c.widths[l - 1]);
      nlohmann::json r = {{"widths", c.widths}, {"batch", c.batch}, {"parameters", net.dim()}};
      r["gradient_seconds"] = median_seconds([&] { net.gradient(x, g); }, budget, 5);
      const double hvp = median_seconds([&] { net.hessian_vector_product(x, V1, HV); }, budget, 5);
      const double block = median_seconds([&] { net.hessian_vector_product(x, V16, HV); }, budget, 3);
      r["hvp_seconds"] = hvp;
      r["block16_seconds"] = block;
      r["block16_per_vector_seconds"] = block / 16;
      r["hvp_flops"] = hvp_flops;
      r["hvp_gflops"] = hvp_flops / hvp * 1e-9;
      r["block16_gflops"] = 16 * hvp_flops / block * 1e-9;
      if (c.dense) {
        Matrix H;
        r["dense_hessian_seconds"] = median_seconds([&] { net.hessian(x, H); }, budget, 3);
      }
      out["models"][c.name] = r;
    }
    sc::cli::print_json(out);
    return sc::cli::kSuccess;
  });
}
