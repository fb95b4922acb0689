#pragma once
// Checkpoint files (DESIGN.md): a point in parameter space and everything needed to rebuild the
// objective there.
//
// Layout (format "saddlescope-checkpoint", format_version 1):
//   /params            float64 [n]
//   /objective         group; attribute `spec` (JSON string: {"kind": ..., ...}, see problem/problem.h)
//   /data/X, /data/y   float64 [N, d] and [N, k] (optional, embedded data set), optional
//                      /data/sample_shape int64 (DataArrays::sample_shape); or attributes
//                      `data_file` and `data_group` on /data naming a data set in another HDF5 file
//   /optimizer_state   optional group; attribute `config` (JSON), one float64 dataset per state buffer,
//                      attribute `step` (int64), optional attribute `run_step` (int64, ≥ 0: the trainer
//                      steps the run had taken, where a resumed run continues; files before it lack it);
//                      both counts at most kMaxRunSteps
//   graph models ({"kind": "graph"}, docs/graph.md) add
//   /objective/onnx    uint8 [bytes]: the serialized ONNX ModelProto (models/graph/onnx_import.h)
//   /buffers/<name>    float64 [count]: each buffer (batch-norm running statistics) flattened row-major,
//                      named as in the spec's `buffer_names` (torch's buffer names)
//   run-optimizer with --histogram-every adds (optim/histograms.h), so a resumed run keeps the bins:
//   /histogram_edges/<quantity>   float64 [L, bins + 1] per quantity (weights, gradients, updates), each
//                      row strictly increasing; attribute `blocks` on the group (JSON list of the L names)
// Files without these read as before (format_version stays 1: the layout only gains optional parts).
// plus the provenance attributes at the root (io/provenance.h).
#include <Eigen/Core>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "io/provenance.h"
#include "io/shard.h"

namespace saddlescope::io {

inline constexpr const char* kCheckpointFormat = "saddlescope-checkpoint";
inline constexpr std::int64_t kCheckpointFormatVersion = 1;

// Largest dataset a reader accepts, in elements (2^28 float64 = 2 GiB). A file claiming more is
// refused before anything is allocated.
inline constexpr std::uint64_t kMaxElementsPerDataset = std::uint64_t{1} << 28;

// Largest step count (/optimizer_state's `step` and `run_step`) a reader accepts. Resuming replays the
// run's schedule and mini-batch permutations (optim/trainer.h), work proportional to the count, so a
// corrupt count is refused here instead of becoming a hang.
inline constexpr std::int64_t kMaxRunSteps = (std::int64_t{1} << 31) - 1;

// A data set as arrays: one row per sample.
struct DataArrays {
  Eigen::MatrixXd X;  // [N, d]
  Eigen::MatrixXd y;  // [N, k]: regression targets, or class indices stored as doubles in one column
  // The per-sample tensor shape whose row-major flattening is a row of X (e.g. {1, 8, 8} for the digits,
  // {3, 32, 32} for CIFAR-shaped images); empty for plain feature vectors. Stored as the int64 dataset
  // `sample_shape` beside X and y; its product must equal d.
  std::vector<std::int64_t> sample_shape;
};

// Checks that `shape` has 1 to 8 positive extents whose product is `columns`; "" when it does, else the
// reason (for a FileError naming the file).
std::string sample_shape_problem(const std::vector<std::int64_t>& shape, Eigen::Index columns);

struct OptimizerState {
  nlohmann::json config = nlohmann::json::object();  // optimizer name and hyper-parameters
  std::int64_t step = 0;                              // steps taken so far (by the optimizer)
  std::optional<std::int64_t> run_step;               // trainer steps of the run (optim/trainer.h first_step)
  std::map<std::string, Eigen::VectorXd> buffers;     // e.g. "exp_avg", "exp_avg_sq", "momentum_buffer"
};

// The fixed bin edges of a run's per-layer histograms (optim/histograms.h), by quantity name.
struct HistogramEdgeSet {
  std::vector<std::string> blocks;               // L block names
  std::map<std::string, Eigen::MatrixXd> edges;  // quantity -> [L, bins + 1], rows strictly increasing
};

struct Checkpoint {
  Eigen::VectorXd params;
  nlohmann::json spec = nlohmann::json::object();  // objective spec (problem/problem.h)
  std::optional<DataArrays> data;                  // embedded data set (only the rows of `shard` when read by part)
  std::int64_t data_rows = 0;                      // samples N of the whole data set (0 when none was read)
  std::string data_file;                           // or a reference to a data set in another file
  std::string data_group;
  std::optional<OptimizerState> optimizer_state;
  std::string graph;                               // serialized ONNX model of a graph objective; empty otherwise
  std::map<std::string, Eigen::VectorXd> buffers;  // graph objective state by name (/buffers)
  std::optional<HistogramEdgeSet> histogram_edges; // /histogram_edges (run-optimizer --histogram-every)
  Provenance provenance;  // as read back; ignored when writing (the writer's own is used)
};

// Writes atomically: to "<path>.tmp-<pid>", flushed and fsync'ed, then renamed over `path`, so a
// crash leaves either the old file or the new one, never half of one. Throws FileError on failure
// (the temporary is removed).
void write_checkpoint(const std::string& path, const Checkpoint& checkpoint, const Provenance& provenance);

// Reads and validates (format, version, shapes, finiteness of params and data, sizes before any
// allocation). Throws FileError with one line naming the file and the problem. With a `shard` of
// P > 1 parts, only that part's rows of an embedded /data are read (io/shard.h); the finiteness check
// covers those rows, and fewer samples than parts is refused.
Checkpoint read_checkpoint(const std::string& path, const RowShard& shard = {});

// Data files (format "saddlescope-data"): groups holding X [N, d] and y [N, k] (tools/convert_sklearn_data.py
// writes them; a checkpoint may reference one).
inline constexpr const char* kDataFormat = "saddlescope-data";
inline constexpr std::int64_t kDataFormatVersion = 1;
// Reads /<group>/X and /<group>/y of a data file, checking format, version, shapes (sizes before
// allocation), matching row counts and finiteness. Throws FileError naming the file. With a `shard`
// of P > 1 parts only that part's rows are read (io/shard.h); `rows` receives N, the samples of the
// whole data set.
DataArrays read_data_file(const std::string& path, const std::string& group, const RowShard& shard = {},
                          std::int64_t* rows = nullptr);

}  // namespace saddlescope::io
