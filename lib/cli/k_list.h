#pragma once
// rmt-check's --k: the list of matrix sizes, as the command line spells it.
#include <string>
#include <vector>

namespace saddlescope::cli {

// Parses "5", "1:12" (inclusive), "1:30:5" (step) or "2,4,8"; every k in [1, 100000]. Throws
// std::invalid_argument naming --k, the text and the accepted forms.
std::vector<int> parse_k_list(const std::string& text);

}  // namespace saddlescope::cli
