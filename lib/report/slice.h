#pragma once
// The renderings of a loss slice (explore/slice.h): the settings that identify it, the --json and text
// summaries, and the result file (format "saddlescope-result", analysis "loss-slice"), resumable:
//
//   root attributes   provenance, analysis, input_file, input_sha256, summary (io/result.h);
//                     `settings` (JSON: everything that decides the grid values: objective spec, inputs'
//                     checksums, directions, grid, ranges, normalisation, seed, curvature); `status`
//                     ("complete" or "incomplete"); `points_done` (int64)
//   /origin [n]       the centre c (θ_A for interpolation);  /end [n] θ_B (interpolation only)
//   /directions/d1 [n], /directions/d2 [n] (2-D), /directions/eigenvalues (eigenvector directions)
//   /grid/alpha [n1], /grid/beta [n2] (2-D)
//   /loss             float64 [n1] or [n1, n2] (NaN where not yet computed)
//   /done             int64, same shape: 1 where the value is computed
//   /lambda_min, /lambda_max   float64, same shape (with curvature)
// The file is created whole under a temporary name and renamed into place (never over a file another
// process is writing: io/writer_lock.h), then written in place so that an interrupted run keeps every
// flushed chunk; --resume reopens it, refuses it unless its `settings` equal the new run's, and fills the
// points whose done flag is 0.
#include <hdf5.h>

#include <nlohmann/json.hpp>
#include <string>

#include "explore/slice.h"
#include "io/hdf5.h"
#include "io/provenance.h"

namespace saddlescope::report {

// Creates (or replaces) `path` with every dataset sized and the values of `values` (usually NaN, done 0).
// Built under a temporary name and renamed into place (io/writer_lock.h): an existing file is never
// truncated, and one another process is writing is not replaced (io::FileError "is being written by
// another process"). The returned handle keeps HDF5's exclusive flock, the mark of a live writer.
io::h5::Handle create_slice_file(const std::string& path, const io::Provenance& provenance,
                                 const std::string& input_path, const nlohmann::json& settings,
                                 const explore::SlicePlan& plan, const explore::SliceOptions& options, const explore::SliceValues& values);

// True when `path` is a readable loss-slice result file whose status is "incomplete": work that --resume
// could continue, which a fresh run must not replace (issue #17, item 2). False for anything else.
bool holds_an_incomplete_slice(const std::string& path);

// Opens an existing slice file read-write for resuming (refused while another process writes it). Throws io::FileError (exit 3) when it is not a
// loss-slice result file or its datasets have unexpected shapes, and std::invalid_argument (exit 2) when its
// settings differ from `settings` (naming the first field that differs). Fills `plan` and `values` from it.
io::h5::Handle open_slice_file(const std::string& path, const nlohmann::json& settings, objective::Index n,
                               const explore::SliceOptions& options, explore::SlicePlan& plan, explore::SliceValues& values);

// Overwrites /loss, /done (and λ datasets), sets `status`, `points_done` and `summary`, and flushes.
void write_slice_values(hid_t file, const explore::SliceValues& values, const nlohmann::json& summary);

// Everything that decides the grid values besides the points' identities (which the tool adds: "at",
// "to_at", "input_sha256", "to_sha256"): objective spec, directions, dims, grid, range, normalization,
// zero_one_dimensional, seed, curvature, method. A resumed file must have equal settings.
nlohmann::json slice_settings(const objective::Objective& objective, const explore::SliceOptions& options);

// What the summaries say besides the plan and the values.
struct SliceRun {
  std::string objective;          // description()
  std::string source;             // "checkpoint <path>" or "problem <spec>"
  objective::Index n = 0;
  nlohmann::json settings;        // slice_settings plus the points' identities
  objective::Index done_before = 0;   // points already done in a resumed file
  objective::Index computed_now = 0;  // points computed by this run
};

// The summary stored in the file at every flush: objective, source, n, settings, points_total,
// points_done, status ("complete" or "incomplete").
nlohmann::json slice_summary(const SliceRun& run, const explore::SlicePlan& plan, const explore::SliceValues& values);
// The --json summary: slice_summary plus points_computed_now, points_done_before, direction_eigenvalues,
// alpha, beta (2-D), loss (and lambda_min, lambda_max with curvature) as grids (null where not computed).
nlohmann::json to_json(const SliceRun& run, const explore::SlicePlan& plan, const explore::SliceValues& values,
                       const explore::SliceOptions& options);
// The aligned human summary: directions, grid, points computed, loss range, direction eigenvalues.
std::string summary_text(const SliceRun& run, const explore::SlicePlan& plan, const explore::SliceValues& values,
                         const explore::SliceOptions& options);

}  // namespace saddlescope::report
