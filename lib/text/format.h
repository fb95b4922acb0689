#pragma once
// The one number formatter, for human summaries, tables and the values quoted in error messages
// ("'lr' = 0.10000000000000001 must be > 0"). printf's %g / %e, whose output is the same on every
// C library we build with; non-finite values print as "nan", "inf" and "-inf" (never "-nan").
#include <string>

namespace saddlescope::text {

enum class Notation {
  general,     // %.{digits}g: fixed or exponent, whichever is shorter; trailing zeros dropped
  scientific,  // %.{digits}e: one digit, point, `digits` digits, exponent (residuals, tolerances)
};

// `digits` significant digits (general) or digits after the point (scientific); 1 ≤ digits ≤ 40 is
// honoured, other values are clamped into that range. kRoundTrip (17) general digits print a double
// so that reading the text back gives the same bits.
inline constexpr int kRoundTrip = 17;
std::string format_number(double value, int digits = 6, Notation notation = Notation::general);

}  // namespace saddlescope::text
