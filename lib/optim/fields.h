#pragma once
// One table of fields per configuration (the optimizer hyper-parameters, ScheduleConfig, the two
// escape policies' settings). A field is its name (the JSON key, torch's keyword; the flag is
// --name with '-' for '_'), its type, its accessors, its documented meaning, its range rule and which
// settings of the configuration use it. IsValid, to_json, from_json, the spec parser of schedules and
// the command-line flags of run-optimizer (cli::add_field_flags) are loops over the table, so adding a
// hyper-parameter is one entry (docs/cli.md shows one such diff).
//
// Defaults are not in the table: they stay the struct's in-class initialisers (and
// OptimizerConfig::defaults(kind) for torch's per-optimizer defaults), which the table reads through
// its accessors when it prints them.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "text/format.h"

namespace saddlescope::optim {

enum class FieldType { real, integer, boolean, choice, real_pair };

// The interval a number must lie in (each end closed or open, infinite for none); reals must also be
// finite. `note` explains a special value, e.g. "0: the paper's formula".
struct Range {
  double low = -std::numeric_limits<double>::infinity();
  double high = std::numeric_limits<double>::infinity();
  bool low_open = false;
  bool high_open = false;
  std::string note;
  bool contains(double value) const;
  // "must be finite and >= 0", "must be in [0, 1)", "must be >= 1 (0: off)" ...
  std::string rule(FieldType type) const;
};
// The usual ranges, named for how they read.
Range at_least(double low, std::string note = "");
Range above(double low, std::string note = "");
Range between(double low, double high, bool high_open = false);

// What the command line needs of a field, without the configuration's type.
struct FieldInfo {
  std::string name;
  FieldType type = FieldType::real;
  std::string meaning;
  std::vector<std::string> choices;  // FieldType::choice: the accepted names
};

// A field's value from command-line or spec text, strictly: whole-string numbers, integers as
// integers, booleans true/false/1/0, exactly two comma-separated numbers for a pair, a choice from its
// list. Throws std::invalid_argument "'<name>' = '<text>' must be ...".
nlohmann::json field_value_from_text(const FieldInfo& field, const std::string& text);

template <class Config>
struct Field {
  FieldInfo info;
  std::function<nlohmann::json(const Config&)> get;
  // Throws std::invalid_argument (or nlohmann::json::exception for a wrong JSON type) on a bad value.
  std::function<void(Config&, const nlohmann::json&)> set;
  // Whether the configuration (e.g. this optimizer) has the field: only then is it written, read and
  // checked.
  std::function<bool(const Config&)> used;
  // The rule: "" when the value is valid, else what is wrong ("'lr' = 0 must be finite and > 0").
  std::function<std::string(const Config&)> check;
  // Checked only when this also holds (default: always), e.g. krylov settings of a dense subspace.
  std::function<bool(const Config&)> checked_when;
  // torch has no default: a spec must give it (e.g. StepLR's step_size).
  std::function<bool(const Config&)> required;
};

template <class Config>
using FieldTable = std::vector<Field<Config>>;

template <class Config>
std::function<bool(const Config&)> always() {
  return [](const Config&) { return true; };
}

// "Used by these kinds": true when the configuration's `member` (e.g. its optimizer kind) is in `list`.
template <class Config, class Kind>
std::function<bool(const Config&)> kind_in(Kind Config::*member, std::initializer_list<Kind> list) {
  return [member, set = std::vector<Kind>(list)](const Config& c) {
    return std::find(set.begin(), set.end(), c.*member) != set.end();
  };
}

// A number held in a member: the range is the rule.
template <class Config, class Number>
Field<Config> number_field(std::string name, Number Config::*member, Range range, std::string meaning,
                           std::function<bool(const Config&)> used) {
  constexpr bool integral = std::is_integral_v<Number>;
  Field<Config> f;
  f.info = {std::move(name), integral ? FieldType::integer : FieldType::real, std::move(meaning), {}};
  f.get = [member](const Config& c) { return nlohmann::json(c.*member); };
  f.set = [member, key = f.info.name](Config& c, const nlohmann::json& v) {
    if constexpr (integral) {
      // JSON integers, or a float that holds an integer exactly (a hand-written 5.0).
      if (v.is_number_integer()) c.*member = v.get<Number>();
      else if (v.is_number_float() && v.get<double>() == std::floor(v.get<double>()) && std::abs(v.get<double>()) < 9e15)
        c.*member = static_cast<Number>(v.get<double>());
      else throw std::invalid_argument("'" + key + "' must be an integer, got " + v.dump());
    } else {
      if (!v.is_number()) throw std::invalid_argument("'" + key + "' must be a number, got " + v.dump());
      c.*member = v.get<double>();
    }
  };
  f.used = std::move(used);
  f.check = [member, range, key = f.info.name, type = f.info.type](const Config& c) -> std::string {
    const double value = static_cast<double>(c.*member);
    if (range.contains(value)) return "";
    return "'" + key + "' = " + text::format_number(value, text::kRoundTrip) + " " + range.rule(type);
  };
  return f;
}

template <class Config>
Field<Config> bool_field(std::string name, bool Config::*member, std::string meaning,
                         std::function<bool(const Config&)> used) {
  Field<Config> f;
  f.info = {std::move(name), FieldType::boolean, std::move(meaning), {}};
  f.get = [member](const Config& c) { return nlohmann::json(c.*member); };
  f.set = [member, key = f.info.name](Config& c, const nlohmann::json& v) {
    if (!v.is_boolean()) throw std::invalid_argument("'" + key + "' must be true or false, got " + v.dump());
    c.*member = v.get<bool>();
  };
  f.used = std::move(used);
  f.check = [](const Config&) { return std::string(); };
  return f;
}

// The generic halves of IsValid, to_json and from_json. `what` names the configuration in messages
// ("optimizer sgd", "schedule step", "perturb").
template <class Config>
bool check_fields(const FieldTable<Config>& table, const Config& c, const std::string& what, std::string* why) {
  for (const auto& f : table) {
    if (!f.used(c) || (f.checked_when && !f.checked_when(c))) continue;
    const std::string broken = f.check(c);
    if (broken.empty()) continue;
    if (why != nullptr) *why = what + ": " + broken;
    return false;
  }
  return true;
}

template <class Config>
void fields_to_json(const FieldTable<Config>& table, const Config& c, nlohmann::json& j) {
  for (const auto& f : table)
    if (f.used(c)) j[f.info.name] = f.get(c);
}

// Applies every key of `j` except `skip` to `c` (whose selecting fields, e.g. the kind, are already
// set); a key that is not a used field is refused ("<what> has no <noun> '<key>'"), and a required
// field that is missing too. Does not check ranges (call IsValid after).
template <class Config>
void fields_from_json(const FieldTable<Config>& table, Config& c, const nlohmann::json& j, const std::string& skip,
                      const std::string& what, const std::string& noun) {
  for (const auto& [key, value] : j.items()) {
    if (key == skip) continue;
    const Field<Config>* field = nullptr;
    for (const auto& f : table)
      if (f.info.name == key && f.used(c)) field = &f;
    if (field == nullptr) throw std::invalid_argument(what + " has no " + noun + " '" + key + "'");
    try {
      field->set(c, value);
    } catch (const nlohmann::json::exception&) {
      throw std::invalid_argument(what + " '" + key + "': wrong type (" + value.dump() + ")");
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(what + ": " + e.what());
    }
  }
  for (const auto& f : table)
    if (f.used(c) && f.required && f.required(c) && !j.contains(f.info.name))
      throw std::invalid_argument(what + " needs '" + f.info.name + "' (torch has no default)");
}

// The names of the used fields, comma-separated (for "allowed: ..." messages).
template <class Config>
std::string used_field_names(const FieldTable<Config>& table, const Config& c) {
  std::string names;
  for (const auto& f : table)
    if (f.used(c)) names += (names.empty() ? "" : ", ") + f.info.name;
  return names;
}

template <class Config>
std::vector<FieldInfo> field_infos(const FieldTable<Config>& table) {
  std::vector<FieldInfo> infos;
  for (const auto& f : table) infos.push_back(f.info);
  return infos;
}

}  // namespace saddlescope::optim
