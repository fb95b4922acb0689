#pragma once
// The multiprecision Pfaffian behind the exact values by de Bruijn's identity (rmt/exact.h for the GOE,
// rmt/exact_jacobi.h for the two-level Hessian). The monomial moments of de Bruijn's matrix make its
// Pfaffian an enormous cancellation, so it is evaluated in Boost.Multiprecision cpp_bin_float with 400
// decimal digits (enough for 2k + 80 digits up to k = 160; each caller states its own digit budget).
#include <boost/multiprecision/cpp_bin_float.hpp>
#include <vector>

namespace saddlescope::rmt {

using ExactReal = boost::multiprecision::number<boost::multiprecision::cpp_bin_float<400>, boost::multiprecision::et_off>;
using ExactRealMatrix = std::vector<std::vector<ExactReal>>;  // row-major, square

// Pfaffian of the skew-symmetric n×n matrix A (n even), destroying A: pivoted Parlett–Reid elimination
// (the pivot A(c, kp) of largest magnitude is swapped into A(c, c+1); each swap flips the sign).
ExactReal pfaffian(ExactRealMatrix& A);

}  // namespace saddlescope::rmt
