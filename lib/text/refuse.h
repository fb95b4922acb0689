#pragma once
// The one sentence an options struct's IsValid writes when a field breaks its rule:
// "'<field>' = <value> must <rule>" (STYLE.md habit 2: name the field, the value and the rule), the
// value through the one number formatter (text/format.h).
#include <string>

namespace saddlescope::text {

// Writes the sentence to *why (when not null) and returns false, for `return refuse(...)` in IsValid.
bool refuse(std::string* why, const std::string& field, double value, const std::string& rule);

}  // namespace saddlescope::text
