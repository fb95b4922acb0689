#pragma once
// Exact finite-k values for the GOE (β = 1, eigenvalue weight exp(−λ²/2), scale 1), by de Bruijn's
// identity (Duke Math. J. 22 (1955) 391):
//
//   ∫_{x₁<…<x_k} det[w(x_j) φ_i(x_j)] dx = Pf[a_ij] (k even),  a_ij = ∫∫ sgn(y − x) w(x)φ_i(x) w(y)φ_j(y) dx dy,
//
// and for odd k the Pfaffian of a bordered with b_i = ∫ w φ_i. With φ_i(x) = x^i e^{−x²/2} the integrand is
// the ordered joint eigenvalue density (Vandermonde = det[x_j^i]) times Π w(x_j), and Z_R, the integral
// with w ≡ 1, is Mehta's integral (Selberg, γ = ½), ordered:
//   Z_R = (2π)^{k/2} Π_{j=1..k} Γ(1 + j/2)/Γ(3/2) / k!.
//
// Two weights are used, both with a threshold c = −μ:
//  * w = 1 on (c, ∞), 0 below: the integral is Z(c) and P(all λ > c) = P(all eigenvalues of GOE + μI > 0)
//    = Z(c)/Z_R (the shifted GOE; μ = 0 is the Dean–Majumdar question).
//  * w = z below c, 1 above: the integral is Z_R·E[z^{N}], N the number of eigenvalues below c (the index
//    of GOE + μI). Its derivatives at z = 1 give the exact mean and variance of the index.
//
// All entries reduce to one-sided integrals over (a, ∞). With M_j = ∫_a^∞ x^j e^{−x²/2} dx,
// H_n = ∫_a^∞ y^n e^{−y²} dy, F_i(y) = ∫_a^y x^i e^{−x²/2} dx and G(i, j) = ∫_a^∞ y^j e^{−y²/2} F_i(y) dy,
// so that ∫∫_{(a,∞)²} sgn(y − x) φ_iφ_j = G(i, j) − G(j, i), integration by parts gives
//   M_0 = ∫_a^∞ e^{−x²/2},  M_1 = e^{−a²/2},  M_j = a^{j−1}e^{−a²/2} + (j−1) M_{j−2},
//   H_0 = M_0(a√2)/√2,      H_1 = e^{−a²}/2,   H_n = a^{n−1}e^{−a²}/2 + (n−1)/2·H_{n−2},
//   G(0, 0) = M_0²/2,  G(0, 1) = H_0,  G(0, j) = (j−1) G(0, j−2) + H_{j−1}                 (j ≥ 2),
//   G(i, j) = (i−1) G(i−2, j) + a^{i−1}e^{−a²/2} M_j − H_{i+j−1}                            (i ≥ 1).
// At a = 0 these are the half-integer Γ recursions of the unshifted case. The region below c maps to
// (−c, ∞) by x → −x (φ_i(−u) = (−1)^i φ_i(u), and sgn flips), and the mixed regions factor into products
// of moments. Checks: k = 1: P = Φ(μ). k = 2 at μ = 0: P = (2 − √2)/4. E[z^N] at z = 1 is 1 (the weighted
// Pfaffian against Mehta's formula — tested).
//
// The monomial moments make the Pfaffian an enormous cancellation: it is evaluated (pivoted
// Parlett–Reid elimination, rmt/multiprecision.h) in Boost.Multiprecision cpp_bin_float with 400 decimal digits, enough for
// 2k + 80 digits up to k = 160; a threshold |c| = |μ| costs about μ²/(2 ln 10) more digits (the moments
// at large positive a are small differences), hence the limit on |μ|.
#include <cstdint>

namespace saddlescope::rmt {

struct ExactValue {
  bool available = false;  // false when k or μ is outside the supported range
  double p = 0;            // may underflow to 0 for k ≳ 45; log_p stays finite
  double log_p = 0;        // natural log
};

inline constexpr int kMaxExactK = 160;
inline constexpr double kMaxExactShift = 12.0;  // |μ| ≤ this (digits: see above)

// Exact P(all eigenvalues > 0) for the k×k GOE (any positive scale; shift 0).
ExactValue goe_positive_probability_exact(int k);
// Exact P(all eigenvalues of H₀ + μI > 0) = P(λ_min(H₀) > −μ) for the k×k GOE H₀ at scale 1 (for scale s
// pass μ/s). k in [1, kMaxExactK], |μ| ≤ kMaxExactShift, else available = false.
ExactValue goe_positive_probability_exact(int k, double shift);

// Exact mean and variance of the index N (eigenvalues of H₀ + μI below 0) of the k×k GOE at scale 1, from
// the generating function E[z^N] (above): mean = F'(1), variance = F''(1) + F'(1) − F'(1)², the derivatives
// by central differences with step 1e-30 in 400-digit arithmetic (truncation ~1e-60 relative).
struct ExactIndexMoments {
  bool available = false;  // k in [1, kMaxExactIndexK], |μ| ≤ kMaxExactShift
  double mean = 0, variance = 0;
};
inline constexpr int kMaxExactIndexK = 100;
ExactIndexMoments goe_index_moments_exact(int k, double shift = 0.0);
// E[z^N] for z ≥ 0 (the weighted Pfaffian over Mehta's integral, not normalised by its value at z = 1, so
// that z = 1 checks the whole construction: it must be 1). NaN outside the ranges above.
double goe_index_generating_function(int k, double shift, double z);

}  // namespace saddlescope::rmt
