#include "objective/spec_options.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <stdexcept>

namespace saddlescope::objective {

std::optional<std::int64_t> parse_integer(const std::string& text) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<double> parse_real(const std::string& text) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value))
    return std::nullopt;
  return value;
}

std::string printable(std::string_view text) {
  std::string out;
  for (const unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      char buffer[8];
      std::snprintf(buffer, sizeof buffer, "\\x%02x", c);
      out += buffer;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

SpecOptions::SpecOptions(std::string what, const std::string& text) : what_(std::move(what)) {
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
      fail("option '" + printable(item) + "' is not of the form key=value");
    add(item.substr(0, eq), item.substr(eq + 1));
    if (comma == std::string::npos) break;
    start = comma + 1;
    if (start == text.size()) fail("trailing ',' in the options");
  }
}

std::pair<std::string, SpecOptions> SpecOptions::split(const std::string& what_prefix, const std::string& spec) {
  const std::size_t colon = spec.find(':');
  const std::string name = spec.substr(0, colon);
  SpecOptions options(what_prefix + " '" + printable(name) + "'", colon == std::string::npos ? std::string() : spec.substr(colon + 1));
  if (colon != std::string::npos && colon + 1 == spec.size()) options.fail("empty option list after ':'");
  return {name, std::move(options)};
}

void SpecOptions::add(const std::string& key, const std::string& text) {
  if (values_.count(key) != 0) fail("option '" + printable(key) + "' is given twice");
  values_[key] = text;
}

void SpecOptions::add_json(const nlohmann::json& object, const std::vector<std::string>& skip) {
  for (const auto& [key, value] : object.items()) {
    if (std::find(skip.begin(), skip.end(), key) != skip.end()) continue;
    if (value.is_string()) add(key, value.get<std::string>());
    else if (value.is_number() || value.is_boolean()) add(key, value.dump());
    else fail("option '" + printable(key) + "' must be a number or a string, got " + printable(value.dump()));
  }
}

std::optional<std::string> SpecOptions::take(const std::string& key) {
  const auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  std::string text = std::move(it->second);
  values_.erase(it);
  return text;
}

std::int64_t SpecOptions::integer(const std::string& key, std::int64_t fallback, std::int64_t low, std::int64_t high) {
  const auto text = take(key);
  if (!text) return fallback;
  const auto value = parse_integer(*text);
  if (!value) fail("option '" + key + "' must be an integer, got '" + printable(*text) + "'");
  if (*value < low || *value > high)
    fail("option '" + key + "' must be in [" + std::to_string(low) + ", " + std::to_string(high) + "], got " + *text);
  return *value;
}

double SpecOptions::real(const std::string& key, double fallback, double low, double high) {
  const auto text = take(key);
  if (!text) return fallback;
  const auto value = parse_real(*text);
  if (!value) fail("option '" + key + "' must be a finite number, got '" + printable(*text) + "'");
  if (*value < low || *value > high) {
    std::ostringstream rule;
    rule << "option '" << key << "' must be in [" << low << ", " << high << "], got " << *text;
    fail(rule.str());
  }
  return *value;
}

std::string SpecOptions::text(const std::string& key, const std::string& fallback) {
  return take(key).value_or(fallback);
}

void SpecOptions::finish(const std::string& allowed) const {
  if (!values_.empty())
    fail("unknown option '" + printable(values_.begin()->first) + "' (" +
         (allowed.empty() ? std::string("it takes no options") : "allowed: " + allowed) + ")");
}

void SpecOptions::fail(const std::string& problem) const { throw std::invalid_argument(what_ + ": " + problem); }

}  // namespace saddlescope::objective
