#pragma once
// JSON text from outside the program (a --config file, a --problem or --model argument, a file's JSON
// attribute) parsed with a bound on its nesting depth. nlohmann::json recurses once per level when it
// prints, compares or copies a value, so text nested 10^5 levels deep overflows the stack (SIGSEGV)
// long before any size limit applies; no spec, setting or state of ours nests deeper than a few
// levels, so kMaxJsonDepth = 64 refuses only hostile or broken input.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace saddlescope::io {

inline constexpr int kMaxJsonDepth = 64;

// The deepest nesting of [ and { outside strings in `text` (counting stops past `limit`).
int json_nesting_depth(std::string_view text, int limit = kMaxJsonDepth);

// Parses `text`: a discarded value (is_discarded()) when it is not JSON or nests deeper than
// kMaxJsonDepth, with the reason in `why` ("not valid JSON", "nested deeper than 64 levels").
nlohmann::json parse_json_bounded(const std::string& text, std::string* why = nullptr);

}  // namespace saddlescope::io
