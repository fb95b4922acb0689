#pragma once
// Exact P(λ_min(XXᵀ) > c) for X a k×m standard Gaussian matrix, m ≥ k (the real Wishart W_k(m, I)), at
// any threshold c ≥ 0: the event of rmt-check's `wishart` ensemble H = s·XXᵀ/m + μI at μ < 0, with
// c = −μm/s. By de Bruijn's identity, as rmt/exact.h does for the GOE.
//
// The density. The ordered eigenvalues of XXᵀ have the Laguerre β = 1 density
//   ∝ Π_{i<j} (λ_j − λ_i) Π_i λ_i^a e^{−λ_i/2},   a = (m − k − 1)/2 ≥ −½
// (Muirhead, Aspects of Multivariate Statistical Theory, Thm 3.2.17). With φ_i(x) = x^{i+a} e^{−x/2}
// (i = 0 … k−1) the integrand is det[φ_i(x_j)], so with w = 1 on (c, ∞)
//   Z(c) = ∫_{c<x₁<…<x_k} det[φ_i(x_j)] dx = Pf[A(c)],  A_ij = ∫∫_{(c,∞)²} sgn(y − x) φ_i(x) φ_j(y) dx dy,
// bordered for odd k with b_i = ∫_c^∞ φ_i, and P(c) = Z(c)/Z(0) (the same Pfaffian at c = 0: no separate
// normalising constant is needed, and the ratio is exact whatever sign convention the Pfaffian has).
//
// The integrals. With s = a + i, t = a + j, n an integer,
//   M(s) = ∫_c^∞ x^s e^{−x/2} dx,   K(n) = ∫_c^∞ y^n e^{−y} dy,   F_s(y) = ∫_c^y x^s e^{−x/2} dx,
//   G(s, t) = ∫_c^∞ y^t e^{−y/2} F_s(y) dy = ∫∫_{c<x<y} φ_i(x) φ_j(y),   so A_ij = G(s, t) − G(t, s).
// Integration by parts (x^s e^{−x/2} = d/dx[−2x^s e^{−x/2}] + 2s x^{s−1} e^{−x/2}) gives, all for c ≥ 0:
//   M(s) = 2c^s e^{−c/2} + 2s M(s − 1),   from   M(0) = 2e^{−c/2}                       (integer a)
//                                          or   M(−½) = 2∫_{√c}^∞ e^{−y²/2} dy = √(2π) erfc(√(c/2))  (half-integer a);
//   K(n) = c^n e^{−c} + n K(n − 1),        K(0) = e^{−c};
//   F_s(y) = 2c^s e^{−c/2} − 2y^s e^{−y/2} + 2s F_{s−1}(y), hence for i ≥ 1
//   G(s, t) = 2c^s e^{−c/2} M(t) − 2K(s + t) + 2s G(s − 1, t);
// and, by parts in y instead (the boundary term vanishes: F_s(c) = 0), for the first row
//   G(a, t) = 2K(a + t) + 2t G(a, t − 1),   G(a, a) = M(a)²/2 (∫∫_{x<y} φ(x)φ(y) = (∫φ)²/2).
// s + t = 2a + i + j = m − k − 1 + i + j is an integer, ≥ 0 wherever it is used, so K needs no
// incomplete-Γ at a non-integer argument and the only special function is erfc at half-integer a (in
// 400 digits via the Gaussian-tail series of rmt/multiprecision.h). Checks (tests/rmt/exact_wishart_test.cpp):
// k = 1 is P(χ²_m > c) = Q(m/2, c/2); at m = k + 1 (a = 0), substituting λ = x + c leaves the density's
// form unchanged and P(c) = e^{−kc/2} exactly; half-integer a against plain Monte Carlo.
//
// Digits. The monomial basis makes the Pfaffian a cancellation that grows with k and with c (the functions
// x^{i+a}e^{−x/2} on (c, ∞) become nearly collinear as c grows). Measured in the 400-digit type of
// rmt/multiprecision.h against the a = 0 identity P = e^{−kc/2}: the absolute error of ln P is 1e-347 at
// (k, c) = (50, 10), 1e-242 at (50, 400), 1e-300 at (100, 10), 1e-130 at (100, 400) — the corner of the range
// below keeps 130 digits; 120 digits would not do (ln P off by 12% at (100, 100)). For a ≠ 0 (m − k = 0, 2,
// 99, 100 at k = 50, 100 and c = 10, 400) the 400- and 800-digit evaluations agree in every digit of the
// double. Outside the range the function says "not available" rather than return digits it cannot vouch
// for. Cost: about 1 s per call at k = 100 (two Pfaffians), 0.1 s at k = 50.
#include "rmt/exact.h"

namespace saddlescope::rmt {

inline constexpr int kMaxExactWishartK = 100;
inline constexpr long kMaxExactWishartExcess = 100;        // m − k
inline constexpr double kMaxExactWishartThreshold = 400.0;  // c

// Exact P(λ_min(XXᵀ) > c), X k×m standard Gaussian: available for 1 ≤ k ≤ kMaxExactWishartK,
// k ≤ m ≤ k + kMaxExactWishartExcess and 0 ≤ c ≤ kMaxExactWishartThreshold (c = 0 gives P = 1).
ExactValue wishart_min_eigenvalue_exceeds_exact(int k, long m, double threshold);

}  // namespace saddlescope::rmt
