#include "io/run_log.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include <cstring>
#include <limits>
#include <stdexcept>

#include "io/error.h"
#include "io/provenance_file.h"

namespace saddlescope::io {

// One extendible dataset with rows buffered in memory. Rank 1 (width 0) or rank 2 ([T, width]).
struct RunLog::Column {
  std::string name;
  h5::Handle dataset;
  h5::Handle memtype;  // owned copy for string types; otherwise invalid and `type` is a native type
  hid_t type = H5I_INVALID_HID;
  std::size_t element_bytes = 0;
  hsize_t width = 0;  // 0: 1-D
  hsize_t rows_on_disk = 0;
  hsize_t pending_rows = 0;
  std::vector<unsigned char> pending;

  void append(const void* row) {
    const std::size_t bytes = element_bytes * (width == 0 ? 1 : width);
    const auto* p = static_cast<const unsigned char*>(row);
    pending.insert(pending.end(), p, p + bytes);
    ++pending_rows;
  }
  void write() {
    if (pending_rows == 0) return;
    const int rank = width == 0 ? 1 : 2;
    const hsize_t new_dims[2] = {rows_on_disk + pending_rows, width};
    h5::check(H5Dset_extent(dataset.get(), new_dims), "extending " + name);
    h5::Handle space(h5::check(H5Dget_space(dataset.get()), "reading the space of " + name), H5Sclose);
    const hsize_t start[2] = {rows_on_disk, 0};
    const hsize_t count[2] = {pending_rows, width};
    h5::check(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr), "selecting rows of " + name);
    h5::Handle memspace(h5::check(H5Screate_simple(rank, count, nullptr), "creating a memory space"), H5Sclose);
    h5::check(H5Dwrite(dataset.get(), type, memspace.get(), space.get(), H5P_DEFAULT, pending.data()),
              "writing rows of " + name);
    rows_on_disk += pending_rows;
    pending_rows = 0;
    pending.clear();
  }
};

namespace {

h5::Handle fixed_string_type(std::size_t bytes) {
  h5::Handle type(h5::check(H5Tcopy(H5T_C_S1), "copying the string type"), H5Tclose);
  h5::check(H5Tset_size(type.get(), bytes), "sizing the string type");
  h5::check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "setting UTF-8");
  h5::check(H5Tset_strpad(type.get(), H5T_STR_NULLPAD), "setting the string padding");
  return type;
}

std::unique_ptr<RunLog::Column> make_column(hid_t group, const std::string& name, hid_t type, std::size_t bytes,
                                            hsize_t width, hsize_t chunk_rows) {
  auto c = std::make_unique<RunLog::Column>();
  c->name = name;
  c->type = type;
  c->element_bytes = bytes;
  c->width = width;
  const int rank = width == 0 ? 1 : 2;
  const hsize_t dims[2] = {0, width};
  const hsize_t maxdims[2] = {H5S_UNLIMITED, width};
  // Keep a chunk around 64 KiB for wide rows (trajectory), at least one row.
  hsize_t rows = chunk_rows;
  if (width > 0) rows = std::max<hsize_t>(1, std::min<hsize_t>(chunk_rows, (std::size_t{1} << 16) / (bytes * width)));
  const hsize_t chunk[2] = {rows, width};
  h5::Handle space(h5::check(H5Screate_simple(rank, dims, maxdims), "creating an extendible space"), H5Sclose);
  h5::Handle dcpl(h5::check(H5Pcreate(H5P_DATASET_CREATE), "creating dataset properties"), H5Pclose);
  h5::check(H5Pset_chunk(dcpl.get(), rank, chunk), "setting the chunk shape of " + name);
  c->dataset = h5::Handle(h5::check(H5Dcreate2(group, name.c_str(), type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                                    "creating dataset " + name),
                          H5Dclose);
  return c;
}

// A virtual dataset (VDS) showing columns [first, first + width) of the 2-D float64 table `source`
// in this file: 1-D when width == 0 (one column), [T, width] otherwise. Its length follows the
// table's, so every view of one table has the same length at every moment: one H5Dset_extent on the
// table extends them all at once (no kill can land between two columns).
void create_view(hid_t group, const std::string& name, hid_t type, const std::string& source, hsize_t table_width,
                 hsize_t first, hsize_t width) {
  const int rank = width == 0 ? 1 : 2;
  const hsize_t vdims[2] = {0, width}, vmax[2] = {H5S_UNLIMITED, width};
  h5::Handle vspace(h5::check(H5Screate_simple(rank, vdims, vmax), "creating a view space"), H5Sclose);
  const hsize_t vstart[2] = {0, 0}, vstride[2] = {1, 1}, vcount[2] = {H5S_UNLIMITED, 1}, vblock[2] = {1, width};
  h5::check(H5Sselect_hyperslab(vspace.get(), H5S_SELECT_SET, vstart, vstride, vcount, vblock), "selecting a view");
  const hsize_t sdims[2] = {0, table_width}, smax[2] = {H5S_UNLIMITED, table_width};
  h5::Handle sspace(h5::check(H5Screate_simple(2, sdims, smax), "creating a table space"), H5Sclose);
  const hsize_t sstart[2] = {0, first}, sstride[2] = {1, 1}, scount[2] = {H5S_UNLIMITED, 1},
                sblock[2] = {1, width == 0 ? 1 : width};
  h5::check(H5Sselect_hyperslab(sspace.get(), H5S_SELECT_SET, sstart, sstride, scount, sblock), "selecting table columns");
  h5::Handle dcpl(h5::check(H5Pcreate(H5P_DATASET_CREATE), "creating dataset properties"), H5Pclose);
  h5::check(H5Pset_virtual(dcpl.get(), vspace.get(), ".", source.c_str(), sspace.get()), "mapping view " + name);
  h5::Handle d(h5::check(H5Dcreate2(group, name.c_str(), type, vspace.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                         "creating view " + name),
               H5Dclose);
}

void write_config(hid_t file, const nlohmann::json& config) {
  h5::Handle group = h5::create_group(file, "config");
  h5::write_attribute(group.get(), "json", config.dump());
  if (!config.is_object()) return;
  for (const auto& [key, value] : config.items()) {
    if (key == "json") continue;
    if (value.is_string()) h5::write_attribute(group.get(), key, value.get<std::string>());
    else if (value.is_boolean()) h5::write_attribute(group.get(), key, std::int64_t{value.get<bool>() ? 1 : 0});
    else if (value.is_number_integer()) h5::write_attribute(group.get(), key, value.get<std::int64_t>());
    else if (value.is_number()) h5::write_attribute(group.get(), key, value.get<double>());
    else h5::write_attribute(group.get(), key, value.dump());
  }
}

}  // namespace

bool RunLogOptions::IsValid(std::string* why) const {
  if (flush_every_steps < 1) {
    if (why) *why = "run log: 'flush_every_steps' = " + std::to_string(flush_every_steps) + " must be >= 1";
    return false;
  }
  if (!(flush_every_seconds > 0.0)) {
    if (why) *why = "run log: 'flush_every_seconds' = " + std::to_string(flush_every_seconds) + " must be > 0";
    return false;
  }
  if (chunk_rows < 1) {
    if (why) *why = "run log: 'chunk_rows' must be >= 1";
    return false;
  }
  return true;
}

RunLog::RunLog(std::string path, const Provenance& provenance, const nlohmann::json& config, const RunLogLayout& layout,
               const RunLogOptions& options)
    : path_(std::move(path)), options_(options) {
  std::string why;
  if (!options.IsValid(&why)) throw std::invalid_argument(why);
  // Built under a temporary name and renamed once in SWMR mode: a process killed while the layout is
  // written leaves a "*.tmp-<pid>" file, never a log that does not open (test_hardening, Faults).
  const std::string temporary = path_ + ".tmp-" + std::to_string(::getpid());
  try {
    file_ = h5::create_file(temporary, /*swmr_compatible=*/true);
    const hid_t f = file_.get();
    write_provenance(f, kRunLogFormat, kRunLogFormatVersion, provenance);
    h5::write_fixed_string_attribute(f, "status", "running", kStatusBytes);
    write_config(f, config);
    const hsize_t chunk = options.chunk_rows;
    // /steps, /trajectory and /curvature are views of one float64 table each (under /_tables), so
    // their columns always have one common length. Integer columns (step, hvp_count) are stored as
    // float64 in the table (exact below 2^53) and shown as int64 by their views.
    h5::Handle tables = h5::create_group(f, "_tables");
    h5::write_attribute(tables.get(), "note", std::string("storage behind the virtual datasets in /steps, "
                                                          "/trajectory and /curvature; read those instead"));
    {
      hsize_t width = 1 + layout.step_columns.size();
      for (const auto& m : layout.step_matrices) {
        if (m.column_names.empty()) throw std::invalid_argument("run log: matrix column '" + m.name + "' has no columns");
        width += m.column_names.size();
      }
      steps_.push_back(make_column(tables.get(), "steps", H5T_NATIVE_DOUBLE, 8, width, chunk));
      h5::Handle g = h5::create_group(f, "steps");
      create_view(g.get(), "step", H5T_NATIVE_INT64, "/_tables/steps", width, 0, 0);
      hsize_t next = 1;
      for (const auto& name : layout.step_columns)
        create_view(g.get(), name, H5T_NATIVE_DOUBLE, "/_tables/steps", width, next++, 0);
      for (const auto& m : layout.step_matrices) {
        create_view(g.get(), m.name, H5T_NATIVE_DOUBLE, "/_tables/steps", width, next, m.column_names.size());
        h5::Handle view = h5::open_dataset(g.get(), m.name);
        h5::write_attribute(view.get(), "columns", nlohmann::json(m.column_names).dump());
        step_matrix_widths_.push_back(m.column_names.size());
        next += m.column_names.size();
      }
      step_scalars_ = layout.step_columns.size();
      step_row_.resize(width);
    }
    if (layout.trajectory_dim > 0) {
      const hsize_t n = static_cast<hsize_t>(layout.trajectory_dim);
      trajectory_.push_back(make_column(tables.get(), "trajectory", H5T_NATIVE_DOUBLE, 8, 1 + n, chunk));
      h5::Handle g = h5::create_group(f, "trajectory");
      create_view(g.get(), "step", H5T_NATIVE_INT64, "/_tables/trajectory", 1 + n, 0, 0);
      create_view(g.get(), "params", H5T_NATIVE_DOUBLE, "/_tables/trajectory", 1 + n, 1, n);
    }
    if (layout.curvature) {
      curvature_.push_back(make_column(tables.get(), "curvature", H5T_NATIVE_DOUBLE, 8, 4, chunk));
      h5::Handle g = h5::create_group(f, "curvature");
      create_view(g.get(), "step", H5T_NATIVE_INT64, "/_tables/curvature", 4, 0, 0);
      create_view(g.get(), "lambda_min", H5T_NATIVE_DOUBLE, "/_tables/curvature", 4, 1, 0);
      create_view(g.get(), "lambda_max", H5T_NATIVE_DOUBLE, "/_tables/curvature", 4, 2, 0);
      create_view(g.get(), "hvp_count", H5T_NATIVE_INT64, "/_tables/curvature", 4, 3, 0);
    }
    if (layout.histograms.bins > 0) create_histograms(f, tables.get(), layout.histograms);
    {
      h5::Handle g = h5::create_group(f, "events");
      events_.push_back(make_column(g.get(), "step", H5T_NATIVE_INT64, 8, 0, chunk));
      for (auto [name, bytes] : {std::pair<const char*, std::size_t>{"kind", kEventKindBytes},
                                 std::pair<const char*, std::size_t>{"detail", kEventDetailBytes}}) {
        h5::Handle type = fixed_string_type(bytes);
        auto column = make_column(g.get(), name, type.get(), bytes, 0, chunk);
        column->type = type.get();
        column->memtype = std::move(type);
        events_.push_back(std::move(column));
      }
    }
    h5::check(H5Fflush(f, H5F_SCOPE_GLOBAL), "flushing");
    h5::check(H5Fstart_swmr_write(f), "starting SWMR writing");
    lock_ = WriterLock::acquire(temporary);  // before the log has its name: one writer (io/writer_lock.h)
    install_without_replacing_a_live_writer(temporary, path_);
  } catch (const h5::Hdf5Error& e) {
    file_.reset();
    std::remove(temporary.c_str());
    lock_.release();
    throw FileError(path_, std::string("cannot write the run log: ") + e.what());
  } catch (const FileError& e) {
    file_.reset();
    std::remove(temporary.c_str());
    lock_.release();
    // Named after the log, not its temporary, whichever file the error was about.
    const std::string what = e.what(), prefix = e.path() + ": ";
    throw FileError(path_, what.rfind(prefix, 0) == 0 ? what.substr(prefix.size()) : what);
  } catch (...) {
    file_.reset();
    std::remove(temporary.c_str());
    lock_.release();
    throw;
  }
  last_flush_ = std::chrono::steady_clock::now();
}

// /histograms (layout in run_log.h): one float64 table [H, 1 + Q·L·(B + 2)] — the step, then per
// quantity the L·B bin counts, L underflows and L overflows — shown by int64 views, and the fixed
// [L, B + 1] edges of each quantity as ordinary datasets, NaN until written.
void RunLog::create_histograms(hid_t file, hid_t tables, const RunLogLayout::Histograms& layout) {
  if (layout.blocks.empty() || layout.quantities.empty())
    throw std::invalid_argument("run log: histograms need at least one block and one quantity");
  histogram_layout_ = layout;
  const hsize_t blocks = layout.blocks.size(), bins = layout.bins, per_quantity = blocks * (bins + 2);
  const hsize_t width = 1 + layout.quantities.size() * per_quantity;
  const std::string source = "/_tables/histograms";
  histograms_.push_back(make_column(tables, "histograms", H5T_NATIVE_DOUBLE, 8, width, options_.chunk_rows));
  h5::Handle g = h5::create_group(file, "histograms");
  h5::write_attribute(g.get(), "blocks", nlohmann::json(layout.blocks).dump());
  h5::write_attribute(g.get(), "bins", static_cast<std::int64_t>(bins));
  h5::write_attribute(g.get(), "quantities", nlohmann::json(layout.quantities).dump());
  create_view(g.get(), "step", H5T_NATIVE_INT64, source, width, 0, 0);
  for (std::size_t q = 0; q < layout.quantities.size(); ++q) {
    h5::Handle group = h5::create_group(g.get(), layout.quantities[q]);
    const hsize_t first = 1 + q * per_quantity;
    create_view(group.get(), "counts", H5T_NATIVE_INT64, source, width, first, blocks * bins);
    create_view(group.get(), "underflow", H5T_NATIVE_INT64, source, width, first + blocks * bins, blocks);
    create_view(group.get(), "overflow", H5T_NATIVE_INT64, source, width, first + blocks * bins + blocks, blocks);
    const hsize_t dims[2] = {blocks, bins + 1};
    h5::Handle space(h5::check(H5Screate_simple(2, dims, nullptr), "creating the edges' space"), H5Sclose);
    h5::Handle dcpl(h5::check(H5Pcreate(H5P_DATASET_CREATE), "creating dataset properties"), H5Pclose);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    h5::check(H5Pset_fill_value(dcpl.get(), H5T_NATIVE_DOUBLE, &nan), "setting the edges' fill value");
    h5::check(H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY), "allocating the edges");
    histogram_edges_.emplace_back(
        h5::check(H5Dcreate2(group.get(), "edges", H5T_NATIVE_DOUBLE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                  "creating /histograms/" + layout.quantities[q] + "/edges"),
        H5Dclose);
  }
  histogram_row_.resize(width);
}

RunLog::~RunLog() {
  try {
    close();
  } catch (...) {  // a destructor never throws; close() explicitly to see errors
  }
}

void RunLog::check_open() const {
  if (!file_.valid()) throw std::logic_error("run log " + path_ + " is closed");
}

void RunLog::append_step(std::int64_t step, const std::vector<double>& values,
                         const std::vector<Eigen::VectorXd>& matrix_rows) {
  check_open();
  if (values.size() != step_scalars_ || matrix_rows.size() != step_matrix_widths_.size())
    throw std::invalid_argument("run log: append_step got " + std::to_string(values.size()) + " values and " +
                                std::to_string(matrix_rows.size()) + " matrix rows for " + std::to_string(step_scalars_) +
                                " and " + std::to_string(step_matrix_widths_.size()));
  std::size_t next = 0;
  step_row_[next++] = static_cast<double>(step);
  for (double v : values) step_row_[next++] = v;
  for (std::size_t m = 0; m < matrix_rows.size(); ++m) {
    if (static_cast<hsize_t>(matrix_rows[m].size()) != step_matrix_widths_[m])
      throw std::invalid_argument("run log: matrix row " + std::to_string(m) + " has the wrong length");
    for (Eigen::Index i = 0; i < matrix_rows[m].size(); ++i) step_row_[next++] = matrix_rows[m](i);
  }
  steps_[0]->append(step_row_.data());
  ++pending_steps_;
}

void RunLog::append_trajectory(std::int64_t step, const Eigen::VectorXd& params) {
  check_open();
  if (trajectory_.empty()) throw std::invalid_argument("run log: no /trajectory in this layout");
  if (static_cast<hsize_t>(params.size()) + 1 != trajectory_[0]->width)
    throw std::invalid_argument("run log: trajectory row has the wrong length");
  std::vector<double> row(static_cast<std::size_t>(params.size()) + 1);
  row[0] = static_cast<double>(step);
  std::copy(params.data(), params.data() + params.size(), row.begin() + 1);
  trajectory_[0]->append(row.data());
}

void RunLog::append_curvature(std::int64_t step, double lambda_min, double lambda_max, std::int64_t hvp_count) {
  check_open();
  if (curvature_.empty()) throw std::invalid_argument("run log: no /curvature in this layout");
  const double row[4] = {static_cast<double>(step), lambda_min, lambda_max, static_cast<double>(hvp_count)};
  curvature_[0]->append(row);
}

void RunLog::append_event(std::int64_t step, const std::string& kind, const std::string& detail) {
  check_open();
  events_[0]->append(&step);
  char k[kEventKindBytes] = {};
  char d[kEventDetailBytes] = {};
  std::memcpy(k, kind.data(), std::min(kind.size(), kEventKindBytes));
  std::memcpy(d, detail.data(), std::min(detail.size(), kEventDetailBytes));
  events_[1]->append(k);
  events_[2]->append(d);
}

void RunLog::write_histogram_edges(std::size_t q, const Eigen::MatrixXd& edges) {
  check_open();
  if (q >= histogram_edges_.size()) throw std::invalid_argument("run log: no histogram quantity " + std::to_string(q));
  if (static_cast<hsize_t>(edges.rows()) != histogram_layout_.blocks.size() ||
      static_cast<hsize_t>(edges.cols()) != histogram_layout_.bins + 1)
    throw std::invalid_argument("run log: histogram edges of the wrong shape");
  const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rows = edges;
  try {
    h5::check(H5Dwrite(histogram_edges_[q].get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows.data()),
              "writing /histograms/" + histogram_layout_.quantities[q] + "/edges");
  } catch (const h5::Hdf5Error& e) {
    throw FileError(path_, std::string("cannot write the run log: ") + e.what());
  }
}

void RunLog::append_histograms(std::int64_t step, const std::vector<HistogramCountRows>& counts) {
  check_open();
  if (histograms_.empty()) throw std::invalid_argument("run log: no /histograms in this layout");
  const hsize_t blocks = histogram_layout_.blocks.size(), bins = histogram_layout_.bins;
  if (counts.size() != histogram_layout_.quantities.size())
    throw std::invalid_argument("run log: append_histograms got " + std::to_string(counts.size()) + " quantities");
  std::size_t next = 0;
  histogram_row_[next++] = static_cast<double>(step);
  for (const auto& c : counts) {
    if (static_cast<hsize_t>(c.rows()) != blocks || static_cast<hsize_t>(c.cols()) != bins + 2)
      throw std::invalid_argument("run log: histogram counts of the wrong shape");
    for (Eigen::Index l = 0; l < c.rows(); ++l)
      for (Eigen::Index i = 1; i <= static_cast<Eigen::Index>(bins); ++i) histogram_row_[next++] = static_cast<double>(c(l, i));
    for (Eigen::Index l = 0; l < c.rows(); ++l) histogram_row_[next++] = static_cast<double>(c(l, 0));
    for (Eigen::Index l = 0; l < c.rows(); ++l) histogram_row_[next++] = static_cast<double>(c(l, c.cols() - 1));
  }
  histograms_[0]->append(histogram_row_.data());
}

void RunLog::maybe_flush() {
  if (pending_steps_ >= options_.flush_every_steps) {
    flush();
    return;
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - last_flush_).count();
  if (elapsed >= options_.flush_every_seconds) flush();
}

void RunLog::flush() {
  check_open();
  // Rows on disk before this flush, per column: what a failed flush rolls back to.
  std::vector<std::pair<Column*, hsize_t>> before;
  for (auto* group : {&steps_, &trajectory_, &curvature_, &histograms_, &events_})
    for (auto& column : *group) before.emplace_back(column.get(), column->rows_on_disk);
  try {
    // Events' `step` (index 0) last, so len(/events/step) counts complete events.
    for (auto* group : {&steps_, &trajectory_, &curvature_, &histograms_, &events_}) {
      for (std::size_t c = 1; c < group->size(); ++c) (*group)[c]->write();
      if (!group->empty()) (*group)[0]->write();
    }
    h5::check(H5Fflush(file_.get(), H5F_SCOPE_GLOBAL), "flushing");
  } catch (const h5::Hdf5Error& e) {
    broken_ = true;
    // A SWMR writer's H5Dset_extent reaches the disk at once (the object header is flushed for
    // readers), but the rows written after it may not have (the disk filled while the chunks were
    // flushed): the failed flush's rows would read as zeros, in some tables and not others (issue
    // #17, item 4). Shrink every table back to the rows of the last complete flush; the shrink only
    // rewrites object headers in place, so it needs no new space on the full disk.
    for (auto& [column, rows] : before) {
      const hsize_t dims[2] = {rows, column->width};
      if (H5Dset_extent(column->dataset.get(), dims) < 0 || H5Oflush(column->dataset.get()) < 0)
        H5Eclear2(H5E_DEFAULT);
      column->rows_on_disk = rows;
    }
    throw FileError(path_, std::string("cannot write the run log: ") + e.what());
  }
  pending_steps_ = 0;
  last_flush_ = std::chrono::steady_clock::now();
}

void RunLog::set_status(const std::string& status) {
  check_open();
  try {
    h5::write_fixed_string_attribute(file_.get(), "status", status, kStatusBytes);
    if (broken_) {
      // The rewrite is in place, inside the file: flushing the root group's metadata alone writes it
      // without recording the space allocated for the rows that failed (see broken_).
      h5::Handle root = h5::open_group(file_.get(), "/");
      h5::check(H5Oflush(root.get()), "flushing the status");
      return;
    }
  } catch (const h5::Hdf5Error& e) {
    throw FileError(path_, std::string("cannot write the run log status: ") + e.what());
  }
  flush();
}

void RunLog::close() {
  if (!file_.valid()) return;
  if (broken_) {
    // Abandon, do not close: H5Dclose/H5Fclose would flush the metadata of the rows that failed. The
    // identifiers stay open until the process ends (the tools end right after such an error).
    for (auto* group : {&steps_, &trajectory_, &curvature_, &histograms_, &events_})
      for (auto& column : *group) (void)column->dataset.release();
    for (auto& edges : histogram_edges_) (void)edges.release();
    steps_.clear(), trajectory_.clear(), curvature_.clear(), histograms_.clear(), events_.clear();
    histogram_edges_.clear();
    (void)file_.release();
    return;  // the lock stays with the abandoned file until the process ends
  }
  flush();
  const hid_t id = file_.release();
  steps_.clear(), trajectory_.clear(), curvature_.clear(), histograms_.clear(), events_.clear();
  histogram_edges_.clear();
  const bool closed = H5Fclose(id) >= 0;
  lock_.release();
  if (!closed) throw FileError(path_, "cannot close the run log");
}

std::int64_t RunLog::steps_written() const {
  return steps_.empty() ? 0 : static_cast<std::int64_t>(steps_[0]->rows_on_disk);
}

std::vector<std::pair<std::string, hsize_t>> run_log_step_lengths(hid_t file) {
  std::vector<std::pair<std::string, hsize_t>> lengths;
  // The views' extents follow their table: refresh the table first (SWMR read).
  if (h5::exists(file, "_tables/steps")) {
    h5::Handle table = h5::open_dataset(file, "_tables/steps");
    if (H5Drefresh(table.get()) < 0) H5Eclear2(H5E_DEFAULT);
  }
  h5::Handle group = h5::open_group(file, "steps");
  H5G_info_t info;
  h5::check(H5Gget_info(group.get(), &info), "reading /steps");
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t size = H5Lget_name_by_idx(group.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    h5::check(static_cast<hid_t>(size), "reading a name in /steps");
    std::string name(static_cast<std::size_t>(size) + 1, '\0');
    H5Lget_name_by_idx(group.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
    name.resize(static_cast<std::size_t>(size));
    h5::Handle dataset = h5::open_dataset(group.get(), name);
    if (H5Drefresh(dataset.get()) < 0) H5Eclear2(H5E_DEFAULT);  // fails harmlessly unless SWMR-read
    lengths.emplace_back(name, h5::dataset_shape(dataset.get()).at(0));
  }
  return lengths;
}

}  // namespace saddlescope::io
