// The one number formatter (lib/text/format.h).
#include "text/format.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>

namespace {

using saddlescope::text::format_number;
using saddlescope::text::kRoundTrip;
using saddlescope::text::Notation;

TEST(FormatNumber, GeneralNotationIsPrintfG) {
  // C11 7.21.6.1 (%g): `digits` significant digits, trailing zeros removed, exponent form when the
  // exponent is < -4 or >= the precision; exponents have at least two digits.
  EXPECT_EQ(format_number(0.5), "0.5");
  EXPECT_EQ(format_number(1234567.0), "1.23457e+06");
  EXPECT_EQ(format_number(1.0 / 3.0, 4), "0.3333");
  EXPECT_EQ(format_number(2.5e-5, 3), "2.5e-05");
  EXPECT_EQ(format_number(-3.0), "-3");
}

TEST(FormatNumber, ScientificNotationIsPrintfE) {
  EXPECT_EQ(format_number(1.23456e-5, 3, Notation::scientific), "1.235e-05");
  EXPECT_EQ(format_number(0.0, 3, Notation::scientific), "0.000e+00");
}

TEST(FormatNumber, RoundTripDigitsRecoverTheBits) {
  // 17 significant digits identify every IEEE double (Goldberg 1991, "What every computer scientist
  // should know about floating-point arithmetic", Theorem 15's consequence for binary64).
  for (double x : {0.1, 1.0 / 3.0, std::numeric_limits<double>::min(), std::numeric_limits<double>::max(), -2.0e-300,
                   std::numeric_limits<double>::denorm_min()}) {
    EXPECT_EQ(std::strtod(format_number(x, kRoundTrip).c_str(), nullptr), x) << format_number(x, kRoundTrip);
  }
  // The nearest double to 0.1 is 0.1000000000000000055511151231257827...; 17 digits show it.
  EXPECT_EQ(format_number(0.1, kRoundTrip), "0.10000000000000001");
}

TEST(FormatNumber, NonFiniteValuesPrintPlainly) {
  EXPECT_EQ(format_number(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(format_number(-std::numeric_limits<double>::infinity()), "-inf");
  EXPECT_EQ(format_number(std::numeric_limits<double>::quiet_NaN()), "nan");
  EXPECT_EQ(format_number(-std::numeric_limits<double>::quiet_NaN()), "nan");  // never "-nan"
  EXPECT_EQ(format_number(std::nan(""), 3, Notation::scientific), "nan");
}

TEST(FormatNumber, DigitsOutsideTheHonouredRangeAreClamped) {
  EXPECT_EQ(format_number(0.25, 0), format_number(0.25, 1));
  EXPECT_EQ(format_number(0.25, -5), "0.2");  // %.1g of 0.25: round-half-even on the exact binary value
  EXPECT_EQ(format_number(1.0 / 3.0, 1000), format_number(1.0 / 3.0, 40));
}

}  // namespace
