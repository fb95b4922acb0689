#include "io/checkpoint.h"

#include <cmath>

#include "io/atomic_file.h"
#include "io/error.h"
#include "io/hdf5.h"
#include "io/json_text.h"
#include "io/provenance_file.h"
#include "io/reader.h"

namespace saddlescope::io {
namespace {

void write_data(hid_t file, const Checkpoint& c) {
  if (!c.data && c.data_file.empty()) return;
  h5::Handle group = h5::create_group(file, "data");
  if (c.data) {
    h5::write_matrix(group.get(), "X", c.data->X);
    h5::write_matrix(group.get(), "y", c.data->y);
    if (!c.data->sample_shape.empty()) h5::write_int_vector(group.get(), "sample_shape", c.data->sample_shape);
  } else {
    h5::write_attribute(group.get(), "data_file", c.data_file);
    h5::write_attribute(group.get(), "data_group", c.data_group);
  }
}

void write_optimizer_state(hid_t file, const OptimizerState& state) {
  h5::Handle group = h5::create_group(file, "optimizer_state");
  h5::write_attribute(group.get(), "config", state.config.dump());
  h5::write_attribute(group.get(), "step", state.step);
  if (state.run_step) h5::write_attribute(group.get(), "run_step", *state.run_step);
  for (const auto& [name, buffer] : state.buffers) h5::write_vector(group.get(), name, buffer);
}

void require_finite(const Eigen::MatrixXd& values, const std::string& path, const std::string& what) {
  if (!values.allFinite()) throw FileError(path, what + " contains NaN or Inf");
}

void write_histogram_edges(hid_t file, const HistogramEdgeSet& set) {
  h5::Handle group = h5::create_group(file, "histogram_edges");
  h5::write_attribute(group.get(), "blocks", nlohmann::json(set.blocks).dump());
  for (const auto& [quantity, edges] : set.edges) h5::write_matrix(group.get(), quantity, edges);
}

// /histogram_edges: the block names (a JSON list of strings), then per quantity [L, bins + 1] finite,
// strictly increasing rows, every quantity with the same shape.
HistogramEdgeSet read_histogram_edges(hid_t file, const std::string& path) {
  h5::Handle group = h5::open_group(file, "histogram_edges");
  HistogramEdgeSet set;
  std::string why;
  const nlohmann::json names = parse_json_bounded(h5::read_string_attribute(group.get(), "blocks"), &why);
  if (names.is_discarded()) throw FileError(path, "attribute /histogram_edges/blocks is " + why);
  if (!names.is_array()) throw FileError(path, "attribute /histogram_edges/blocks is not a JSON list");
  for (const auto& name : names) {
    if (!name.is_string()) throw FileError(path, "attribute /histogram_edges/blocks holds a non-string name");
    set.blocks.push_back(name.get<std::string>());
  }
  std::uint64_t total = 0;  // all quantities together stay under one dataset's limit
  for (const std::string& quantity : list_links(group.get())) {
    const std::string where = "dataset '/histogram_edges/" + quantity + "'";
    Eigen::MatrixXd edges = h5::read_matrix(group.get(), quantity, kMaxElementsPerDataset - total);
    total += static_cast<std::uint64_t>(edges.size());
    require_finite(edges, path, where);
    if (edges.rows() != static_cast<Eigen::Index>(set.blocks.size()) || edges.cols() < 2)
      throw FileError(path, where + " must be [" + std::to_string(set.blocks.size()) + " blocks, bins + 1 >= 2]");
    if (!set.edges.empty() && edges.cols() != set.edges.begin()->second.cols())
      throw FileError(path, where + " has another bin count than the other quantities");
    for (Eigen::Index r = 0; r < edges.rows(); ++r)
      for (Eigen::Index i = 1; i < edges.cols(); ++i)
        if (!(edges(r, i) > edges(r, i - 1))) throw FileError(path, where + " has a row that is not strictly increasing");
    set.edges.emplace(quantity, std::move(edges));
  }
  return set;
}

// Reads X and y of a data group (rows of `shard` only, by hyperslab): equal row counts, at least as
// many samples as parts, finite values. `where` names the group in messages ("/data"); `rows`
// receives N. Throws FileError naming `path`, or h5::Hdf5Error from the HDF5 layer.
DataArrays read_data_arrays(hid_t group, const std::string& path, const std::string& where, const RowShard& shard,
                            std::int64_t* rows);

}  // namespace

std::string sample_shape_problem(const std::vector<std::int64_t>& shape, Eigen::Index columns) {
  if (shape.empty() || shape.size() > 8) return "sample_shape must have 1 to 8 extents";
  std::int64_t product = 1;
  for (const std::int64_t extent : shape) {
    if (extent < 1 || extent > static_cast<std::int64_t>(kMaxElementsPerDataset) ||
        product > static_cast<std::int64_t>(kMaxElementsPerDataset) / extent)
      return "sample_shape has an extent out of range";
    product *= extent;
  }
  if (product != columns)
    return "sample_shape holds " + std::to_string(product) + " elements per sample but X has " + std::to_string(columns) +
           " columns";
  return "";
}

void write_checkpoint(const std::string& path, const Checkpoint& c, const Provenance& provenance) {
  AtomicH5File file(path);
  try {
    write_provenance(file.get(), kCheckpointFormat, kCheckpointFormatVersion, provenance);
    h5::write_vector(file.get(), "params", c.params);
    h5::Handle objective = h5::create_group(file.get(), "objective");
    h5::write_attribute(objective.get(), "spec", c.spec.dump());
    if (!c.graph.empty()) h5::write_bytes(objective.get(), "onnx", c.graph);
    if (!c.buffers.empty()) {
      h5::Handle buffers = h5::create_group(file.get(), "buffers");
      for (const auto& [name, values] : c.buffers) h5::write_vector(buffers.get(), name, values);
    }
    write_data(file.get(), c);
    if (c.optimizer_state) write_optimizer_state(file.get(), *c.optimizer_state);
    if (c.histogram_edges) write_histogram_edges(file.get(), *c.histogram_edges);
  } catch (const h5::Hdf5Error& e) {
    throw FileError(path, std::string("cannot be written: ") + e.what());
  }
  file.commit();
}

Checkpoint read_checkpoint(const std::string& path, const RowShard& shard) {
  OpenedFile opened = open_saddlescope_file(path, kCheckpointFormat, kCheckpointFormatVersion);
  const hid_t file = opened.handle.get();
  Checkpoint c;
  c.provenance = opened.header.provenance;
  try {
    c.params = h5::read_vector(file, "params", kMaxElementsPerDataset);
    if (c.params.size() == 0) throw FileError(path, "dataset 'params' is empty");
    require_finite(c.params, path, "dataset 'params'");
    if (!h5::exists(file, "objective")) throw FileError(path, "group 'objective' is missing");
    h5::Handle objective = h5::open_group(file, "objective");
    const std::string spec_text = h5::read_string_attribute(objective.get(), "spec");
    std::string why;
    c.spec = parse_json_bounded(spec_text, &why);
    if (c.spec.is_discarded()) throw FileError(path, "attribute /objective/spec is " + why);
    if (!c.spec.is_object()) throw FileError(path, "attribute /objective/spec is not a JSON object");
    if (h5::exists(objective.get(), "onnx")) {
      c.graph = h5::read_bytes(objective.get(), "onnx", kMaxElementsPerDataset);
      if (c.graph.empty()) throw FileError(path, "dataset '/objective/onnx' is empty");
    }
    if (h5::exists(file, "buffers")) {
      h5::Handle group = h5::open_group(file, "buffers");
      std::uint64_t total = 0;  // all buffers together stay under one dataset's limit
      for (const std::string& name : list_links(group.get())) {
        Eigen::VectorXd buffer = h5::read_vector(group.get(), name, kMaxElementsPerDataset - total);
        total += static_cast<std::uint64_t>(buffer.size());
        require_finite(buffer, path, "dataset '/buffers/" + name + "'");
        c.buffers.emplace(name, std::move(buffer));
      }
    }
    if (h5::exists(file, "data")) {
      h5::Handle data = h5::open_group(file, "data");
      if (h5::exists(data.get(), "X")) {
        c.data = read_data_arrays(data.get(), path, "/data", shard, &c.data_rows);
      } else {
        c.data_file = h5::read_string_attribute(data.get(), "data_file");
        c.data_group = h5::read_string_attribute(data.get(), "data_group");
      }
    }
    if (h5::exists(file, "optimizer_state")) {
      h5::Handle group = h5::open_group(file, "optimizer_state");
      OptimizerState state;
      state.config = parse_json_bounded(h5::read_string_attribute(group.get(), "config"), &why);
      if (state.config.is_discarded()) throw FileError(path, "attribute /optimizer_state/config is " + why);
      state.step = h5::read_int_attribute(group.get(), "step");
      if (state.step > kMaxRunSteps)  // a negative one is load_state's to refuse, by name
        throw FileError(path, "attribute /optimizer_state/step = " + std::to_string(state.step) + " exceeds " +
                                  std::to_string(kMaxRunSteps));
      if (h5::has_attribute(group.get(), "run_step")) {
        state.run_step = h5::read_int_attribute(group.get(), "run_step");
        if (*state.run_step < 0 || *state.run_step > kMaxRunSteps)
          throw FileError(path, "attribute /optimizer_state/run_step = " + std::to_string(*state.run_step) +
                                    " must be in [0, " + std::to_string(kMaxRunSteps) + "]");
      }
      for (const std::string& name : list_links(group.get())) {
        // Lengths are the optimizer's contract (most buffers have one entry per parameter, L-BFGS's
        // scalars three): optim::Optimizer::load_state checks them, with names, signs and finiteness.
        // Here only the size bound applies, before anything is allocated.
        state.buffers.emplace(name, h5::read_vector(group.get(), name, kMaxElementsPerDataset));
      }
      c.optimizer_state = std::move(state);
    }
    if (h5::exists(file, "histogram_edges")) c.histogram_edges = read_histogram_edges(file, path);
  } catch (const h5::Hdf5Error& e) {
    throw FileError(path, e.what());
  }
  return c;
}

namespace {

DataArrays read_data_arrays(hid_t group, const std::string& path, const std::string& where, const RowShard& shard,
                            std::int64_t* rows) {
  DataArrays arrays;
  std::int64_t total = 0, total_y = 0;
  if (shard.whole()) {
    arrays.X = h5::read_matrix(group, "X", kMaxElementsPerDataset);
    arrays.y = h5::read_matrix(group, "y", kMaxElementsPerDataset);
    total = arrays.X.rows();
    total_y = arrays.y.rows();
  } else {
    // The row count comes from X's shape; y must match it before its rows are selected.
    (void)h5::read_matrix_rows(group, "X", kMaxElementsPerDataset, 0, 0, &total);
    if (total < shard.parts)
      throw FileError(path, where + " has " + std::to_string(total) + " samples, fewer than the " +
                                std::to_string(shard.parts) + " parts it is split into");
    arrays.X = h5::read_matrix_rows(group, "X", kMaxElementsPerDataset, shard.begin(total), shard.end(total), &total);
    (void)h5::read_matrix_rows(group, "y", kMaxElementsPerDataset, 0, 0, &total_y);
    if (total_y == total)
      arrays.y = h5::read_matrix_rows(group, "y", kMaxElementsPerDataset, shard.begin(total), shard.end(total), &total_y);
  }
  if (total != total_y)
    throw FileError(path, where + "/X has " + std::to_string(total) + " rows but " + where + "/y has " +
                              std::to_string(total_y));
  const std::string part = shard.whole() ? "" : " (rows " + std::to_string(shard.begin(total)) + " to " +
                                                    std::to_string(shard.end(total) - 1) + ", " + shard.describe() + ")";
  require_finite(arrays.X, path, "dataset '" + where + "/X'" + part);
  require_finite(arrays.y, path, "dataset '" + where + "/y'" + part);
  if (h5::exists(group, "sample_shape")) {  // the per-sample tensor shape of image data (graph models)
    arrays.sample_shape = h5::read_int_vector(group, "sample_shape", 8);
    const std::string problem = sample_shape_problem(arrays.sample_shape, arrays.X.cols());
    if (!problem.empty()) throw FileError(path, where + "/" + problem);
  }
  if (rows) *rows = total;
  return arrays;
}

}  // namespace

DataArrays read_data_file(const std::string& path, const std::string& group, const RowShard& shard,
                          std::int64_t* rows) {
  OpenedFile opened = open_saddlescope_file(path, kDataFormat, kDataFormatVersion);
  DataArrays d;
  std::int64_t total = 0;
  try {
    if (group.empty() || !h5::exists(opened.handle.get(), group))
      throw FileError(path, "has no data set '" + group + "'");
    h5::Handle g = h5::open_group(opened.handle.get(), group);
    d = read_data_arrays(g.get(), path, "/" + group, shard, &total);
  } catch (const h5::Hdf5Error& e) {
    throw FileError(path, "/" + group + ": " + e.what());
  }
  if (total == 0) throw FileError(path, "/" + group + " has no samples");
  if (rows) *rows = total;
  return d;
}

}  // namespace saddlescope::io
