// Inertia by Bunch–Kaufman LDLᵀ against eigenvalue counts (an independent method: Eigen's symmetric
// QR eigensolver), on random, structured and singular matrices.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <limits>

#include "curvature/dense.h"
#include "curvature/inertia.h"
#include "random/random.h"

namespace sc = saddlescope;

namespace {

Eigen::MatrixXd random_orthogonal(Eigen::Index n, sc::random::Rng& rng) {
  Eigen::MatrixXd G(n, n);
  for (Eigen::Index i = 0; i < G.size(); ++i) G.data()[i] = rng.normal();
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(G);
  return qr.householderQ();
}

// Q diag(λ) Qᵀ with the given numbers of negative, zero and positive eigenvalues, |λ| in [0.5, 5]:
// well separated from 0, so a tolerance of 1e3·n·ε·max|H| separates exact zeros from the rest.
Eigen::MatrixXd with_spectrum(Eigen::Index neg, Eigen::Index zero, Eigen::Index pos, sc::random::Rng& rng) {
  const Eigen::Index n = neg + zero + pos;
  Eigen::VectorXd lambda(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    const double mag = 0.5 + 4.5 * rng.uniform();
    lambda[i] = i < neg ? -mag : (i < neg + zero ? 0.0 : mag);
  }
  const Eigen::MatrixXd Q = random_orthogonal(n, rng);
  Eigen::MatrixXd H = Q * lambda.asDiagonal() * Q.transpose();
  return 0.5 * (H + H.transpose());
}

double zero_tolerance(const Eigen::MatrixXd& H) {
  return 1e3 * static_cast<double>(H.rows()) * std::numeric_limits<double>::epsilon() * H.cwiseAbs().maxCoeff();
}

// An n×n matrix of iid N(0, 1) entries (column-major draws) with n uniform in [1, max_n].
Eigen::MatrixXd gaussian_square(sc::random::Rng& rng, std::uint64_t max_n) {
  const Eigen::Index n = 1 + static_cast<Eigen::Index>(rng.below(max_n));
  Eigen::MatrixXd A(n, n);
  for (Eigen::Index i = 0; i < A.size(); ++i) A.data()[i] = rng.normal();
  return A;
}

}  // namespace

TEST(Inertia, MatchesEigenvalueCountsOnRandomSymmetricMatrices) {
  sc::random::Rng rng(11, 0);
  for (int trial = 0; trial < 200; ++trial) {
    const Eigen::MatrixXd A = gaussian_square(rng, 40);
    const Eigen::Index n = A.rows();
    const Eigen::MatrixXd H = A + A.transpose();
    const auto lam = sc::curvature::dense_spectrum(H, false).eigenvalues;
    // Eigenvalues of a continuous law sit O(1/n) from 0; none is within rounding of 0 in practice, and
    // tolerance 0 counts only exact zeros.
    const auto want = sc::curvature::inertia_from_eigenvalues(lam, 0.0);
    const auto got = sc::curvature::inertia_ldlt(H, 0.0);
    EXPECT_EQ(got.negative, want.negative) << "trial " << trial << " n " << n;
    EXPECT_EQ(got.zero, 0);
    EXPECT_EQ(got.positive, want.positive);
  }
}

TEST(Inertia, CountsZerosOfSingularMatrices) {
  sc::random::Rng rng(12, 0);
  for (int trial = 0; trial < 100; ++trial) {
    const auto neg = static_cast<Eigen::Index>(rng.below(8));
    const auto zero = 1 + static_cast<Eigen::Index>(rng.below(6));
    const auto pos = static_cast<Eigen::Index>(rng.below(8));
    const Eigen::MatrixXd H = with_spectrum(neg, zero, pos, rng);
    const auto got = sc::curvature::inertia_ldlt(H, zero_tolerance(H));
    EXPECT_EQ(got.negative, neg) << "trial " << trial;
    EXPECT_EQ(got.zero, zero) << "trial " << trial;
    EXPECT_EQ(got.positive, pos) << "trial " << trial;
  }
}

TEST(Inertia, HandlesZeroDiagonalAndExactZeros) {
  // [[0, 1], [1, 0]] has eigenvalues ±1 and forces a 2×2 pivot.
  Eigen::MatrixXd S(2, 2);
  S << 0, 1, 1, 0;
  auto in = sc::curvature::inertia_ldlt(S);
  EXPECT_EQ(in.negative, 1);
  EXPECT_EQ(in.positive, 1);
  // The zero matrix: all zeros, exactly.
  in = sc::curvature::inertia_ldlt(Eigen::MatrixXd::Zero(4, 4));
  EXPECT_EQ(in.zero, 4);
  // Integer rank-1 matrix v vᵀ − w wᵀ with v ⟂ w: eigenvalues |v|², −|w|², and n − 2 exact zeros.
  Eigen::VectorXd v(5), w(5);
  v << 1, 2, 0, 1, 0;
  w << 2, -1, 0, 0, 0;
  const Eigen::MatrixXd H = v * v.transpose() - w * w.transpose();
  in = sc::curvature::inertia_ldlt(H, 1e-12);
  EXPECT_EQ(in.negative, 1);
  EXPECT_EQ(in.zero, 3);
  EXPECT_EQ(in.positive, 1);
}

TEST(Inertia, PositiveDefiniteCheckAgreesWithInertia) {
  sc::random::Rng rng(13, 0);
  for (int trial = 0; trial < 200; ++trial) {
    const Eigen::MatrixXd A = gaussian_square(rng, 12);
    const Eigen::Index n = A.rows();
    const Eigen::MatrixXd H = A * A.transpose() / static_cast<double>(n) - 0.3 * Eigen::MatrixXd::Identity(n, n);
    const double shift = rng.normal() * 0.3;
    const auto in = sc::curvature::inertia_ldlt(H - shift * Eigen::MatrixXd::Identity(n, n));
    EXPECT_EQ(sc::curvature::is_positive_definite(H, shift), in.negative == 0 && in.zero == 0) << "trial " << trial;
  }
}

TEST(Inertia, TridiagonalSturmCountMatchesDense) {
  sc::random::Rng rng(14, 0);
  for (int trial = 0; trial < 100; ++trial) {
    const Eigen::Index n = 1 + static_cast<Eigen::Index>(rng.below(30));
    std::vector<double> a(static_cast<std::size_t>(n)), b2(static_cast<std::size_t>(n));
    Eigen::MatrixXd T = Eigen::MatrixXd::Zero(n, n);
    for (Eigen::Index i = 0; i < n; ++i) T(i, i) = a[static_cast<std::size_t>(i)] = rng.normal();
    for (Eigen::Index i = 0; i + 1 < n; ++i) {
      const double b = rng.normal();
      T(i + 1, i) = T(i, i + 1) = b;
      b2[static_cast<std::size_t>(i)] = b * b;
    }
    const auto got = sc::curvature::inertia_tridiagonal(a.data(), b2.data(), n);
    const auto want = sc::curvature::inertia_ldlt(T);
    EXPECT_EQ(got.negative, want.negative);
    EXPECT_EQ(got.positive, want.positive);
  }
}

TEST(Inertia, RejectsNonSquare) {
  EXPECT_THROW(sc::curvature::inertia_ldlt(Eigen::MatrixXd::Zero(2, 3)), std::invalid_argument);
  EXPECT_THROW(sc::curvature::inertia_ldlt(Eigen::MatrixXd::Zero(2, 2), -1.0), std::invalid_argument);
}
