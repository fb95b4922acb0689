#include "report/slice.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <vector>

#include "io/provenance_file.h"
#include "io/checkpoint.h"
#include "io/error.h"
#include "io/file_checks.h"
#include "io/guard.h"
#include "io/reader.h"
#include "io/result.h"
#include "io/writer_lock.h"
#include "text/format.h"

namespace saddlescope::report {

using io::h5::check;
using io::h5::Handle;
using objective::Index;
using objective::Vector;
using explore::SliceOptions;
using explore::SlicePlan;
using explore::SliceValues;

namespace {

std::vector<hsize_t> grid_shape(const SliceValues& values, Index n1, int dims) {
  if (dims == 1) return {static_cast<hsize_t>(values.loss.size())};
  return {static_cast<hsize_t>(n1), static_cast<hsize_t>(values.loss.size() / n1)};
}

Handle create_grid_dataset(hid_t file, const std::string& name, hid_t type, const std::vector<hsize_t>& shape) {
  Handle space(check(H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr), "dataspace for " + name),
               H5Sclose);
  return Handle(check(H5Dcreate2(file, name.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                      "creating dataset '" + name + "'"),
                H5Dclose);
}

void overwrite(hid_t file, const std::string& name, hid_t memory_type, const void* data) {
  Handle dataset = io::h5::open_dataset(file, name);
  check(H5Dwrite(dataset.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "writing dataset '" + name + "'");
}

// Reads a dataset of exactly `elements` elements (any rank) into `data`, after checking its size.
void read_exact(hid_t file, const std::string& path, const std::string& name, hid_t memory_type, hsize_t elements,
                void* data) {
  if (!io::h5::exists(file, name)) throw io::FileError(path, "dataset '/" + name + "' is missing");
  Handle dataset = io::h5::open_dataset(file, name);
  hsize_t count = 1;
  for (hsize_t d : io::h5::dataset_shape(dataset.get())) count *= d;
  if (count != elements)
    throw io::FileError(path, "dataset '/" + name + "' has " + std::to_string(count) + " elements, expected " +
                                  std::to_string(elements));
  check(H5Dread(dataset.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "reading dataset '" + name + "'");
}

Vector read_vector_exact(hid_t file, const std::string& path, const std::string& name, Index size) {
  Vector v(size);
  read_exact(file, path, name, H5T_NATIVE_DOUBLE, static_cast<hsize_t>(size), v.data());
  return v;
}

// The first key whose values differ, for the refusal message.
std::string first_difference(const nlohmann::json& a, const nlohmann::json& b) {
  for (auto it = b.begin(); it != b.end(); ++it)
    if (!a.contains(it.key()) || a[it.key()] != it.value())
      return it.key() + " (file: " + (a.contains(it.key()) ? a[it.key()].dump() : "absent") + ", now: " +
             it.value().dump() + ")";
  for (auto it = a.begin(); it != a.end(); ++it)
    if (!b.contains(it.key())) return it.key() + " (file: " + it.value().dump() + ", now: absent)";
  return "?";
}

}  // namespace

Handle create_slice_file(const std::string& path, const io::Provenance& provenance, const std::string& input_path,
                         const nlohmann::json& settings, const SlicePlan& plan, const SliceOptions& options,
                         const SliceValues& values) {
  // Built whole under a temporary name, then renamed into place without replacing a live writer's file
  // (io/writer_lock.h): nothing at `path` is truncated, and a disk that fills while the layout is
  // written leaves the previous file (or none), never a half-made one --resume would refuse (issue #17,
  // items 2 and 13). HDF5's exclusive flock on the open file marks it as written from then on.
  const std::string temporary = path + ".tmp-" + std::to_string(::getpid());
  Handle file;
  try {
    file = io::h5::create_file(temporary);
    io::write_result_header(file.get(), provenance, "loss-slice", input_path, nlohmann::json::object());
    io::h5::write_attribute(file.get(), "settings", settings.dump());
    io::h5::write_vector(file.get(), "origin", plan.origin);
    if (plan.interpolate) io::h5::write_vector(file.get(), "end", plan.end);
    Handle directions = io::h5::create_group(file.get(), "directions");
    if (plan.d1.size() > 0) io::h5::write_vector(directions.get(), "d1", plan.d1);
    if (plan.d2.size() > 0) io::h5::write_vector(directions.get(), "d2", plan.d2);
    if (plan.eigenvalues.size() > 0) io::h5::write_vector(directions.get(), "eigenvalues", plan.eigenvalues);
    Handle grid = io::h5::create_group(file.get(), "grid");
    io::h5::write_vector(grid.get(), "alpha", plan.alpha);
    if (options.dims == 2) io::h5::write_vector(grid.get(), "beta", plan.beta);
    const auto shape = grid_shape(values, plan.alpha.size(), options.dims);
    create_grid_dataset(file.get(), "loss", H5T_IEEE_F64LE, shape);
    create_grid_dataset(file.get(), "done", H5T_STD_I64LE, shape);
    if (options.curvature) {
      create_grid_dataset(file.get(), "lambda_min", H5T_IEEE_F64LE, shape);
      create_grid_dataset(file.get(), "lambda_max", H5T_IEEE_F64LE, shape);
    }
    write_slice_values(file.get(), values, nlohmann::json::object());
    io::install_without_replacing_a_live_writer(temporary, path);
    return file;
  } catch (const io::h5::Hdf5Error& e) {
    file.reset();
    std::remove(temporary.c_str());
    throw io::FileError(path, std::string("cannot be written: ") + e.what());
  } catch (...) {
    file.reset();
    std::remove(temporary.c_str());
    throw;
  }
}

bool holds_an_incomplete_slice(const std::string& path) {
  if (io::path_kind(path) != io::PathKind::regular) return false;
  try {
    io::OpenedFile opened = io::open_saddlescope_file(path, io::kResultFormat, io::kResultFormatVersion);
    const hid_t file = opened.handle.get();
    return io::h5::has_attribute(file, "analysis") && io::h5::read_string_attribute(file, "analysis") == "loss-slice" &&
           io::h5::has_attribute(file, "status") && io::h5::read_string_attribute(file, "status") == "incomplete";
  } catch (const std::exception&) {  // unreadable or another kind of file: nothing --resume could use
    return false;
  }
}

Handle open_slice_file(const std::string& path, const nlohmann::json& settings, Index n, const SliceOptions& options,
                       SlicePlan& plan, SliceValues& values) {
  io::require_regular_input(path);
  if (!io::h5::is_hdf5_file(path)) throw io::FileError(path, "--resume: not an HDF5 file");
  if (io::held_by_a_writer(path)) throw io::FileError(path, "--resume: is being written by another process; wait for it to end");
  io::check_hdf5_file_survives_reading(path);  // a corrupt file must not crash or hang libhdf5 (io/guard.h)
  Handle file;
  nlohmann::json stored;
  try {
    file = io::h5::open_file(path, true);
    io::read_and_check_header(file.get(), path, io::kResultFormat, io::kResultFormatVersion);
    io::check_self_contained(file.get(), path);
    if (!io::h5::has_attribute(file.get(), "analysis") ||
        io::h5::read_string_attribute(file.get(), "analysis") != "loss-slice")
      throw io::FileError(path, "--resume: not a loss-slice result file");
    if (!io::h5::has_attribute(file.get(), "settings")) throw io::FileError(path, "--resume: no 'settings' attribute");
    stored = nlohmann::json::parse(io::h5::read_string_attribute(file.get(), "settings"), nullptr, false);
    if (stored.is_discarded() || !stored.is_object())
      throw io::FileError(path, "--resume: the 'settings' attribute is not a JSON object");
  } catch (const io::h5::Hdf5Error& e) {
    throw io::FileError(path, std::string("--resume: cannot be read: ") + e.what());
  }
  if (stored != settings)
    throw std::invalid_argument("--resume: " + path + " was made with different settings: " +
                                first_difference(stored, settings));
  try {
    // The settings match, so the plan's sizes are known; the stored directions are used as they are.
    plan.origin = read_vector_exact(file.get(), path, "origin", n);
    if (plan.interpolate) plan.end = read_vector_exact(file.get(), path, "end", n);
    if (!plan.interpolate) plan.d1 = read_vector_exact(file.get(), path, "directions/d1", n);
    if (options.dims == 2) plan.d2 = read_vector_exact(file.get(), path, "directions/d2", n);
    plan.alpha = read_vector_exact(file.get(), path, "grid/alpha", options.points1);
    plan.beta = options.dims == 2 ? read_vector_exact(file.get(), path, "grid/beta", options.points2) : Vector::Zero(1);
    if (io::h5::exists(file.get(), "directions/eigenvalues"))
      plan.eigenvalues = read_vector_exact(file.get(), path, "directions/eigenvalues", options.dims);
    values.resize(plan.size(), options.curvature);
    const auto size = static_cast<hsize_t>(plan.size());
    read_exact(file.get(), path, "loss", H5T_NATIVE_DOUBLE, size, values.loss.data());
    read_exact(file.get(), path, "done", H5T_NATIVE_INT64, size, values.done.data());
    if (options.curvature) {
      read_exact(file.get(), path, "lambda_min", H5T_NATIVE_DOUBLE, size, values.lambda_min.data());
      read_exact(file.get(), path, "lambda_max", H5T_NATIVE_DOUBLE, size, values.lambda_max.data());
    }
  } catch (const io::h5::Hdf5Error& e) {
    throw io::FileError(path, std::string("--resume: cannot be read: ") + e.what());
  }
  return file;
}

void write_slice_values(hid_t file, const SliceValues& values, const nlohmann::json& summary) {
  overwrite(file, "loss", H5T_NATIVE_DOUBLE, values.loss.data());
  overwrite(file, "done", H5T_NATIVE_INT64, values.done.data());
  if (values.lambda_min.size() > 0) {
    overwrite(file, "lambda_min", H5T_NATIVE_DOUBLE, values.lambda_min.data());
    overwrite(file, "lambda_max", H5T_NATIVE_DOUBLE, values.lambda_max.data());
  }
  const Index done = values.done_count();
  io::h5::write_attribute(file, "points_done", static_cast<std::int64_t>(done));
  io::h5::write_attribute(file, "status",
                          std::string(done == static_cast<Index>(values.done.size()) ? "complete" : "incomplete"));
  io::h5::write_attribute(file, "summary", summary.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  check(H5Fflush(file, H5F_SCOPE_GLOBAL), "flushing");
}

namespace {

// A 1-D grid as a list, a 2-D grid [n1, n2] (row-major) as a list of rows; non-finite values as null.
nlohmann::json grid_json(const Vector& values, Index n1, int dims) {
  if (dims == 1) return std::vector<double>(values.data(), values.data() + values.size());
  nlohmann::json rows = nlohmann::json::array();
  const auto n2 = values.size() / n1;
  for (Index i = 0; i < n1; ++i) {
    nlohmann::json row = nlohmann::json::array();
    for (Index j = 0; j < n2; ++j) {
      const double v = values(i * n2 + j);
      row.push_back(std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr));
    }
    rows.push_back(row);
  }
  return rows;
}

}  // namespace

nlohmann::json slice_settings(const objective::Objective& objective, const SliceOptions& s) {
  nlohmann::json settings;
  settings["objective"] = objective.spec();
  settings["directions"] = explore::to_string(s.directions);
  settings["dims"] = s.dims;
  settings["grid"] = s.dims == 2 ? nlohmann::json({s.points1, s.points2}) : nlohmann::json({s.points1});
  settings["range"] = s.dims == 2 ? nlohmann::json({s.lo1, s.hi1, s.lo2, s.hi2}) : nlohmann::json({s.lo1, s.hi1});
  settings["normalization"] = explore::to_string(s.normalization);
  settings["zero_one_dimensional"] = s.zero_one_dimensional;
  settings["seed"] = s.seed;
  settings["curvature"] = s.curvature;
  settings["method"] = curvature::to_string(s.classify.method);
  if (!s.blocks.empty()) {  // only then, so files written before --block existed still resume
    nlohmann::json names = nlohmann::json::array();
    for (const auto& block : s.blocks) names.push_back(block.name);
    settings["blocks"] = names;
  }
  return settings;
}

nlohmann::json slice_summary(const SliceRun& run, const SlicePlan& plan, const SliceValues& values) {
  return {{"objective", run.objective},
          {"source", run.source},
          {"n", run.n},
          {"settings", run.settings},
          {"points_total", plan.size()},
          {"points_done", values.done_count()},
          {"status", values.done_count() == plan.size() ? "complete" : "incomplete"}};
}

nlohmann::json to_json(const SliceRun& run, const SlicePlan& plan, const SliceValues& values, const SliceOptions& s) {
  nlohmann::json summary = slice_summary(run, plan, values);
  summary["points_computed_now"] = run.computed_now;
  summary["points_done_before"] = run.done_before;
  if (plan.eigenvalues.size() > 0)
    summary["direction_eigenvalues"] =
        std::vector<double>(plan.eigenvalues.data(), plan.eigenvalues.data() + plan.eigenvalues.size());
  summary["alpha"] = std::vector<double>(plan.alpha.data(), plan.alpha.data() + plan.alpha.size());
  if (s.dims == 2) summary["beta"] = std::vector<double>(plan.beta.data(), plan.beta.data() + plan.beta.size());
  summary["loss"] = grid_json(values.loss, plan.alpha.size(), s.dims);
  if (s.curvature) {
    summary["lambda_min"] = grid_json(values.lambda_min, plan.alpha.size(), s.dims);
    summary["lambda_max"] = grid_json(values.lambda_max, plan.alpha.size(), s.dims);
  }
  return summary;
}

std::string summary_text(const SliceRun& run, const SlicePlan& plan, const SliceValues& values, const SliceOptions& s) {
  std::string out = "loss-slice: " + run.objective + " (n = " + std::to_string(run.n) + ") from " + run.source + "\n";
  out += "  directions            " + explore::to_string(s.directions) + " (" + std::to_string(s.dims) +
         "-D, normalization " + explore::to_string(s.normalization) + ")\n";
  out += "  grid                  " + std::to_string(plan.alpha.size());
  if (s.dims == 2) out += " x " + std::to_string(plan.beta.size());
  const bool complete = values.done_count() == plan.size();
  out += " = " + std::to_string(plan.size()) + " points; " + std::to_string(run.computed_now) + " computed now, " +
         std::to_string(values.done_count()) + " done in all (" + (complete ? "complete" : "incomplete") + ")\n";
  double lo = INFINITY, hi = -INFINITY;
  for (Index k = 0; k < values.loss.size(); ++k)
    if (values.done[k]) {
      lo = std::min(lo, values.loss(k));
      hi = std::max(hi, values.loss(k));
    }
  out += "  loss range            [" + text::format_number(lo) + ", " + text::format_number(hi) + "]\n";
  if (plan.eigenvalues.size() > 0) {
    out += "  direction eigenvalues";
    for (Index k = 0; k < plan.eigenvalues.size(); ++k) out += " " + text::format_number(plan.eigenvalues(k));
    out += "\n";
  }
  return out;
}

}  // namespace saddlescope::report
