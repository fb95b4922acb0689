#include "io/run_log.h"

#include <cstring>
#include <stdexcept>

#include "io/error.h"

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
  try {
    file_ = h5::create_file(path_, /*swmr_compatible=*/true);
    const hid_t f = file_.get();
    write_provenance(f, kRunLogFormat, kRunLogFormatVersion, provenance);
    h5::write_attribute(f, "status", std::string("running"));
    write_config(f, config);
    const hsize_t chunk = options.chunk_rows;
    {
      h5::Handle g = h5::create_group(f, "steps");
      steps_.push_back(make_column(g.get(), "step", H5T_NATIVE_INT64, 8, 0, chunk));
      for (const auto& name : layout.step_columns)
        steps_.push_back(make_column(g.get(), name, H5T_NATIVE_DOUBLE, 8, 0, chunk));
      for (const auto& m : layout.step_matrices) {
        if (m.column_names.empty()) throw std::invalid_argument("run log: matrix column '" + m.name + "' has no columns");
        steps_.push_back(make_column(g.get(), m.name, H5T_NATIVE_DOUBLE, 8, m.column_names.size(), chunk));
        h5::write_attribute(steps_.back()->dataset.get(), "columns", nlohmann::json(m.column_names).dump());
      }
    }
    if (layout.trajectory_dim > 0) {
      h5::Handle g = h5::create_group(f, "trajectory");
      trajectory_.push_back(make_column(g.get(), "step", H5T_NATIVE_INT64, 8, 0, chunk));
      trajectory_.push_back(
          make_column(g.get(), "params", H5T_NATIVE_DOUBLE, 8, static_cast<hsize_t>(layout.trajectory_dim), chunk));
    }
    if (layout.curvature) {
      h5::Handle g = h5::create_group(f, "curvature");
      curvature_.push_back(make_column(g.get(), "step", H5T_NATIVE_INT64, 8, 0, chunk));
      curvature_.push_back(make_column(g.get(), "lambda_min", H5T_NATIVE_DOUBLE, 8, 0, chunk));
      curvature_.push_back(make_column(g.get(), "lambda_max", H5T_NATIVE_DOUBLE, 8, 0, chunk));
      curvature_.push_back(make_column(g.get(), "hvp_count", H5T_NATIVE_INT64, 8, 0, chunk));
    }
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
  } catch (const h5::Hdf5Error& e) {
    throw FileError(path_, std::string("cannot write the run log: ") + e.what());
  }
  last_flush_ = std::chrono::steady_clock::now();
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
  const std::size_t scalars = values.size();
  if (1 + scalars + matrix_rows.size() != steps_.size())
    throw std::invalid_argument("run log: append_step got " + std::to_string(scalars) + " values and " +
                                std::to_string(matrix_rows.size()) + " matrix rows for " +
                                std::to_string(steps_.size() - 1) + " columns");
  for (std::size_t m = 0; m < matrix_rows.size(); ++m)
    if (static_cast<hsize_t>(matrix_rows[m].size()) != steps_[1 + scalars + m]->width)
      throw std::invalid_argument("run log: row of '" + steps_[1 + scalars + m]->name + "' has the wrong length");
  for (std::size_t m = 0; m < scalars; ++m)
    if (steps_[1 + m]->width != 0) throw std::invalid_argument("run log: scalar given for a matrix column");
  steps_[0]->append(&step);
  for (std::size_t i = 0; i < scalars; ++i) steps_[1 + i]->append(&values[i]);
  for (std::size_t m = 0; m < matrix_rows.size(); ++m) steps_[1 + scalars + m]->append(matrix_rows[m].data());
  ++pending_steps_;
}

void RunLog::append_trajectory(std::int64_t step, const Eigen::VectorXd& params) {
  check_open();
  if (trajectory_.empty()) throw std::invalid_argument("run log: no /trajectory in this layout");
  if (static_cast<hsize_t>(params.size()) != trajectory_[1]->width)
    throw std::invalid_argument("run log: trajectory row has the wrong length");
  trajectory_[0]->append(&step);
  trajectory_[1]->append(params.data());
}

void RunLog::append_curvature(std::int64_t step, double lambda_min, double lambda_max, std::int64_t hvp_count) {
  check_open();
  if (curvature_.empty()) throw std::invalid_argument("run log: no /curvature in this layout");
  curvature_[0]->append(&step);
  curvature_[1]->append(&lambda_min);
  curvature_[2]->append(&lambda_max);
  curvature_[3]->append(&hvp_count);
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
  try {
    // `step` columns (index 0 of each group) last: a reader that refreshes during a flush then sees
    // step's length ≤ every other column's, so len(step) always counts complete rows.
    for (auto* group : {&steps_, &trajectory_, &curvature_, &events_}) {
      for (std::size_t c = 1; c < group->size(); ++c) (*group)[c]->write();
      if (!group->empty()) (*group)[0]->write();
    }
    h5::check(H5Fflush(file_.get(), H5F_SCOPE_GLOBAL), "flushing");
  } catch (const h5::Hdf5Error& e) {
    throw FileError(path_, std::string("cannot write the run log: ") + e.what());
  }
  pending_steps_ = 0;
  last_flush_ = std::chrono::steady_clock::now();
}

void RunLog::set_status(const std::string& status) {
  check_open();
  try {
    h5::write_attribute(file_.get(), "status", status);
  } catch (const h5::Hdf5Error& e) {
    throw FileError(path_, std::string("cannot write the run log status: ") + e.what());
  }
  flush();
}

void RunLog::close() {
  if (!file_.valid()) return;
  flush();
  const hid_t id = file_.release();
  steps_.clear(), trajectory_.clear(), curvature_.clear(), events_.clear();
  if (H5Fclose(id) < 0) throw FileError(path_, "cannot close the run log");
}

std::int64_t RunLog::steps_written() const {
  return steps_.empty() ? 0 : static_cast<std::int64_t>(steps_[0]->rows_on_disk);
}

std::vector<std::pair<std::string, hsize_t>> run_log_step_lengths(hid_t file) {
  std::vector<std::pair<std::string, hsize_t>> lengths;
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
