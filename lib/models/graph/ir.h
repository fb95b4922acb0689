#pragma once
// The graph intermediate representation: what an importer (ONNX today, models/graph/onnx_import.h)
// produces and what the graph engine (models/graph/engine.h) compiles into an Objective. It is plain
// data with no dependency on protobuf, ONNX or HDF5, so the engine can be tested on graphs built in C++
// and the importer on files without running anything.
//
// ## Contract
// - Tensors are float64 or int64, dense, row-major (C order) — ONNX's and torch's layout — with a shape
//   of non-negative extents. A scalar has shape {}.
// - `nodes` are in topological order (every input of a node is a graph input, an initializer, or an
//   output of an earlier node); names are unique across values. Op types and attribute names are
//   ONNX's (https://onnx.ai/onnx/operators/, at `opset`), so the engine's op table is keyed by ONNX op
//   type; an importer does not rename.
// - `parameters` are the trainable initializers in the order of the flat parameter vector (for a torch
//   export, that of `model.parameters()`), each becoming one named parameter block (parameter_blocks()).
//   `buffers` are non-trainable state that a mode can update (batch-norm running_mean / running_var);
//   `constants` are everything else the graph reads (shape tensors, fixed weights).
// - `input` is the one data input: its shape has a leading batch extent (-1 = symbolic) followed by
//   the per-sample shape, e.g. {-1, 1, 28, 28}. The data matrix X [N, d] of the checkpoint stores each
//   sample flattened in row-major order, d = product of the per-sample shape.
// - `output` is the one value the loss reads: logits [batch, k] (cross_entropy, logistic) or predictions
//   [batch, k] (mse); the loss itself is not part of the graph (models/network.h's Loss and conventions).
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace saddlescope::models::graph {

enum class ElementType { float64, int64 };

struct Tensor {
  ElementType type = ElementType::float64;
  std::vector<std::int64_t> shape;  // row-major extents; {} for a scalar
  std::vector<double> f64;          // the values when type == float64 (size = product of shape)
  std::vector<std::int64_t> i64;    // the values when type == int64
  std::int64_t element_count() const {
    std::int64_t count = 1;
    for (auto extent : shape) count *= extent;
    return count;
  }
};

// ONNX attribute kinds that the supported ops use.
using Attribute = std::variant<std::int64_t, double, std::string, std::vector<std::int64_t>, std::vector<double>, Tensor>;

struct Node {
  std::string name;     // the node's name in the source graph (for error messages); may be empty
  std::string op_type;  // ONNX op type, e.g. "Conv", "BatchNormalization"
  std::vector<std::string> inputs;   // value names; "" marks an omitted optional input (ONNX convention)
  std::vector<std::string> outputs;  // value names; "" marks an unused optional output
  std::map<std::string, Attribute> attributes;
};

struct NamedTensor {
  std::string name;
  Tensor value;
};

struct ValueInfo {
  std::string name;
  std::vector<std::int64_t> shape;  // -1 for a symbolic extent (the batch)
};

struct GraphIR {
  std::int64_t opset = 0;  // the ONNX default-domain opset the op semantics follow
  ValueInfo input;         // the data input (see the contract above)
  std::string output;      // the value the loss reads
  std::vector<Node> nodes;
  std::vector<NamedTensor> parameters;  // trainable, in flat-vector order
  std::vector<NamedTensor> buffers;     // mode-updated state (batch-norm running statistics)
  std::vector<NamedTensor> constants;   // other initializers
};

}  // namespace saddlescope::models::graph
