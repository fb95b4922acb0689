#pragma once
// Exact P(all k eigenvalues > 0) for the GOE (β = 1, eigenvalue weight exp(−λ²/2)), by de Bruijn's
// identity (Duke Math. J. 22 (1955) 391):
//
//   ∫_{x₁<…<x_k ∈ I} det[φ_i(x_j)] dx = Pf[a_ij] (k even),  a_ij = ∫∫_{I²} sgn(y − x) φ_i(x) φ_j(y) dx dy,
//
// and for odd k the Pfaffian of a bordered with b_i = ∫_I φ_i. With φ_i(x) = x^i e^{−x²/2} the integrand is
// the ordered joint eigenvalue density (Vandermonde = det[x_j^i]), so over I = (0, ∞) it gives
// Z₊ = ∫_{0<x₁<…<x_k} |Δ(x)| Π e^{−x²/2}, and P = Z₊ / Z_R with Mehta's integral (Selberg, γ = ½)
//   Z_R = (2π)^{k/2} Π_{j=1..k} Γ(1 + j/2)/Γ(3/2) / k!  (ordered).
//
// The entries need only half-integer Γ values: with F_i(y) = ∫₀^y x^i e^{−x²/2} dx and
// G(i, j) = ∫₀^∞ y^j e^{−y²/2} F_i(y) dy, a_ij = G(i, j) − G(j, i) and, by parts,
//   G(0, 0) = π/4,  G(0, 1) = √π/2,  G(0, j) = (j−1) G(0, j−2) + Γ(j/2)/2          (j ≥ 2),
//   G(1, j) = M_j − Γ((j+1)/2)/2,     M_j = ∫₀^∞ y^j e^{−y²/2} dy = 2^{(j−1)/2} Γ((j+1)/2),
//   G(i, j) = (i−1) G(i−2, j) − Γ((i+j)/2)/2                                      (i ≥ 2).
// Checks: k = 1: P = M₀/√(2π) = ½. k = 2: Pf = a₀₁ = G(0,1) − G(1,0) = √π/2 − (√(π/2) − √π/2) = √π(1 − 1/√2)
// and Z_R = 2√π, so P = (1 − 1/√2)/2 = (2 − √2)/4.
//
// The monomial moments make the Pfaffian an enormous cancellation: it is evaluated (pivoted
// Parlett–Reid elimination) in Boost.Multiprecision cpp_bin_float with 400
// decimal digits, enough for 2k + 80 digits up to k = 160.
#include <cstdint>

namespace saddlescope::rmt {

struct ExactValue {
  bool available = false;  // false when k is outside [1, kMaxExactK]
  double p = 0;            // may underflow to 0 for k ≳ 45; log_p stays finite
  double log_p = 0;        // natural log
};

inline constexpr int kMaxExactK = 160;

// Exact P(all eigenvalues > 0) for the k×k GOE (any positive scale; shift 0).
ExactValue goe_positive_probability_exact(int k);

}  // namespace saddlescope::rmt
