#include "models/spec.h"

#include <algorithm>
#include <set>
#include <stdexcept>

namespace saddlescope::models {
namespace {

const std::string& kind_of(const nlohmann::json& spec) {
  if (!spec.is_object() || !spec.contains("kind") || !spec["kind"].is_string())
    throw std::invalid_argument("objective spec must be a JSON object with a string 'kind'");
  return spec["kind"].get_ref<const std::string&>();
}

void refuse_unknown_fields(const nlohmann::json& spec, const std::set<std::string>& known) {
  for (const auto& [key, value] : spec.items())
    if (!known.count(key)) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      throw std::invalid_argument("spec of kind '" + spec["kind"].get<std::string>() + "' has unknown field '" + key +
                                  "' (known: " + list + ")");
    }
}

std::int64_t size_field(const nlohmann::json& spec, const std::string& name, std::int64_t minimum) {
  if (!spec.contains(name)) throw std::invalid_argument("spec needs an integer field '" + name + "'");
  const auto& v = spec[name];
  if (!v.is_number_integer())
    throw std::invalid_argument("spec field '" + name + "' must be an integer, got " + v.dump());
  const std::int64_t value = v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)
                                 ? INT64_MAX
                                 : v.get<std::int64_t>();
  if (value < minimum || static_cast<std::uint64_t>(value) > kMaxParameters)
    throw std::invalid_argument("spec field '" + name + "' = " + v.dump() + " must be in [" + std::to_string(minimum) +
                                ", " + std::to_string(kMaxParameters) + "]");
  return value;
}

bool bool_field(const nlohmann::json& spec, const std::string& name, bool fallback) {
  if (!spec.contains(name)) return fallback;
  if (!spec[name].is_boolean()) throw std::invalid_argument("spec field '" + name + "' must be true or false, got " + spec[name].dump());
  return spec[name].get<bool>();
}

double number_field(const nlohmann::json& spec, const std::string& name, double fallback) {
  if (!spec.contains(name)) return fallback;
  if (!spec[name].is_number()) throw std::invalid_argument("spec field '" + name + "' must be a number, got " + spec[name].dump());
  return spec[name].get<double>();
}

std::string string_field(const nlohmann::json& spec, const std::string& name, const std::string& fallback) {
  if (!spec.contains(name)) return fallback;
  if (!spec[name].is_string()) throw std::invalid_argument("spec field '" + name + "' must be a string, got " + spec[name].dump());
  return spec[name].get<std::string>();
}

std::vector<std::int64_t> widths_field(const nlohmann::json& spec) {
  if (!spec.contains("widths") || !spec["widths"].is_array())
    throw std::invalid_argument("spec needs 'widths', an array of layer widths [d_0, ..., d_L]");
  const auto& a = spec["widths"];
  if (a.size() < 2 || a.size() > 10000)
    throw std::invalid_argument("spec field 'widths' must have between 2 and 10000 entries, got " + std::to_string(a.size()));
  std::vector<std::int64_t> widths;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_number_integer())
      throw std::invalid_argument("spec field 'widths[" + std::to_string(i) + "]' must be an integer, got " + a[i].dump());
    if (a[i].is_number_unsigned() ? a[i].get<std::uint64_t>() > kMaxParameters
                                  : (a[i].get<std::int64_t>() < 1 || a[i].get<std::int64_t>() > static_cast<std::int64_t>(kMaxParameters)))
      throw std::invalid_argument("spec field 'widths[" + std::to_string(i) + "]' = " + a[i].dump() + " must be in [1, " +
                                  std::to_string(kMaxParameters) + "]");
    widths.push_back(a[i].get<std::int64_t>());
  }
  return widths;
}

std::vector<std::string> names_field(const nlohmann::json& spec, const std::string& name, bool required) {
  if (!spec.contains(name)) {
    if (required) throw std::invalid_argument("spec needs '" + name + "', an array of names");
    return {};
  }
  const auto& a = spec[name];
  if (!a.is_array()) throw std::invalid_argument("spec field '" + name + "' must be an array of names");
  if (a.size() > kMaxGraphNames)
    throw std::invalid_argument("spec field '" + name + "' has " + std::to_string(a.size()) + " entries, more than " +
                                std::to_string(kMaxGraphNames));
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::string at = "spec field '" + name + "[" + std::to_string(i) + "]'";
    if (!a[i].is_string()) throw std::invalid_argument(at + " must be a string, got " + a[i].dump());
    const std::string& value = a[i].get_ref<const std::string&>();
    if (value.empty() || value.size() > 1024 || value.find('/') != std::string::npos ||
        value.find('\0') != std::string::npos || value == "." || value == "..")
      throw std::invalid_argument(at + " = " + a[i].dump() + " must be 1 to 1024 characters without '/' or NUL");
    if (!seen.insert(value).second) throw std::invalid_argument(at + " = " + a[i].dump() + " is named twice");
    names.push_back(value);
  }
  return names;
}

}  // namespace

GraphSpec graph_spec_from_json(const nlohmann::json& spec) {
  if (kind_of(spec) != "graph") throw std::invalid_argument("not a graph spec");
  refuse_unknown_fields(spec, {"kind", "loss", "mode", "weight_decay", "parameters", "parameter_names",
                               "buffer_names", "input_shape"});
  GraphSpec g;
  if (!spec.contains("loss")) throw std::invalid_argument("spec needs a string field 'loss'");
  g.options.loss = kLossNames.parse(string_field(spec, "loss", ""));
  if (!spec.contains("mode")) throw std::invalid_argument("spec needs a string field 'mode' (train or eval)");
  g.options.batch_norm_mode = graph::kBatchNormModeNames.parse(string_field(spec, "mode", ""));
  g.options.weight_decay = number_field(spec, "weight_decay", 0.0);
  std::string why;
  if (!g.options.IsValid(&why)) throw std::invalid_argument(why);
  g.parameters = size_field(spec, "parameters", 1);
  g.parameter_names = names_field(spec, "parameter_names", true);
  if (g.parameter_names.empty()) throw std::invalid_argument("spec field 'parameter_names' must not be empty");
  g.buffer_names = names_field(spec, "buffer_names", false);
  for (const auto& name : g.buffer_names)
    if (std::find(g.parameter_names.begin(), g.parameter_names.end(), name) != g.parameter_names.end())
      throw std::invalid_argument("spec names '" + name + "' both a parameter and a buffer");
  if (!spec.contains("input_shape") || !spec["input_shape"].is_array() || spec["input_shape"].empty() ||
      spec["input_shape"].size() > 8)
    throw std::invalid_argument("spec needs 'input_shape', the per-sample shape as 1 to 8 positive integers");
  std::uint64_t elements = 1;
  for (std::size_t i = 0; i < spec["input_shape"].size(); ++i) {
    const auto& v = spec["input_shape"][i];
    const std::string at = "spec field 'input_shape[" + std::to_string(i) + "]'";
    if (!v.is_number_integer() || (v.is_number_unsigned() ? v.get<std::uint64_t>() > kMaxParameters
                                                          : v.get<std::int64_t>() < 1))
      throw std::invalid_argument(at + " = " + v.dump() + " must be a positive integer");
    const auto extent = v.get<std::uint64_t>();
    if (extent < 1 || elements > io::kMaxElementsPerDataset / extent)
      throw std::invalid_argument("spec field 'input_shape' = " + spec["input_shape"].dump() + " holds more than " +
                                  std::to_string(io::kMaxElementsPerDataset) + " elements per sample");
    elements *= extent;
    g.input_shape.push_back(static_cast<std::int64_t>(extent));
  }
  return g;
}

bool is_network_kind(const std::string& kind) {
  return kind == "mlp" || kind == "deep_linear" || kind == "linear_regression" || kind == "logistic_regression";
}

NetworkOptions network_options_from_spec(const nlohmann::json& spec) {
  const std::string kind = kind_of(spec);
  NetworkOptions o;
  o.kind = kind;
  if (kind == "mlp") {
    refuse_unknown_fields(spec, {"kind", "widths", "activation", "loss", "bias", "residual", "weight_decay",
                                 "leaky_relu_slope", "parameters"});
    o.widths = widths_field(spec);
    o.activation = kActivationNames.parse(string_field(spec, "activation", "tanh"));
    o.loss = kLossNames.parse(string_field(spec, "loss", "mse"));
    o.bias = bool_field(spec, "bias", true);
    o.residual = bool_field(spec, "residual", false);
    o.leaky_slope = number_field(spec, "leaky_relu_slope", 0.01);
  } else if (kind == "deep_linear") {
    refuse_unknown_fields(spec, {"kind", "widths", "weight_decay", "parameters"});
    o.widths = widths_field(spec);
    o.activation = Activation::identity;
    o.loss = Loss::mse;
    o.bias = false;
  } else if (kind == "linear_regression") {
    refuse_unknown_fields(spec, {"kind", "inputs", "outputs", "bias", "weight_decay", "parameters"});
    o.widths = {size_field(spec, "inputs", 1), spec.contains("outputs") ? size_field(spec, "outputs", 1) : 1};
    o.activation = Activation::identity;
    o.loss = Loss::mse;
    o.bias = bool_field(spec, "bias", true);
  } else if (kind == "logistic_regression") {
    refuse_unknown_fields(spec, {"kind", "inputs", "classes", "bias", "weight_decay", "parameters"});
    const std::int64_t classes = spec.contains("classes") ? size_field(spec, "classes", 2) : 2;
    o.widths = {size_field(spec, "inputs", 1), classes == 2 ? 1 : classes};
    o.activation = Activation::identity;
    o.loss = classes == 2 ? Loss::logistic : Loss::cross_entropy;
    o.bias = bool_field(spec, "bias", true);
  } else {
    throw std::invalid_argument("'" + kind + "' is not a network kind (known: mlp, deep_linear, linear_regression, logistic_regression)");
  }
  o.weight_decay = number_field(spec, "weight_decay", 0.0);
  std::string why;
  if (!o.IsValid(&why)) throw std::invalid_argument(why);
  if (spec.contains("parameters")) {
    const auto& p = spec["parameters"];
    if (!p.is_number_integer() || p.get<std::int64_t>() != o.parameter_count())
      throw std::invalid_argument("spec field 'parameters' = " + p.dump() + " does not match the " +
                                  std::to_string(o.parameter_count()) + " parameters its sizes imply");
  }
  return o;
}

std::unique_ptr<Network> make_network(const nlohmann::json& spec, io::DataArrays data) {
  return std::make_unique<Network>(network_options_from_spec(spec), std::move(data));
}

}  // namespace saddlescope::models
