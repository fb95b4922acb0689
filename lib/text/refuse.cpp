#include "text/refuse.h"

#include "text/format.h"

namespace saddlescope::text {

bool refuse(std::string* why, const std::string& field, double value, const std::string& rule) {
  if (why != nullptr) *why = "'" + field + "' = " + format_number(value) + " must " + rule;
  return false;
}

}  // namespace saddlescope::text
