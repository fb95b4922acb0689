#include "optim/fields.h"

#include "objective/spec_options.h"

namespace saddlescope::optim {

bool Range::contains(double v) const {
  if (!std::isfinite(v)) return false;
  const bool low_ok = low_open ? v > low : v >= low;
  const bool high_ok = high_open ? v < high : v <= high;
  return low_ok && high_ok;
}

std::string Range::rule(FieldType type) const {
  const std::string finite = type == FieldType::real ? "finite and " : "";
  const bool has_low = std::isfinite(low), has_high = std::isfinite(high);
  std::string rule;
  if (has_low && has_high) {
    rule = "must be in " + std::string(low_open ? "(" : "[") + text::format_number(low, text::kRoundTrip) + ", " + text::format_number(high, text::kRoundTrip) +
           (high_open ? ")" : "]");
  } else if (has_low) {
    rule = "must be " + finite + (low_open ? "> " : ">= ") + text::format_number(low, text::kRoundTrip);
  } else if (has_high) {
    rule = "must be " + finite + (high_open ? "< " : "<= ") + text::format_number(high, text::kRoundTrip);
  } else {
    rule = "must be finite";
  }
  return note.empty() ? rule : rule + " (" + note + ")";
}

Range at_least(double low, std::string note) {
  Range r;
  r.low = low;
  r.note = std::move(note);
  return r;
}

Range above(double low, std::string note) {
  Range r;
  r.low = low;
  r.low_open = true;
  r.note = std::move(note);
  return r;
}

Range between(double low, double high, bool high_open) {
  Range r;
  r.low = low;
  r.high = high;
  r.high_open = high_open;
  return r;
}

nlohmann::json field_value_from_text(const FieldInfo& field, const std::string& text) {
  const std::string head = "'" + field.name + "' = '" + text + "' ";
  switch (field.type) {
    case FieldType::real: {
      const auto v = objective::parse_real(text);
      if (!v) throw std::invalid_argument(head + "must be a finite number");
      return *v;
    }
    case FieldType::integer: {
      const auto v = objective::parse_integer(text);
      if (!v) throw std::invalid_argument(head + "must be an integer (at most 2^63 - 1)");
      return *v;
    }
    case FieldType::boolean:
      if (text == "true" || text == "1") return true;
      if (text == "false" || text == "0") return false;
      throw std::invalid_argument(head + "must be true or false");
    case FieldType::choice: {
      std::string known;
      for (const auto& c : field.choices) {
        if (c == text) return text;
        known += (known.empty() ? "" : ", ") + c;
      }
      throw std::invalid_argument(head + "must be one of " + known);
    }
    case FieldType::real_pair: {
      const auto comma = text.find(',');
      const auto first = objective::parse_real(text.substr(0, comma));
      const auto second =
          comma == std::string::npos ? std::nullopt : objective::parse_real(text.substr(comma + 1));
      if (!first || !second) throw std::invalid_argument(head + "must be exactly two finite numbers, e.g. 0.9,0.999");
      return nlohmann::json::array({*first, *second});
    }
  }
  throw std::invalid_argument(head + "has an unknown type");
}

}  // namespace saddlescope::optim
