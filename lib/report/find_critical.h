#pragma once
// The renderings of a find-critical run (explore/find_critical.h): the --json summary, the aligned text
// summary and the HDF5 result body. Layout of the result file's body:
//   root attribute  objective_spec (JSON of the objective)
//   /points/{x [m, n], value, index, nullity, lambda_min, lambda_max, grad_norm, verdict (strings),
//            start_count, first_start}   one row per distinct point, in order of discovery
//   /starts/{status (strings), iterations, point, final_value, final_grad_norm}   one row per start
// (the result header, with the summary below minus "points", is io::write_result_header's).
#include <hdf5.h>

#include <nlohmann/json.hpp>
#include <string>

#include "explore/find_critical.h"

namespace saddlescope::report {

// What the renderings say about where the run came from (not part of FindSummary).
struct FindCriticalSource {
  std::string objective;        // the objective's description()
  std::string source;           // "problem <spec>" or the checkpoint's description
  objective::Index n = 0;       // dimension
  std::string objective_spec;   // the objective's spec().dump(), stored in the result file
  objective::Index x_max_dim = 100;  // the JSON lists each point's x only when n ≤ this
};

// {"objective", "source", "n", "starts", "converged", "not_converged"{stalled, max_iterations, diverged},
//  "duplicates", "unique_points", "settings"{grad_tol, max_iterations, dedup_rtol, seed, method,
//  box | radius}, "verdicts"{name: count}, "index_loss_spearman" (over the points that are not minima;
//  null when undefined), "points"[{value, verdict, index, nullity, grad_norm, lambda_min, lambda_max,
//  start_count, x (n ≤ x_max_dim)}]}.
nlohmann::json to_json(const explore::FindSummary& result, const explore::FindOptions& options,
                       const FindCriticalSource& source);

// The aligned human summary (lines ending in '\n'): starts and their outcomes, distinct points by
// verdict, the loss–index rank correlation, then one line per point.
std::string summary_text(const explore::FindSummary& result, const explore::FindOptions& options,
                         const FindCriticalSource& source);

// The body of the result file (layout above) on the open file `file`.
void write_find_critical(hid_t file, const explore::FindSummary& result, const FindCriticalSource& source);

}  // namespace saddlescope::report
