#include "models/graph/onnx_import.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>

#include "io/checkpoint.h"

namespace saddlescope::models::graph {
namespace {

static_assert(std::endian::native == std::endian::little, "ONNX raw_data is little-endian; this reader copies it as is");

constexpr std::uint64_t kMaxElements = io::kMaxElementsPerDataset;

[[noreturn]] void refuse(const std::string& what) { throw std::invalid_argument("ONNX model: " + what); }

std::string node_label(const onnx::NodeProto& node, int index) {
  return "node " + std::to_string(index) + (node.name().empty() ? "" : " '" + node.name() + "'") + " (" +
         node.op_type() + ")";
}

// Element count of declared extents, refused when negative or above the limit (no overflow: the running
// product is compared before each multiplication).
std::uint64_t checked_count(const google::protobuf::RepeatedField<std::int64_t>& dims, const std::string& what) {
  std::uint64_t count = 1;
  for (const std::int64_t d : dims) {
    if (d < 0) refuse(what + " has a negative extent " + std::to_string(d));
    if (d != 0 && count > kMaxElements / static_cast<std::uint64_t>(d))
      refuse(what + " declares more than " + std::to_string(kMaxElements) + " elements");
    count *= static_cast<std::uint64_t>(d);
  }
  return count;
}

const char* type_name(int data_type) {
  switch (data_type) {
    case onnx::TensorProto::FLOAT: return "float32";
    case onnx::TensorProto::DOUBLE: return "float64";
    case onnx::TensorProto::INT64: return "int64";
    case onnx::TensorProto::INT32: return "int32";
    case onnx::TensorProto::BOOL: return "bool";
    case onnx::TensorProto::FLOAT16: return "float16";
    default: return "an unsupported element type";
  }
}

// Size and storage checks of a tensor, without converting it: run on every tensor before the checker
// (which would otherwise resolve external data against the disk).
void check_tensor(const onnx::TensorProto& t, const std::string& what) {
  if (t.data_location() == onnx::TensorProto::EXTERNAL || t.external_data_size() > 0)
    refuse(what + " uses external data (a file outside the model), which is not read");
  if (t.has_segment()) refuse(what + " is segmented, which is not supported");
  const std::uint64_t count = checked_count(t.dims(), what);
  std::uint64_t element_bytes = 0;
  std::uint64_t typed = 0;
  switch (t.data_type()) {
    case onnx::TensorProto::DOUBLE: element_bytes = 8; typed = t.double_data_size(); break;
    case onnx::TensorProto::FLOAT: element_bytes = 4; typed = t.float_data_size(); break;
    case onnx::TensorProto::INT64: element_bytes = 8; typed = t.int64_data_size(); break;
    case onnx::TensorProto::INT32: element_bytes = 4; typed = t.int32_data_size(); break;
    // ONNX stores bool one byte each in raw_data, or in int32_data (onnx.proto3)
    case onnx::TensorProto::BOOL: element_bytes = 1; typed = t.int32_data_size(); break;
    default:
      refuse(what + " has element type " + type_name(t.data_type()) + " (" + std::to_string(t.data_type()) +
             "); supported: float64, float32, int64, int32, bool");
  }
  if (t.has_raw_data()) {
    if (typed != 0) refuse(what + " has both raw_data and typed data");
    if (t.raw_data().size() != count * element_bytes)
      refuse(what + " declares " + std::to_string(count) + " elements but holds " + std::to_string(t.raw_data().size()) +
             " bytes of raw_data (expected " + std::to_string(count * element_bytes) + ")");
  } else if (typed != count) {
    refuse(what + " declares " + std::to_string(count) + " elements but holds " + std::to_string(typed));
  }
}

template <typename Source, typename Target>
void copy_raw(const std::string& raw, std::vector<Target>& out) {
  const std::size_t n = raw.size() / sizeof(Source);
  out.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    Source v;
    std::memcpy(&v, raw.data() + i * sizeof(Source), sizeof(Source));
    out[i] = static_cast<Target>(v);
  }
}

Tensor convert_tensor(const onnx::TensorProto& t, const std::string& what) {
  check_tensor(t, what);
  Tensor out;
  out.shape.assign(t.dims().begin(), t.dims().end());
  const bool raw = t.has_raw_data();
  switch (t.data_type()) {
    case onnx::TensorProto::DOUBLE:
      if (raw) copy_raw<double>(t.raw_data(), out.f64);
      else out.f64.assign(t.double_data().begin(), t.double_data().end());
      break;
    case onnx::TensorProto::FLOAT:  // widened exactly
      if (raw) copy_raw<float>(t.raw_data(), out.f64);
      else out.f64.assign(t.float_data().begin(), t.float_data().end());
      break;
    case onnx::TensorProto::INT64:
      out.type = ElementType::int64;
      if (raw) copy_raw<std::int64_t>(t.raw_data(), out.i64);
      else out.i64.assign(t.int64_data().begin(), t.int64_data().end());
      break;
    case onnx::TensorProto::INT32:
      out.type = ElementType::int64;
      if (raw) copy_raw<std::int32_t>(t.raw_data(), out.i64);
      else out.i64.assign(t.int32_data().begin(), t.int32_data().end());
      break;
    case onnx::TensorProto::BOOL:  // as int64 0/1 (torch exports Dropout's training_mode as a bool Constant)
      out.type = ElementType::int64;
      if (raw) copy_raw<std::uint8_t>(t.raw_data(), out.i64);
      else out.i64.assign(t.int32_data().begin(), t.int32_data().end());
      for (auto& v : out.i64) v = v != 0;
      break;
    default: break;  // refused by check_tensor
  }
  if (out.type == ElementType::float64) {
    for (double v : out.f64)
      if (!std::isfinite(v)) refuse(what + " contains NaN or Inf");
  }
  return out;
}

// A float32 attribute as the double the exporter most likely meant: the shortest decimal that
// round-trips the float32, parsed as a double (torch's eps=1e-5 is stored as 9.99999975e-06).
double widen_attribute_float(float value) {
  char text[64];
  const auto written = std::to_chars(text, text + sizeof text, value);
  double result = value;
  (void)std::from_chars(text, written.ptr, result);
  return result;
}

Attribute convert_attribute(const onnx::AttributeProto& a, const std::string& what) {
  switch (a.type()) {
    case onnx::AttributeProto::INT: return static_cast<std::int64_t>(a.i());
    case onnx::AttributeProto::FLOAT: return widen_attribute_float(a.f());
    case onnx::AttributeProto::STRING: return a.s();
    case onnx::AttributeProto::INTS: return std::vector<std::int64_t>(a.ints().begin(), a.ints().end());
    case onnx::AttributeProto::FLOATS: {
      std::vector<double> values;
      values.reserve(static_cast<std::size_t>(a.floats_size()));
      for (float f : a.floats()) values.push_back(widen_attribute_float(f));
      return values;
    }
    case onnx::AttributeProto::TENSOR: return convert_tensor(a.t(), what);
    default:
      refuse(what + " has an attribute of kind " + std::to_string(static_cast<int>(a.type())) +
             " (supported: int, float, string, ints, floats, tensor)");
  }
}

bool default_domain(const std::string& domain) { return domain.empty() || domain == "ai.onnx"; }

// The pre-checker pass: op types, domains, attribute kinds and every tensor's storage and size.
void check_structure(const onnx::ModelProto& model) {
  if (model.functions_size() > 0) refuse("model-local functions are not supported");
  const onnx::GraphProto& g = model.graph();
  for (int i = 0; i < g.initializer_size(); ++i)
    check_tensor(g.initializer(i), "initializer '" + g.initializer(i).name() + "'");
  if (g.sparse_initializer_size() > 0) refuse("sparse initializers are not supported");
  const auto& ops = supported_op_types();
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto& node = g.node(i);
    const std::string label = node_label(node, i);
    if (!default_domain(node.domain()))
      refuse(label + " is in domain '" + node.domain() + "'; only the default ONNX domain is supported");
    if (std::find(ops.begin(), ops.end(), node.op_type()) == ops.end())
      refuse("unsupported op type '" + node.op_type() + "' at " + label);
    for (const auto& a : node.attribute()) {
      switch (a.type()) {
        case onnx::AttributeProto::INT:
        case onnx::AttributeProto::FLOAT:
        case onnx::AttributeProto::STRING:
        case onnx::AttributeProto::INTS:
        case onnx::AttributeProto::FLOATS: break;
        case onnx::AttributeProto::TENSOR: check_tensor(a.t(), label + " attribute '" + a.name() + "'"); break;
        default:
          refuse(label + " attribute '" + a.name() + "' is of kind " + std::to_string(static_cast<int>(a.type())) +
                 " (supported: int, float, string, ints, floats, tensor)");
      }
    }
  }
}

std::int64_t default_opset(const onnx::ModelProto& model) {
  std::int64_t opset = -1;
  for (const auto& import : model.opset_import()) {
    if (!default_domain(import.domain())) continue;
    if (opset >= 0) refuse("the default ONNX domain is imported twice");
    opset = import.version();
  }
  if (opset < 0) refuse("no opset import for the default ONNX domain");
  if (opset < kMinOpset || opset > kMaxOpset)
    refuse("opset " + std::to_string(opset) + " is outside the supported range [" + std::to_string(kMinOpset) + ", " +
           std::to_string(kMaxOpset) + "]");
  return opset;
}

// Shape inference's view of a value, bounded. Symbolic and unknown extents count as 1 (the batch).
void check_inferred_size(const onnx::ValueInfoProto& info) {
  if (!info.type().has_tensor_type() || !info.type().tensor_type().has_shape()) return;
  std::uint64_t count = 1;
  for (const auto& d : info.type().tensor_type().shape().dim()) {
    if (!d.has_dim_value()) continue;
    const std::int64_t v = d.dim_value();
    if (v < 0) refuse("value '" + info.name() + "' has a negative extent " + std::to_string(v));
    if (v != 0 && count > kMaxElements / static_cast<std::uint64_t>(v))
      refuse("value '" + info.name() + "' would hold more than " + std::to_string(kMaxElements) +
             " elements per sample (shapes inferred from the model)");
    count *= static_cast<std::uint64_t>(v);
  }
}

ValueInfo data_input(const onnx::GraphProto& g, const std::set<std::string>& initializers) {
  const onnx::ValueInfoProto* input = nullptr;
  for (const auto& candidate : g.input()) {
    if (initializers.count(candidate.name())) continue;
    if (input) refuse("the graph has more than one data input ('" + input->name() + "', '" + candidate.name() + "')");
    input = &candidate;
  }
  if (!input) refuse("the graph has no data input");
  const std::string what = "data input '" + input->name() + "'";
  if (!input->type().has_tensor_type()) refuse(what + " is not a tensor");
  const auto& tensor_type = input->type().tensor_type();
  if (tensor_type.elem_type() != onnx::TensorProto::DOUBLE)
    refuse(what + " has element type " + type_name(tensor_type.elem_type()) +
           "; export the model in float64 (model.double())");
  if (!tensor_type.has_shape() || tensor_type.shape().dim_size() < 2)
    refuse(what + " needs a declared shape [batch, ...] of rank >= 2");
  ValueInfo info;
  info.name = input->name();
  std::uint64_t per_sample = 1;
  for (int i = 0; i < tensor_type.shape().dim_size(); ++i) {
    const auto& d = tensor_type.shape().dim(i);
    if (i == 0) {
      if (d.has_dim_value() && d.dim_value() < 1) refuse(what + " has batch extent " + std::to_string(d.dim_value()));
      info.shape.push_back(d.has_dim_value() ? d.dim_value() : -1);
      continue;
    }
    if (!d.has_dim_value() || d.dim_value() < 1)
      refuse(what + " extent " + std::to_string(i) + " must be a fixed positive number");
    const auto v = static_cast<std::uint64_t>(d.dim_value());
    if (per_sample > kMaxElements / v) refuse(what + " declares more than " + std::to_string(kMaxElements) + " elements per sample");
    per_sample *= v;
    info.shape.push_back(d.dim_value());
  }
  return info;
}

std::string graph_output(const onnx::GraphProto& g) {
  if (g.output_size() != 1) refuse("the graph must have exactly one output (the logits), it has " + std::to_string(g.output_size()));
  const auto& out = g.output(0);
  if (out.type().has_tensor_type()) {
    const auto& tt = out.type().tensor_type();
    if (tt.elem_type() != onnx::TensorProto::DOUBLE)
      refuse("output '" + out.name() + "' has element type " + type_name(tt.elem_type()) + "; export in float64");
    if (tt.has_shape() && tt.shape().dim_size() != 2)
      refuse("output '" + out.name() + "' has rank " + std::to_string(tt.shape().dim_size()) + "; the loss reads [batch, k]");
  }
  return out.name();
}

}  // namespace

const std::vector<std::string>& supported_op_types() {
  static const std::vector<std::string> ops = {
      "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Neg", "Reciprocal", "Conv",
      "BatchNormalization", "LayerNormalization", "Relu", "LeakyRelu", "Tanh", "Sigmoid", "Softplus", "Erf", "Exp",
      "Log", "Softmax", "LogSoftmax", "MaxPool", "AveragePool", "GlobalAveragePool", "ReduceMean", "Flatten",
      "Reshape", "Transpose", "Concat", "Slice", "Gather", "Split", "Identity", "Dropout", "Constant", "Shape",
      "Unsqueeze", "Squeeze", "Cast", "Expand", "Pad", "ConstantOfShape", "Equal", "Where", "Range"};
  return ops;
}

GraphIR import_onnx(std::string_view bytes, const OnnxImportOptions& options) {
  if (bytes.empty()) refuse("no bytes");
  if (bytes.size() > kMaxOnnxBytes || bytes.size() > static_cast<std::size_t>(INT_MAX))
    refuse(std::to_string(bytes.size()) + " bytes is larger than the " + std::to_string(kMaxOnnxBytes) + " accepted");
  onnx::ModelProto model;
  if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    refuse("the bytes are not a valid ModelProto (truncated or not ONNX)");
  if (!model.has_graph()) refuse("no graph");
  GraphIR ir;
  ir.opset = default_opset(model);
  check_structure(model);
  std::set<std::string> initializer_names;
  for (const auto& t : model.graph().initializer())
    if (!initializer_names.insert(t.name()).second) refuse("initializer '" + t.name() + "' appears twice");
  ir.input = data_input(model.graph(), initializer_names);  // element type and sizes before shape inference
  ir.output = graph_output(model.graph());
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    std::string message = e.what();
    std::replace(message.begin(), message.end(), '\n', ' ');
    refuse("the ONNX checker refused it: " + message);
  }
  try {
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type=*/true, /*strict_mode=*/1));
  } catch (const std::exception& e) {
    std::string message = e.what();
    std::replace(message.begin(), message.end(), '\n', ' ');
    refuse("shape inference failed: " + message);
  }
  const onnx::GraphProto& g = model.graph();
  for (const auto& info : g.value_info()) check_inferred_size(info);
  for (const auto& info : g.output()) check_inferred_size(info);

  std::unordered_map<std::string, const onnx::TensorProto*> initializers;
  for (const auto& t : g.initializer()) initializers.emplace(t.name(), &t);

  // Parameters and buffers by name; everything else is a constant.
  std::set<std::string> claimed;
  auto take = [&](const std::string& name, const char* role) {
    const auto it = initializers.find(name);
    if (it == initializers.end()) refuse(std::string(role) + " '" + name + "' is not an initializer of the graph");
    const int type = it->second->data_type();
    if (type != onnx::TensorProto::DOUBLE && type != onnx::TensorProto::FLOAT)
      refuse(std::string(role) + " '" + name + "' has element type " + type_name(type) + ", not floating point");
    if (!claimed.insert(name).second) refuse(std::string(role) + " '" + name + "' is named twice");
    return NamedTensor{name, convert_tensor(*it->second, std::string(role) + " '" + name + "'")};
  };
  for (const auto& name : options.buffer_names) ir.buffers.push_back(take(name, "buffer"));
  if (!options.parameter_names.empty()) {
    for (const auto& name : options.parameter_names) ir.parameters.push_back(take(name, "parameter"));
  } else {
    for (const auto& t : g.initializer())
      if (!claimed.count(t.name()) &&
          (t.data_type() == onnx::TensorProto::DOUBLE || t.data_type() == onnx::TensorProto::FLOAT))
        ir.parameters.push_back(take(t.name(), "parameter"));
  }
  for (const auto& t : g.initializer())
    if (!claimed.count(t.name())) ir.constants.push_back({t.name(), convert_tensor(t, "initializer '" + t.name() + "'")});

  ir.nodes.reserve(static_cast<std::size_t>(g.node_size()));
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto& n = g.node(i);
    Node node;
    node.name = n.name();
    node.op_type = n.op_type();
    node.inputs.assign(n.input().begin(), n.input().end());
    node.outputs.assign(n.output().begin(), n.output().end());
    for (const auto& a : n.attribute())
      if (!node.attributes.emplace(a.name(), convert_attribute(a, node_label(n, i) + " attribute '" + a.name() + "'")).second)
        refuse(node_label(n, i) + " has attribute '" + a.name() + "' twice");
    ir.nodes.push_back(std::move(node));
  }
  return ir;
}

}  // namespace saddlescope::models::graph
