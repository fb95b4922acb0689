#pragma once
// Exact calibration targets for the `hessian` ensemble (rmt/ensemble.h) of a two-level quadratic, by
// de Bruijn's Pfaffian over the real (β = 1) Jacobi ensemble — the counterpart of rmt/exact.h for an
// objective whose Hessian is known.
//
// The reduction. For quadratic:n=N,kappa=1,negative=q,zero=0 the Hessian is the constant A = O diag(+1 ×p,
// −1 ×q) Oᵀ (p = N − q, O orthogonal). The ensemble's directions are Q = G R⁻¹ (Householder QR of an N×k
// Gaussian G), so QᵀAQ + tI = R⁻ᵀ Gᵀ(A + tI)G R⁻¹ (QᵀQ = I turns t·I into t·R⁻ᵀGᵀGR⁻¹), and by
// Sylvester's law of inertia H = s·QᵀAQ + μI ≻ 0 ⇔ Gᵀ(A + tI)G ≻ 0 with t = μ/s. Rotating G by Oᵀ (a
// Gaussian matrix is rotation invariant) and splitting its rows into the p rows of +1 and the q rows of −1:
// (1 + t)W₊ − (1 − t)W₋ ≻ 0 with independent real Wisharts W₊ ~ W_k(p, I), W₋ ~ W_k(q, I). With S = W₊ + W₋
// this is (1 + t)S − 2W₋ ≻ 0, i.e. every eigenvalue of U = S^{−½}W₋S^{−½} is below u = (1 + t)/2 (|t| < 1).
// U is matrix-variate Beta_k(q/2, p/2); for k ≤ min(p, q) its eigenvalues have the density
// ∝ Π_{i<j}|x_i − x_j| Π x_i^α (1 − x_i)^β on [0, 1], α = (q − k − 1)/2, β = (p − k − 1)/2 (Muirhead,
// Aspects of Multivariate Statistical Theory (1982), Thm 3.3.4). So P = Z(u)/Z(1), Z(u) the ordered
// integral over [0, u]^k, which de Bruijn's identity (rmt/exact.h) turns into a Pfaffian with
// φ_i(x) = x^{i+α}(1 − x)^β, i = 0…k−1.
//
// The entries. For integer α, β every entry is a polynomial integral: with (1 − x)^β = Σ_l b_l x^l,
// b_l = (−1)^l C(β, l), and T(s) = ∫_0^u x^{s−1}(1 − x)^β dx = Σ_l b_l u^{s+l}/(s + l),
//   M_i = ∫_0^u φ_i = T(i + α + 1),   G(i, j) = ∫_0^u φ_j(y) ∫_0^y φ_i = Σ_l b_l T(i + j + 2α + l + 2)/(i + α + l + 1),
// a_ij = G(i, j) − G(j, i), and for odd k the border M_i. Everything is evaluated in the 400-digit type of
// rmt/multiprecision.h; the alternating binomial sums cost at most β·log₁₀2 ≤ 19 digits at the bound on β below,
// the Pfaffian's cancellation about 2k digits (as for the GOE).
//
// Supported: integer α and β, i.e. q − k and p − k odd (the half-integer exponents of the other parity
// need incomplete-beta entries and are not done), 0 ≤ α, β ≤ kMaxJacobiExponent, 1 ≤ k ≤ kMaxJacobiK.
// Checks (tests/rmt/exact_jacobi_test.cpp): k = 1 is the beta tail I_u(q/2, p/2); k = 1, p = q, t = 0 is ½;
// Z(1) against Selberg's integral; plain Monte Carlo of the ensemble itself.
#include <string>

#include "rmt/ensemble.h"
#include "rmt/exact.h"

namespace saddlescope::rmt {

inline constexpr int kMaxJacobiK = 100;
inline constexpr int kMaxJacobiExponent = 60;

// P(every eigenvalue < u) for the k-point real Jacobi ensemble with integer exponents α, β (above).
// u ≤ 0 gives 0 and u ≥ 1 gives 1; available = false outside the supported ranges.
ExactValue jacobi_all_below_exact(int k, int alpha, int beta, double u);

// Z(1) for that ensemble, ordered (the Pfaffian at u = 1, before normalisation), as ln — so a test can set
// it against Selberg's integral. NaN outside the supported ranges.
double jacobi_log_normalisation(int k, int alpha, int beta);

// P(all eigenvalues of QᵀAQ + tI > 0) for A with p eigenvalues +1 and q eigenvalues −1 and Q Haar N×k
// (N = p + q): 1 for t ≥ 1 and 0 for t ≤ −1 (when k ≤ min(p, q)); the Jacobi value above for |t| < 1.
// available = false when k > min(p, q) or the exponents are outside the supported set.
ExactValue two_level_positive_probability_exact(int k, long p, long q, double t);

// The exact value for the `hessian` ensemble when its objective is a two-level quadratic (the objective
// spec names `quadratic`, its constant Hessian A has A² = I to 1e-10 and N ≤ 1024 — the check costs one
// N×N product); otherwise available = false. t = shift/scale.
ExactValue hessian_positive_probability_exact(const EnsembleOptions& ensemble, int k);

}  // namespace saddlescope::rmt
