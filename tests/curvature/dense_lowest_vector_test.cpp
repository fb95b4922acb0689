// dense_spectrum_lowest_vector: eigenvalues as the full decomposition gives them, and a unit vector
// v with ‖Hv − λ_min v‖ small, on random, degenerate and clustered spectra.
#include <gtest/gtest.h>

#include <Eigen/QR>

#include "curvature/dense.h"
#include "random/random.h"

namespace sc = saddlescope;

namespace {

Eigen::MatrixXd with_spectrum(const Eigen::VectorXd& lambda, std::uint64_t seed) {
  sc::random::Rng rng(seed, 0);
  const Eigen::Index n = lambda.size();
  Eigen::MatrixXd G(n, n);
  for (auto& g : G.reshaped()) g = rng.normal();
  const Eigen::MatrixXd Q = Eigen::HouseholderQR<Eigen::MatrixXd>(G).householderQ();
  Eigen::MatrixXd H = Q * lambda.asDiagonal() * Q.transpose();
  return 0.5 * (H + H.transpose());
}

void check(const Eigen::MatrixXd& H) {
  const auto full = sc::curvature::dense_spectrum(H, true);
  const auto fast = sc::curvature::dense_spectrum_lowest_vector(H);
  // Same solver for the values: identical bits.
  EXPECT_EQ(fast.eigenvalues, full.eigenvalues);
  ASSERT_EQ(fast.eigenvectors.cols(), 1);
  const Eigen::VectorXd v = fast.eigenvectors.col(0);
  const double scale = full.eigenvalues.cwiseAbs().maxCoeff();
  EXPECT_NEAR(v.norm(), 1.0, 1e-14);
  // The contract's residual bound (the fallback enforces it).
  EXPECT_LE((H * v - fast.eigenvalues(0) * v).norm(), 1e-10 * scale + 1e-300);
}

TEST(DenseLowestVector, RandomSpectra) {
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    sc::random::Rng rng(seed, 1);
    Eigen::VectorXd lambda(60);
    for (auto& l : lambda) l = rng.normal();
    check(with_spectrum(lambda, seed));
  }
}

TEST(DenseLowestVector, DegenerateClusteredAndZeroSpectra) {
  Eigen::VectorXd lambda = Eigen::VectorXd::LinSpaced(50, 1.0, 100.0);
  lambda.head(5).setConstant(-3.0);  // λ_min of multiplicity 5
  check(with_spectrum(lambda, 9));
  lambda.head(5) << -3.0, -3.0 + 1e-9, -3.0 + 2e-9, 0.0, 0.0;  // a cluster tighter than the shift
  check(with_spectrum(lambda, 10));
  check(Eigen::MatrixXd::Zero(8, 8));  // the monkey saddle's Hessian at 0
  check(Eigen::MatrixXd::Identity(3, 3) * 1e-200);
}

}  // namespace
