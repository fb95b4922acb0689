#include "cli/k_list.h"

#include <sstream>
#include <stdexcept>

namespace saddlescope::cli {

std::vector<int> parse_k_list(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return std::invalid_argument("--k '" + text + "': " + why + " (use 5, 1:12, 1:30:5 or 2,4,8; every k >= 1)");
  };
  auto parse_int = [&](const std::string& s) {
    std::size_t used = 0;
    long v = 0;
    try {
      v = std::stol(s, &used);
    } catch (const std::exception&) {
      throw bad("'" + s + "' is not an integer");
    }
    if (used != s.size()) throw bad("'" + s + "' is not an integer");
    if (v < 1) throw bad("k must be >= 1, got " + s);
    if (v > 100000) throw bad("k must be <= 100000, got " + s);
    return static_cast<int>(v);
  };
  std::vector<int> ks;
  if (text.empty()) throw bad("empty");
  if (text.find(':') != std::string::npos) {
    std::vector<std::string> parts;
    std::stringstream in(text);
    for (std::string part; std::getline(in, part, ':');) parts.push_back(part);
    if (parts.size() < 2 || parts.size() > 3) throw bad("a range has 2 or 3 parts");
    const int lo = parse_int(parts[0]), hi = parse_int(parts[1]);
    const int step = parts.size() == 3 ? parse_int(parts[2]) : 1;
    if (hi < lo) throw bad("the range is empty");
    for (int k = lo; k <= hi; k += step) ks.push_back(k);
  } else {
    std::stringstream in(text);
    for (std::string part; std::getline(in, part, ',');) ks.push_back(parse_int(part));
  }
  if (ks.empty()) throw bad("no k given");
  return ks;
}

}  // namespace saddlescope::cli
