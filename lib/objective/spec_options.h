#pragma once
// The one parser of "name:key=value,key=value" option lists: test-function specs (`--problem
// rosenbrock:n=4`), their JSON form in a checkpoint (`{"kind": "function", "function": "rosenbrock",
// "n": 4}`), synthetic data specs (`--data mixture:n=300,classes=3`) and learning-rate schedules
// (`--schedule step:step_size=10`). Strict, so a typo never silently changes a run:
//   - every item is key=value with a non-empty key and value; a trailing ',' or an empty list after
//     ':' is refused; a key given twice (also once in the string and once as a JSON key) is refused;
//   - numbers are parsed whole by std::from_chars (no "10abc", no "0x10"); integers are integers
//     ("1e3" is not one); reals must be finite; both are checked against a closed range;
//   - finish() refuses every key the caller did not read, listing the allowed ones.
// Every refusal is std::invalid_argument("<what>: <problem>"), <what> naming the spec (e.g.
// "problem spec 'rosenbrock'").
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace saddlescope::objective {

class SpecOptions {
 public:
  // `what` prefixes every message; `text` is the list after the ':' (may be empty: no options).
  SpecOptions(std::string what, const std::string& text);
  // Splits "name" or "name:options" into its name and options (refusing "name:" with nothing after).
  static std::pair<std::string, SpecOptions> split(const std::string& what_prefix, const std::string& spec);

  // Adds one key given outside the string (a JSON key beside it); refused when already given.
  void add(const std::string& key, const std::string& text);
  // Adds every key of a JSON object except those in `skip`: strings as they are, numbers and
  // booleans as JSON writes them; arrays and objects are refused.
  void add_json(const nlohmann::json& object, const std::vector<std::string>& skip);

  bool has(const std::string& key) const { return values_.count(key) != 0; }
  // Removes and returns the raw text of `key`, or nothing when it was not given.
  std::optional<std::string> take(const std::string& key);
  std::int64_t integer(const std::string& key, std::int64_t fallback, std::int64_t low, std::int64_t high);
  double real(const std::string& key, double fallback, double low, double high);
  std::string text(const std::string& key, const std::string& fallback);

  // Call after reading every known key: anything left is unknown. `allowed` lists the known keys for
  // the message ("" for a spec that takes no options).
  void finish(const std::string& allowed) const;
  [[noreturn]] void fail(const std::string& problem) const;
  const std::string& what() const { return what_; }

 private:
  std::string what_;
  std::map<std::string, std::string> values_;
};

// `text` as it may be quoted in a message: control characters (a NUL, a newline, an escape sequence)
// as \xNN, so an exception's what() is neither cut at a NUL nor split over lines.
std::string printable(std::string_view text);

// Strict whole-string number parsing shared by the spec options and the command-line field tables
// (optim/fields.h): nothing on failure (not a number, trailing characters, out of the type's range,
// and for parse_real a non-finite value).
std::optional<std::int64_t> parse_integer(const std::string& text);
std::optional<double> parse_real(const std::string& text);

}  // namespace saddlescope::objective
