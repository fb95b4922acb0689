#pragma once
// The multiprecision pieces the exact values share (rmt/exact.h for the GOE, rmt/exact_wishart.h for the
// Laguerre ensemble): the 400-digit type, the Pfaffian of de Bruijn's skew matrix and the Gaussian tail.
// Internal to lib/rmt (not part of the public API); every function is deterministic.
#include <boost/multiprecision/cpp_bin_float.hpp>
#include <vector>

namespace saddlescope::rmt::multiprecision {

using Real = boost::multiprecision::number<boost::multiprecision::cpp_bin_float<400>, boost::multiprecision::et_off>;
using RealMatrix = std::vector<std::vector<Real>>;

// Pfaffian of the skew-symmetric n×n matrix A (n even), destroying A: pivoted Parlett–Reid elimination
// (the pivot A(c, kp) of largest magnitude is swapped into A(c, c+1); each swap flips the sign).
Real pfaffian(RealMatrix& A);

// ∫_a^∞ e^{−x²/2} dx for any real a.
Real gaussian_tail(const Real& a);

}  // namespace saddlescope::rmt::multiprecision
