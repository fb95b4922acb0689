#include "curvature/trace.h"

#include <Eigen/QR>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "random/random.h"

namespace saddlescope::curvature {
namespace {

using Eigen::Index;
using Eigen::MatrixXd;

void rademacher_block(MatrixXd& Z, Index n, Index cols, std::uint64_t seed, std::uint64_t stream0, Index first) {
  Z.resize(n, cols);
  for (Index j = 0; j < cols; ++j) {
    random::Rng rng(seed, stream0 + static_cast<std::uint64_t>(first + j));
    for (Index i = 0; i < n; ++i) Z(i, j) = rng.rademacher();
  }
}

double sample_stderr(double sum, double sum_sq, double m) {
  if (m < 2.0) return std::numeric_limits<double>::quiet_NaN();
  const double mean = sum / m;
  return std::sqrt(std::max(0.0, (sum_sq - m * mean * mean) / (m - 1.0)) / m);
}

}  // namespace

HutchinsonResult hutchinson(const SymmetricOperator& A, Index samples, std::uint64_t seed, Index block) {
  if (samples < 1) throw std::invalid_argument("hutchinson: 'samples' must be >= 1, got " + std::to_string(samples));
  if (block < 1) throw std::invalid_argument("hutchinson: 'block' must be >= 1, got " + std::to_string(block));
  const Index n = A.rows();
  const std::int64_t before = A.product_count();
  HutchinsonResult r;
  Eigen::VectorXd sum = Eigen::VectorXd::Zero(n), sum_sq = Eigen::VectorXd::Zero(n);
  // Per-sample traces are accumulated with a shift (the first sample's value) so that the sample
  // variance does not cancel catastrophically when the trace is large against its spread.
  double shift = 0.0, tsum = 0.0, tsum_sq = 0.0;
  MatrixXd Z, AZ;
  for (Index first = 0; first < samples; first += block) {
    const Index m = std::min(block, samples - first);
    rademacher_block(Z, n, m, seed, 0x7ace000, first);
    A.apply(Z, AZ);
    for (Index j = 0; j < m; ++j) {
      const Eigen::VectorXd d = Z.col(j).cwiseProduct(AZ.col(j));
      sum += d;
      sum_sq += d.cwiseAbs2();
      const double t = d.sum();
      if (first + j == 0) shift = t;
      tsum += t - shift;
      tsum_sq += (t - shift) * (t - shift);
    }
  }
  const double ms = static_cast<double>(samples);
  r.trace.trace = shift + tsum / ms;
  r.trace.stderr_ = sample_stderr(tsum, tsum_sq, ms);
  r.trace.samples = samples;
  r.diagonal = sum / ms;
  r.diagonal_stderr.resize(n);
  for (Index i = 0; i < n; ++i) r.diagonal_stderr(i) = sample_stderr(sum(i), sum_sq(i), ms);
  r.trace.hvp_count = A.product_count() - before;
  return r;
}

TraceEstimate hutch_plus_plus(const SymmetricOperator& A, Index products, std::uint64_t seed) {
  const Index n = A.rows();
  if (products < 3 || products % 3 != 0 || products > 3 * n)
    throw std::invalid_argument("hutch_plus_plus: 'products' must be a multiple of 3 in [3, 3n = " +
                                std::to_string(3 * n) + "], got " + std::to_string(products));
  const std::int64_t before = A.product_count();
  const Index k = products / 3;
  MatrixXd S, Y, G, AQ, AG;
  rademacher_block(S, n, k, seed, 0x7acf000, 0);
  A.apply(S, Y);
  const MatrixXd Q = Eigen::HouseholderQR<MatrixXd>(Y).householderQ() * MatrixXd::Identity(n, k);
  A.apply(Q, AQ);
  TraceEstimate r;
  r.trace = (Q.transpose() * AQ).trace();
  rademacher_block(G, n, k, seed, 0x7ad0000, 0);
  G -= Q * (Q.transpose() * G);
  A.apply(G, AG);
  double sum = 0.0, sum_sq = 0.0;
  for (Index j = 0; j < k; ++j) {
    const double t = G.col(j).dot(AG.col(j));
    sum += t;
    sum_sq += t * t;
  }
  r.trace += sum / static_cast<double>(k);
  r.stderr_ = sample_stderr(sum, sum_sq, static_cast<double>(k));
  r.samples = k;
  r.hvp_count = A.product_count() - before;
  return r;
}

}  // namespace saddlescope::curvature
