#include "problem/problem.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

#include <filesystem>

#include "io/error.h"
#include "io/json_text.h"
#include "models/datasets.h"
#include "models/graph/engine.h"
#include "models/graph/onnx_import.h"
#include "models/spec.h"
#include "objective/test_functions.h"
#include "parallel/data_parallel.h"

namespace saddlescope::problem {
namespace {

nlohmann::json spec_without(const nlohmann::json& spec, std::initializer_list<const char*> keys) {
  nlohmann::json rest = spec;
  for (const char* key : keys) rest.erase(key);
  return rest;
}

}  // namespace

std::unique_ptr<objective::Objective> make_objective(const nlohmann::json& spec, const io::DataArrays* data) {
  if (!spec.is_object() || !spec.contains("kind") || !spec["kind"].is_string())
    throw std::invalid_argument("objective spec must be a JSON object with a string 'kind'");
  const std::string kind = spec["kind"].get<std::string>();
  if (kind == "function") {
    if (!spec.contains("function") || !spec["function"].is_string())
      throw std::invalid_argument("objective spec of kind 'function' needs a string 'function'");
    (void)data;
    // Keys beside "function" are the function's options, read by the same parser as the string's
    // (unknown, repeated or out-of-range keys are refused: {"function": "himmelblau", "n": 10^12} is).
    return objective::make_test_function(spec["function"].get<std::string>(), spec_without(spec, {"kind", "function"}));
  }
  if (models::is_network_kind(kind)) {
    if (!data) throw std::invalid_argument("objective kind '" + kind + "' needs a data set");
    return models::make_network(spec, *data);
  }
  if (kind == "graph") {
    (void)models::graph_spec_from_json(spec);  // a bad spec is named first
    throw std::invalid_argument("objective kind 'graph' is built from a checkpoint (it needs /objective/onnx)");
  }
  throw std::invalid_argument("unknown objective kind '" + kind +
                              "' (known: function, mlp, deep_linear, linear_regression, logistic_regression, graph)");
}

namespace {

// A network spec's sizes, validated (and bounded) and compared with /params before anything is
// allocated from them. Throws std::invalid_argument for a bad spec, io::FileError for a size mismatch.
models::NetworkOptions checked_network_options(const io::Checkpoint& checkpoint, const std::string& path) {
  models::NetworkOptions options = models::network_options_from_spec(checkpoint.spec);
  if (options.parameter_count() != checkpoint.params.size())
    throw io::FileError(path, "params has " + std::to_string(checkpoint.params.size()) +
                                  " entries but the spec's sizes imply " + std::to_string(options.parameter_count()));
  return options;
}

// A graph model from its checkpoint parts (io/checkpoint.h, docs/graph.md). Every size is compared before
// the ONNX graph is imported or anything is allocated from it: the spec's parameter count with /params,
// its input shape with /data/X's columns; then the imported graph's parameters, buffers and input shape
// with the spec, /params and /buffers. Throws std::invalid_argument for a bad spec or graph, io::FileError
// for parts that disagree.
std::unique_ptr<objective::Objective> build_graph_objective(const io::Checkpoint& checkpoint, const std::string& path) {
  const models::GraphSpec spec = models::graph_spec_from_json(checkpoint.spec);
  if (spec.parameters != checkpoint.params.size())
    throw io::FileError(path, "params has " + std::to_string(checkpoint.params.size()) +
                                  " entries but the spec states " + std::to_string(spec.parameters) + " parameters");
  if (checkpoint.graph.empty()) throw io::FileError(path, "a graph objective needs the ONNX model /objective/onnx");
  if (!checkpoint.data)
    throw io::FileError(path, "objective kind 'graph' needs /data (embedded X, y or a data_file reference)");
  std::int64_t per_sample = 1;
  for (auto extent : spec.input_shape) per_sample *= extent;  // bounded by graph_spec_from_json
  if (checkpoint.data->X.cols() != per_sample)
    throw io::FileError(path, "/data/X has " + std::to_string(checkpoint.data->X.cols()) +
                                  " columns but the spec's input_shape " + nlohmann::json(spec.input_shape).dump() +
                                  " has " + std::to_string(per_sample) + " elements per sample");
  if (!checkpoint.data->sample_shape.empty() && checkpoint.data->sample_shape != spec.input_shape)
    throw io::FileError(path, "/data/sample_shape " + nlohmann::json(checkpoint.data->sample_shape).dump() +
                                  " differs from the spec's input_shape " + nlohmann::json(spec.input_shape).dump());
  for (const auto& [name, values] : checkpoint.buffers)
    if (std::find(spec.buffer_names.begin(), spec.buffer_names.end(), name) == spec.buffer_names.end())
      throw io::FileError(path, "/buffers/" + name + " is not among the spec's buffer_names");
  models::graph::GraphIR ir;
  try {
    ir = models::graph::import_onnx(checkpoint.graph, {spec.parameter_names, spec.buffer_names});
  } catch (const std::invalid_argument& e) {
    throw io::FileError(path, std::string("/objective/onnx: ") + e.what());
  }
  const std::vector<std::int64_t> graph_sample(ir.input.shape.begin() + 1, ir.input.shape.end());
  if (graph_sample != spec.input_shape)
    throw io::FileError(path, "the ONNX input '" + ir.input.name + "' takes samples of shape " +
                                  nlohmann::json(graph_sample).dump() + " but the spec's input_shape is " +
                                  nlohmann::json(spec.input_shape).dump());
  std::int64_t count = 0;
  for (const auto& p : ir.parameters) count += p.value.element_count();
  if (count != checkpoint.params.size())
    throw io::FileError(path, "the ONNX graph's parameters hold " + std::to_string(count) + " values but params has " +
                                  std::to_string(checkpoint.params.size()));
  for (auto& buffer : ir.buffers) {  // /buffers is the state; the ONNX copy only gives the shape
    const auto it = checkpoint.buffers.find(buffer.name);
    if (it == checkpoint.buffers.end()) throw io::FileError(path, "buffer '" + buffer.name + "' is missing from /buffers");
    if (it->second.size() != buffer.value.element_count())
      throw io::FileError(path, "/buffers/" + buffer.name + " has " + std::to_string(it->second.size()) +
                                    " values but the graph's buffer has " + std::to_string(buffer.value.element_count()));
    buffer.value.f64.assign(it->second.data(), it->second.data() + it->second.size());
  }
  try {
    return std::make_unique<models::graph::GraphObjective>(std::move(ir), spec.options, *checkpoint.data);
  } catch (const std::invalid_argument& e) {
    throw io::FileError(path, std::string("graph model: ") + e.what());
  }
}

// The file half of loading a checkpoint: reads and validates it and, for a network that references a
// data file, reads that file too. Every failure is io::FileError naming the checkpoint.
io::Checkpoint read_checkpoint_with_data(const std::string& path, const io::RowShard& shard = {}) {
  io::Checkpoint checkpoint = io::read_checkpoint(path, shard);
  const auto kind_it = checkpoint.spec.find("kind");
  const std::string kind = kind_it != checkpoint.spec.end() && kind_it->is_string() ? kind_it->get<std::string>() : "";
  const bool network = models::is_network_kind(kind);
  if ((network || kind == "graph") && !checkpoint.data && !checkpoint.data_file.empty()) {
    try {  // the sizes are checked before the data set is read
      if (network) (void)checked_network_options(checkpoint, path);
      else (void)models::graph_spec_from_json(checkpoint.spec);
    } catch (const std::invalid_argument& e) {
      throw io::FileError(path, std::string("/objective/spec: ") + e.what());
    }
    std::filesystem::path file(checkpoint.data_file);
    if (file.is_relative()) file = std::filesystem::path(path).parent_path() / file;
    try {
      checkpoint.data = io::read_data_file(file.string(), checkpoint.data_group, shard, &checkpoint.data_rows);
    } catch (const io::FileError& e) {  // name the checkpoint too: it is the file the user gave
      throw io::FileError(path, std::string("/data reference: ") + e.what());
    }
  }
  return checkpoint;
}

// The in-memory half: the objective a checkpoint read by read_checkpoint_with_data describes, checked
// against its /params. Touches no file, so any thread may call it.
std::unique_ptr<objective::Objective> build_checkpoint_objective(const io::Checkpoint& checkpoint,
                                                                 const std::string& path) {
  // json::value throws type_error for a non-string "kind"; make_objective refuses it with a message below.
  const auto kind_it = checkpoint.spec.find("kind");
  const std::string kind =
      kind_it != checkpoint.spec.end() && kind_it->is_string() ? kind_it->get<std::string>() : std::string();
  std::unique_ptr<objective::Objective> objective;
  try {
    if (models::is_network_kind(kind)) {
      const models::NetworkOptions options = checked_network_options(checkpoint, path);
      if (!checkpoint.spec.contains("parameters"))
        throw std::invalid_argument("a network spec in a checkpoint must state 'parameters'");
      if (!checkpoint.data)
        throw io::FileError(path, "objective kind '" + kind + "' needs /data (embedded X, y or a data_file reference)");
      objective = std::make_unique<models::Network>(options, *checkpoint.data);
    } else if (kind == "graph") {
      objective = build_graph_objective(checkpoint, path);
    } else {
      if (!checkpoint.graph.empty() || !checkpoint.buffers.empty())
        throw io::FileError(path, "/objective/onnx or /buffers present, but the objective kind '" + kind + "' is not 'graph'");
      const io::DataArrays* data = checkpoint.data ? &*checkpoint.data : nullptr;
      if (!checkpoint.data_file.empty())
        throw std::invalid_argument("references data file '" + checkpoint.data_file +
                                    "', but this objective kind takes no external data");
      objective = make_objective(checkpoint.spec, data);
    }
  } catch (const std::invalid_argument& e) {
    throw io::FileError(path, std::string("/objective/spec: ") + e.what());
  }
  if (objective->dim() != checkpoint.params.size())
    throw io::FileError(path, "params has " + std::to_string(checkpoint.params.size()) + " entries but the objective '" +
                                  objective->description() + "' has " + std::to_string(objective->dim()) +
                                  " parameters");
  return objective;
}

}  // namespace

Problem load_checkpoint_problem(const std::string& path, const io::RowShard& shard) {
  auto checkpoint = std::make_shared<const io::Checkpoint>(read_checkpoint_with_data(path, shard));
  // With P > 1 parts the objective over data is this rank's shard, summed over the ranks by
  // DataParallelObjective (so the factory's objectives are collective too: main thread only).
  auto build = [checkpoint, path, shard]() -> std::unique_ptr<objective::Objective> {
    std::unique_ptr<objective::Objective> objective = build_checkpoint_objective(*checkpoint, path);
    if (shard.whole() || !checkpoint->data || objective->sample_count() == 0) return objective;
    try {
      return std::make_unique<parallel::DataParallelObjective>(std::move(objective), shard, checkpoint->data_rows);
    } catch (const std::invalid_argument& e) {
      throw io::FileError(path, e.what());
    }
  };
  Problem problem;
  problem.objective = build();
  problem.point = checkpoint->params;
  problem.source = "checkpoint " + path;
  problem.input_path = path;
  problem.checkpoint = checkpoint;
  problem.factory = build;
  return problem;
}

objective::Vector parse_point(const std::string& text, objective::Index expected, const std::string& flag) {
  std::vector<double> values;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    double value = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size())
      throw std::invalid_argument(flag + ": '" + item + "' is not a number");
    if (!std::isfinite(value)) throw std::invalid_argument(flag + ": coordinates must be finite, got '" + item + "'");
    values.push_back(value);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (static_cast<objective::Index>(values.size()) != expected)
    throw std::invalid_argument(flag + ": got " + std::to_string(values.size()) + " coordinates, the problem has " +
                                std::to_string(expected) + " parameters");
  return Eigen::Map<const objective::Vector>(values.data(), expected);
}

Problem make_spec_problem(const std::string& spec, const std::string& at, const std::string& at_flag) {
  nlohmann::json json_spec = {{"kind", "function"}, {"function", spec}};
  if (!spec.empty() && spec.front() == '{') {
    std::string why;
    json_spec = io::parse_json_bounded(spec, &why);
    if (json_spec.is_discarded()) throw std::invalid_argument("--problem: " + why);
  }
  Problem problem;
  problem.objective = make_objective(json_spec, nullptr);
  problem.factory = [json_spec] { return make_objective(json_spec, nullptr); };
  problem.source = "problem " + spec;
  if (at.empty() || at == "start") {
    const auto* function = dynamic_cast<const objective::TestFunction*>(problem.objective.get());
    if (function == nullptr)
      throw std::invalid_argument(at_flag + " is needed: " + problem.objective->description() + " has no default start");
    problem.point = function->default_start();
    if (at == "start") problem.source += " at its default start";
  } else {
    problem.point = parse_point(at, problem.objective->dim(), at_flag);
  }
  return problem;
}

}  // namespace saddlescope::problem
