// bench-small-gemm: which GEMM for the graph engine's small products (issue #13, docs/graph-engine.md).
//
//   bench-small-gemm [SECONDS_PER_CASE]
//
// The transformer block's attention multiplies 128 per-(sample, head) pairs of small matrices per pass
// ([64×32]·[32×64] for q·kᵀ, [64×64]·[64×32] for A·v, and their adjoints); its linear layers are
// [2048×128]·[128×128]-sized. For each shape this times, on one thread, in CPU seconds, the three
// candidates for the engine's gemm(): Eigen's blocked product (what passes.cpp calls; it packs both
// operands), Eigen's lazyProduct (coefficient-wise, no packing) and OpenBLAS's cblas_dgemm, each on the
// row-major C = A·B and C = A·Bᵀ the engine computes. Prints one JSON object: GFLOP/s per shape and kind.
#include <cblas.h>

#include <Eigen/Core>
#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/app.h"
#include "cpu_time.h"
#include "random/random.h"

namespace {

using saddlescope::bench::cpu_seconds;

// GFLOP/s of `work` (2·M·N·K flops per call), repeated for about `seconds` of CPU time.
template <typename Work>
double gflops(double seconds, double flops_per_call, const Work& work) {
  work();  // warm-up
  long calls = 0;
  const double t0 = cpu_seconds();
  double elapsed = 0.0;
  while (elapsed < seconds) {
    for (int r = 0; r < 16; ++r) work();
    calls += 16;
    elapsed = cpu_seconds() - t0;
  }
  return flops_per_call * static_cast<double>(calls) / elapsed / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 2) {
    std::cerr << "usage: bench-small-gemm [SECONDS_PER_CASE]\n";
    return 2;
  }
  const double seconds = argc == 2 ? std::max(0.01, std::stod(argv[1])) : 0.3;
  saddlescope::cli::apply_threads(1);
  using ConstMap = Eigen::Map<const Eigen::MatrixXd>;
  using MutMap = Eigen::Map<Eigen::MatrixXd>;
  struct Shape {
    long M, N, K;
    const char* what;
  };
  const Shape shapes[] = {{64, 64, 32, "attention q·kᵀ per (sample, head)"},
                          {64, 32, 64, "attention A·v per (sample, head)"},
                          {32, 64, 64, "attention adjoint per (sample, head)"},
                          {2048, 128, 128, "linear layer, batch 32 × 64 positions"},
                          {128, 128, 2048, "linear layer's weight gradient"}};
  saddlescope::random::Rng rng(1, 0);
  nlohmann::json out;
  out["threads"] = 1;
  out["seconds_per_case"] = seconds;
  for (const Shape& s : shapes) {
    std::vector<double> A(s.M * s.K), B(s.K * s.N), C(s.M * s.N);
    for (double& a : A) a = rng.normal();
    for (double& b : B) b = rng.normal();
    const double flops = 2.0 * static_cast<double>(s.M * s.N * s.K);
    // Row-major C[M, N] = A[M, K]·B[K, N] is the column-major Cᵀ = Bᵀ·Aᵀ (as passes.cpp's gemm does);
    // with B stored [N, K] (transposed) Cᵀ = (B as [K, N])ᵀ·Aᵀ.
    nlohmann::json row;
    row["M"] = s.M;
    row["N"] = s.N;
    row["K"] = s.K;
    row["what"] = s.what;
    row["eigen_blocked"] = gflops(seconds, flops, [&] {
      MutMap(C.data(), s.N, s.M).noalias() = ConstMap(B.data(), s.N, s.K) * ConstMap(A.data(), s.K, s.M);
    });
    row["eigen_lazy"] = gflops(seconds, flops, [&] {
      MutMap(C.data(), s.N, s.M).noalias() = ConstMap(B.data(), s.N, s.K).lazyProduct(ConstMap(A.data(), s.K, s.M));
    });
    row["openblas"] = gflops(seconds, flops, [&] {
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(s.M), static_cast<int>(s.N), static_cast<int>(s.K),
                  1.0, A.data(), static_cast<int>(s.K), B.data(), static_cast<int>(s.N), 0.0, C.data(), static_cast<int>(s.N));
    });
    row["eigen_blocked_transposed_b"] = gflops(seconds, flops, [&] {
      MutMap(C.data(), s.N, s.M).noalias() = ConstMap(B.data(), s.K, s.N).transpose() * ConstMap(A.data(), s.K, s.M);
    });
    row["openblas_transposed_b"] = gflops(seconds, flops, [&] {
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(s.M), static_cast<int>(s.N), static_cast<int>(s.K),
                  1.0, A.data(), static_cast<int>(s.K), B.data(), static_cast<int>(s.K), 0.0, C.data(), static_cast<int>(s.N));
    });
    out["shapes"].push_back(row);
  }
  std::cout << out.dump(2) << "\n";
  return 0;
}
