#include "text/format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace saddlescope::text {

std::string format_number(double value, int digits, Notation notation) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  const int d = std::clamp(digits, 1, 40);
  char buffer[96];  // sign, 40 digits, point, "e+308", NUL
  std::snprintf(buffer, sizeof buffer, notation == Notation::general ? "%.*g" : "%.*e", d, value);
  return buffer;
}

}  // namespace saddlescope::text
