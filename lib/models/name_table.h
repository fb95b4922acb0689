#pragma once
// Lookups in the enum ↔ name tables of the models module (activation, loss, init, batch-norm mode):
// parsing and printing share one list, and an unknown name is refused with the list of known ones.
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace saddlescope::models {

template <class E>
std::string name_of(const std::vector<std::pair<E, std::string>>& table, E value) {
  for (const auto& [e, name] : table)
    if (e == value) return name;
  return "?";
}

// Throws std::invalid_argument("unknown <what> '<name>' (known: a, b, c)").
template <class E>
E parse_name(const std::vector<std::pair<E, std::string>>& table, const std::string& name, const char* what) {
  std::string known;
  for (const auto& [e, n] : table) {
    if (n == name) return e;
    known += (known.empty() ? "" : ", ") + n;
  }
  throw std::invalid_argument(std::string("unknown ") + what + " '" + name + "' (known: " + known + ")");
}

}  // namespace saddlescope::models
