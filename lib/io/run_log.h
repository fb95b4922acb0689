#pragma once
// Run log files (DESIGN.md, "Run log"): column-oriented, extendible, written in SWMR mode so a reader
// can follow a run while it grows and a killed run keeps every flushed step.
//
// Layout (format "saddlescope-run", format_version 1):
//   root attributes     provenance (io/provenance.h); `status` = running | finished | diverged |
//                       interrupted | failed (fixed-length 16-byte UTF-8 string, NUL-padded, rewritten
//                       in place; h5py reads it as bytes. Logs of earlier builds hold a variable-length
//                       string there; readers take both)
//   /config             attributes: one per key of the config JSON object (strings as strings, integers
//                       as int64, reals as float64, objects and arrays as JSON strings) and `json`, the
//                       whole object as a JSON string
//   /steps/<column>     1-D datasets of one common length T: `step` (int64) and float64 columns (loss,
//                       grad_norm, lr, update_norm, param_norm, ...)
//   /steps/<matrix>     [T, L] float64 (per-layer figures); attribute `columns` (JSON names)
//   /trajectory/step, /trajectory/params     int64 [P] and float64 [P, n] (optional)
//   /curvature/step, /curvature/lambda_min, /curvature/lambda_max, /curvature/hvp_count   [C]
//   /events/step (int64), /events/kind (fixed 32-byte UTF-8), /events/detail (fixed 256-byte UTF-8)
//   /histograms         optional (run-optimizer --histogram-every; optim/histograms.h), attributes
//                       `blocks` (JSON list of the L block names), `bins` (B), `quantities` (JSON list):
//     /histograms/step                   int64 [H], the steps of the H rows
//     /histograms/<quantity>/counts      int64 [H, L*B]: row h, block l, bin i at column l*B + i
//                                        (reshape to [H, L, B])
//     /histograms/<quantity>/underflow   int64 [H, L], values below the block's first edge
//     /histograms/<quantity>/overflow    int64 [H, L], values above its last edge or NaN
//     /histograms/<quantity>/edges       float64 [L, B + 1], fixed for the run (NaN until the first
//                                        row is written; a row's edges are on disk before its step is)
//   /_tables/{steps,trajectory,curvature,histograms}   the storage: one chunked, extendible float64
//                       table per group, [rows, columns]
// The datasets in /steps, /trajectory, /curvature and /histograms (but its edges) are HDF5 virtual
// datasets (VDS) that show columns of their group's table; h5py and the C API read them like any
// dataset. Counts are exact in the float64 table (below 2^53).
//
// Crash safety: rows are buffered in memory and written only by flush(), which extends each table
// (one H5Dset_extent per table: every column of a group grows at once, so no moment exists at which
// two /steps columns differ in length), writes the rows and flushes the file (H5Fflush). Between
// flushes the file is not touched, so a SIGKILL leaves every step up to the last completed flush.
// /events are three separate datasets: `step` is written last, so len(/events/step) counts
// complete events.
// A killed SWMR writer leaves HDF5's "file open for writing" superblock flag set: open such a file
// in SWMR-read mode (h5py: File(path, "r", swmr=True)), as while the run is alive, or clear the flag
// with `h5clear -s` (Debian package hdf5-tools).
// All datasets are created before H5Fstart_swmr_write (SWMR forbids creating objects afterwards).
//
// One writer per log (issue #17, item 5): the writer holds an io::WriterLock (io/writer_lock.h) on its
// log from before the log appears under `path` until it is closed or the process dies. A second RunLog
// for the same path refuses (FileError "is being written by another process") instead of replacing
// the live log (io::install_without_replacing_a_live_writer). A finished or killed run's log is not
// locked and is replaced as before. SWMR readers (h5py, notebooks) are unaffected.
#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "io/hdf5.h"
#include "io/provenance.h"
#include "io/writer_lock.h"

namespace saddlescope::io {

inline constexpr const char* kRunLogFormat = "saddlescope-run";
inline constexpr std::int64_t kRunLogFormatVersion = 1;
inline constexpr std::size_t kEventKindBytes = 32;
// Root attribute `status`: fixed length, so rewriting it after a full disk needs no new heap object.
inline constexpr std::size_t kStatusBytes = 16;
inline constexpr std::size_t kEventDetailBytes = 256;

struct RunLogLayout {
  std::vector<std::string> step_columns;  // float64 columns besides `step`, e.g. {"loss", "grad_norm"}
  struct MatrixColumn {
    std::string name;                      // e.g. "layer_grad_norm"
    std::vector<std::string> column_names; // L names (e.g. layer names)
  };
  std::vector<MatrixColumn> step_matrices;
  Eigen::Index trajectory_dim = 0;  // 0: no /trajectory
  bool curvature = false;           // create /curvature
  struct Histograms {
    std::vector<std::string> blocks;      // L block names
    std::vector<std::string> quantities;  // e.g. {"weights", "gradients", "updates"}
    hsize_t bins = 0;                     // B; 0: no /histograms
  } histograms;
};

// One histogram row of one quantity: [L, B + 2] counts, column 0 underflow, 1..B the bins, B + 1 overflow.
using HistogramCountRows = Eigen::Matrix<std::int64_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct RunLogOptions {
  std::int64_t flush_every_steps = 1000;  // flush after this many buffered steps (≥ 1)
  double flush_every_seconds = 1.0;       // or when this much time has passed since the last flush (> 0)
  hsize_t chunk_rows = 1024;             // chunk length of the 1-D datasets
  bool IsValid(std::string* why) const;
};

class RunLog {
 public:
  // Creates (truncates) `path`, writes provenance, /config and every dataset, sets status
  // "running", and starts SWMR writing. Throws FileError naming the file on failure.
  RunLog(std::string path, const Provenance& provenance, const nlohmann::json& config, const RunLogLayout& layout,
         const RunLogOptions& options = {});
  ~RunLog();  // flushes and closes; never throws
  RunLog(const RunLog&) = delete;
  RunLog& operator=(const RunLog&) = delete;

  // One row of /steps: `values` in the order of layout.step_columns, `matrix_rows` one per
  // step_matrix (each with its L entries). Buffered until the next flush.
  void append_step(std::int64_t step, const std::vector<double>& values, const std::vector<Eigen::VectorXd>& matrix_rows);
  void append_trajectory(std::int64_t step, const Eigen::VectorXd& params);
  void append_curvature(std::int64_t step, double lambda_min, double lambda_max, std::int64_t hvp_count);
  void append_event(std::int64_t step, const std::string& kind, const std::string& detail);
  // The fixed edges of quantity `q` (index into layout.histograms.quantities), [L, B + 1]: written to
  // the file at once (made durable by the next flush).
  void write_histogram_edges(std::size_t q, const Eigen::MatrixXd& edges);
  // One /histograms row: `counts` one [L, B + 2] matrix per quantity. Buffered until the next flush.
  void append_histograms(std::int64_t step, const std::vector<HistogramCountRows>& counts);

  // Flushes when flush_every_steps rows are pending or flush_every_seconds have passed.
  void maybe_flush();
  // Writes every pending row and flushes the file to disk.
  void flush();
  // Rewrites the root attribute `status` in place (at most kStatusBytes bytes) and flushes.
  void set_status(const std::string& status);
  // Flushes and closes (the destructor does this too, swallowing errors). After a failed flush: only
  // releases the file, see broken_.
  void close();

  const std::string& path() const { return path_; }
  std::int64_t steps_written() const;  // rows of /steps on disk after the last flush

  struct Column;  // one buffered extendible dataset (run_log.cpp)

 private:
  void check_open() const;
  void create_histograms(hid_t file, hid_t tables, const RunLogLayout::Histograms& layout);
  std::string path_;
  RunLogOptions options_;
  h5::Handle file_;
  std::vector<std::unique_ptr<Column>> steps_, trajectory_, curvature_, events_, histograms_;
  RunLogLayout::Histograms histogram_layout_;
  std::vector<h5::Handle> histogram_edges_;  // /histograms/<quantity>/edges
  std::vector<double> histogram_row_;
  std::int64_t pending_steps_ = 0;
  std::size_t step_scalars_ = 0;
  std::vector<hsize_t> step_matrix_widths_;
  std::vector<double> step_row_;
  std::chrono::steady_clock::time_point last_flush_;
  // Set when a flush failed (disk full, file-size limit). HDF5 has then allocated space past the end
  // of the file for rows it could not write; another full flush or H5Fclose would record that end
  // address (the file no longer opens: "truncated file") and extents over unwritten rows. From then
  // on only the root group's own metadata is flushed (the `status` rewritten in place), and close()
  // abandons the file's identifiers instead of closing them.
  bool broken_ = false;
  WriterLock lock_;  // the writer's lock (see above), held until close()
};

// For readers (notebooks use h5py; tests and tools use these): the lengths of every dataset in
// /steps of an open run log (refreshing each dataset first, so it works on a file opened with SWMR
// read while it grows).
std::vector<std::pair<std::string, hsize_t>> run_log_step_lengths(hid_t file);

}  // namespace saddlescope::io
