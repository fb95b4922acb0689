// The name-table type every flag- or file-named enum uses (lib/text/names.h).
#include "text/names.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace {

namespace text = saddlescope::text;

enum class Colour { red, green, blue };
constexpr auto kColourNames =
    text::make_name_table<Colour>("colour", {{Colour::red, "red"}, {Colour::green, "green"}, {Colour::blue, "blue"}});

// The table is usable at compile time (it backs constexpr to_string functions).
static_assert(kColourNames.size() == 3);
static_assert(kColourNames.name(Colour::green) == "green");
static_assert(kColourNames.find("blue") == Colour::blue);
static_assert(!kColourNames.find("Blue").has_value());

TEST(NameTable, EveryEntryRoundTrips) {
  int count = 0;
  for (const auto& [value, name] : kColourNames) {
    EXPECT_EQ(kColourNames.name(value), name);
    EXPECT_EQ(kColourNames.parse(name), value);
    ++count;
  }
  EXPECT_EQ(count, 3);
}

TEST(NameTable, ParseErrorNamesKindTextAndEveryKnownName) {
  try {
    kColourNames.parse("purple");
    FAIL() << "parse accepted an unknown name";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "unknown colour 'purple' (known: red, green, blue)");
  }
}

TEST(NameTable, MatchIsExact) {
  // No case folding, no prefixes, no whitespace trimming: the name as printed is the name accepted.
  EXPECT_FALSE(kColourNames.find("RED").has_value());
  EXPECT_FALSE(kColourNames.find("re").has_value());
  EXPECT_FALSE(kColourNames.find(" red").has_value());
  EXPECT_FALSE(kColourNames.find("").has_value());
}

TEST(NameTable, ValueOutsideTheTablePrintsUnknown) {
  EXPECT_EQ(kColourNames.name(static_cast<Colour>(7)), "unknown");
}

TEST(NameTable, NamesAndKnownListTableOrder) {
  EXPECT_EQ(kColourNames.names(), (std::vector<std::string>{"red", "green", "blue"}));
  EXPECT_EQ(kColourNames.known(), "red, green, blue");
  EXPECT_EQ(kColourNames.kind(), "colour");
}

}  // namespace
