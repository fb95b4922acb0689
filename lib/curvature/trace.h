#pragma once
// Matrix-free trace and diagonal estimators with standard errors.
//
//  * Hutchinson (1990): tr(A) ≈ (1/m) Σ z_jᵀ A z_j with Rademacher z_j; unbiased, variance per sample
//    2(‖A‖_F² − Σ A_ii²). The same products give the diagonal estimate of Bekas, Kokiopoulou & Saad
//    (Appl. Numer. Math. 57 (2007) 1214): diag(A) ≈ (1/m) Σ z_j ⊙ A z_j (z ⊙ z = 1 for Rademacher),
//    unbiased, with per-entry variance Σ_{k≠i} A_ik².
//  * Hutch++ (Meyer, Musco, Musco, Woodruff, SOSA 2021, Algorithm 1): m products split in thirds:
//    Q = orth(A S), tr(QᵀAQ) exactly, plus Hutchinson on (I − QQᵀ)A(I − QQᵀ) with G projected. Unbiased
//    (conditionally on Q the two parts add to tr A); the standard error is that of the Hutchinson part.
// Standard errors are sample standard deviations / √samples; with fewer than 2 samples they are NaN.
#include <Eigen/Core>
#include <cstdint>

#include "curvature/operator.h"

namespace saddlescope::curvature {

struct TraceEstimate {
  double trace = 0.0;
  double stderr_ = 0.0;  // standard error of `trace`
  Eigen::Index samples = 0;
  Eigen::Index hvp_count = 0;
};

struct HutchinsonResult {
  TraceEstimate trace;
  Eigen::VectorXd diagonal;         // estimate of diag(A)
  Eigen::VectorXd diagonal_stderr;  // per entry
};

// `samples` Rademacher probes (≥ 1), drawn from random::Rng(seed, 0x7ace000 + j), applied in blocks of
// at most `block` columns (bounds memory at 2·block·n doubles).
HutchinsonResult hutchinson(const SymmetricOperator& A, Eigen::Index samples, std::uint64_t seed, Eigen::Index block = 16);

// Hutch++ with `products` operator products (a multiple of 3, ≥ 3; at most 3n).
TraceEstimate hutch_plus_plus(const SymmetricOperator& A, Eigen::Index products, std::uint64_t seed);

}  // namespace saddlescope::curvature
