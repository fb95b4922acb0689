#pragma once
// The one name table for every enum that a flag, a spec or a file names (activation, optimizer,
// ensemble, verdict, ...): parsing, printing, the CLI's checks and the error messages share one list,
// so a name added here is accepted, printed and listed in errors at once (STYLE.md, habit 6).
//
// A table is a constexpr value next to its enum:
//
//   enum class Loss { mse, cross_entropy, logistic };
//   inline constexpr auto kLossNames = text::make_name_table<Loss>(
//       "loss", {{Loss::mse, "mse"}, {Loss::cross_entropy, "cross_entropy"}, {Loss::logistic, "logistic"}});
//   inline std::string_view to_string(Loss loss) { return kLossNames.name(loss); }
//
// `parse` throws std::invalid_argument "unknown loss 'x' (known: mse, cross_entropy, logistic)" — the
// message names what was being parsed, the offending text and every accepted name, in table order.
// `find` is the non-throwing lookup. Iterating a table yields {value, name} entries in table order
// (structured bindings: `for (const auto& [value, name] : kLossNames)`).
#include <array>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace saddlescope::text {

template <class Enum>
struct NameEntry {
  Enum value;
  std::string_view name;
};

template <class Enum, std::size_t N>
class NameTable {
 public:
  // `kind` names what the table lists ("loss", "optimizer"), for error messages. Each value and each
  // name must appear once (checked when the table is built at compile time: a repeat fails to compile).
  constexpr NameTable(std::string_view kind, const std::array<NameEntry<Enum>, N>& entries)
      : kind_(kind), entries_(entries) {
    for (std::size_t i = 0; i < N; ++i)
      for (std::size_t j = i + 1; j < N; ++j)
        if (entries_[i].value == entries_[j].value || entries_[i].name == entries_[j].name)
          throw std::logic_error("name table: a value or name appears twice");
  }

  constexpr std::string_view kind() const { return kind_; }
  constexpr std::size_t size() const { return N; }
  constexpr auto begin() const { return entries_.begin(); }
  constexpr auto end() const { return entries_.end(); }

  // The name of `value`; "unknown" for a value outside the table (a cast integer), never a throw, so
  // printing a result can not fail.
  constexpr std::string_view name(Enum value) const {
    for (const auto& e : entries_)
      if (e.value == value) return e.name;
    return "unknown";
  }

  // The value named `name` (exact, case-sensitive match), or nullopt.
  constexpr std::optional<Enum> find(std::string_view name) const {
    for (const auto& e : entries_)
      if (e.name == name) return e.value;
    return std::nullopt;
  }

  // The value named `name`; std::invalid_argument "unknown <kind> '<name>' (known: a, b, c)" otherwise.
  Enum parse(std::string_view name) const {
    if (const auto v = find(name)) return *v;
    throw std::invalid_argument("unknown " + std::string(kind_) + " '" + std::string(name) + "' (known: " + known() +
                                ")");
  }

  // Every name in table order, joined by ", " (for error messages and --help).
  std::string known() const {
    std::string out;
    for (const auto& e : entries_) out += (out.empty() ? "" : ", ") + std::string(e.name);
    return out;
  }

  // Every name in table order (for CLI11's IsMember and similar checks).
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    out.reserve(N);
    for (const auto& e : entries_) out.emplace_back(e.name);
    return out;
  }

 private:
  std::string_view kind_;
  std::array<NameEntry<Enum>, N> entries_;
};

// Builds a table, deducing its size: make_name_table<Loss>("loss", {{Loss::mse, "mse"}, ...}).
template <class Enum, std::size_t N>
constexpr NameTable<Enum, N> make_name_table(std::string_view kind, const NameEntry<Enum> (&entries)[N]) {
  std::array<NameEntry<Enum>, N> a{};
  for (std::size_t i = 0; i < N; ++i) a[i] = entries[i];
  return NameTable<Enum, N>(kind, a);
}

}  // namespace saddlescope::text
