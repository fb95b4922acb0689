#pragma once
// The options contract (STYLE.md habit 2): an invalid options struct is refused by IsValid with a
// message that names the field.
#include <gtest/gtest.h>

#include <string>

namespace saddlescope::testing {

// `options.IsValid` refuses, and its message names `field` (spelled as the message quotes it).
template <class Options>
void expect_invalid(const Options& options, const std::string& field) {
  std::string why;
  EXPECT_FALSE(options.IsValid(&why)) << "field " << field;
  EXPECT_NE(why.find(field), std::string::npos) << why;
}

}  // namespace saddlescope::testing
