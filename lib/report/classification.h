#pragma once
// Two reporters of one Classification (google/benchmark's habit): JSON for machines, an aligned
// summary for people; plus its HDF5 form (the report layer: report/ renders, critical/ computes).
#include <hdf5.h>

#include <nlohmann/json.hpp>
#include <string>

#include "critical/classify.h"

namespace saddlescope::report {

// `show` = how many eigenvalues to list at each end (eigenvalues_smallest / eigenvalues_largest,
// both ascending). The escape direction is listed in full when n ≤ max_listed_direction.
nlohmann::json to_json(const critical::Classification& c, Eigen::Index show, Eigen::Index max_listed_direction = 32);

// The aligned human summary (several lines, each ending in '\n').
std::string summary_text(const critical::Classification& c, Eigen::Index show);

// Datasets /eigenvalues, /escape_direction (when present) and scalar attributes on `group`.
void write_classification(hid_t group, const critical::Classification& c);

}  // namespace saddlescope::report
