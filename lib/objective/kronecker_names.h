#pragma once
// The name table of objective::KroneckerFisher (flags, config files, result files): "exact", "sampled",
// "empirical" (objective/kronecker.h explains each).
#include <string>

#include "objective/kronecker.h"
#include "text/names.h"

namespace saddlescope::objective {

inline constexpr auto kKroneckerFisherNames = text::make_name_table<KroneckerFisher>(
    "K-FAC fisher", {{KroneckerFisher::exact, "exact"},
                     {KroneckerFisher::sampled, "sampled"},
                     {KroneckerFisher::empirical, "empirical"}});
inline std::string to_string(KroneckerFisher which) { return std::string(kKroneckerFisherNames.name(which)); }

}  // namespace saddlescope::objective
