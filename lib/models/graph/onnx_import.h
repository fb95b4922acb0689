#pragma once
// ONNX import: a serialized ModelProto (the bytes torch.onnx.export writes, stored in a checkpoint's
// /objective/onnx) turned into the plain-data GraphIR (models/graph/ir.h) that the graph engine compiles.
//
// Why through Debian's ONNX library (libonnx-dev) and not a parser of our own: its protobuf classes read
// the wire format, its checker enforces the IR rules (SSA names, topological order, known ops and
// attribute types at the declared opset) and its shape inference gives every intermediate tensor's
// declared shape, which we bound before the engine allocates anything.
//
// ## What is accepted (anything else is refused with one line naming the problem)
// - One ONNX default-domain opset import, version in [kMinOpset, kMaxOpset]; no model-local functions.
// - Exactly one graph input that is not an initializer: the data input, float64, rank ≥ 2, its leading
//   extent symbolic or fixed (the batch), the others fixed (the per-sample shape). Exactly one graph output,
//   float64, rank 2 ([batch, k]).
// - Initializers of element type DOUBLE, FLOAT (widened: torch writes shape helpers in float32 only when
//   the model is not float64), INT64 or INT32 (widened), stored inline (typed fields or raw_data). External
//   data is refused (it names a file on the reader's disk). Every initializer's declared element count
//   must be ≤ io::kMaxElementsPerDataset and agree with the bytes present — checked before allocation.
// - Nodes of the default domain whose op type is in `supported_op_types()`; attributes of kind INT, FLOAT,
//   STRING, INTS, FLOATS, TENSOR. A FLOAT attribute is float32 in ONNX; torch wrote a Python double that
//   was rounded, so it is read back as the shortest decimal that round-trips the float32 (9.99999975e-06
//   → 1e-05, the eps torch used), which restores torch's double exactly whenever it had ≤ 9 significant digits.
// - Every value's inferred shape (ignoring the symbolic batch extent) holds ≤ io::kMaxElementsPerDataset
//   elements.
//
// ## Parameters, buffers, constants
// `parameter_names` (the names of torch's `model.parameters()`, in that order, which export_torch.py
// records) name the trainable initializers in flat-vector order; `buffer_names` the state that a mode
// can update (batch-norm running statistics). Every name must be a float initializer of the graph; the
// remaining initializers are constants. With no parameter names given, every float initializer that is
// not a buffer is a parameter, in the file's order (for ONNX files not written by export_torch.py).
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "models/graph/ir.h"

namespace saddlescope::models::graph {

inline constexpr std::int64_t kMinOpset = 9;
inline constexpr std::int64_t kMaxOpset = 17;  // the newest opset Debian's ONNX 1.12 knows
// Largest serialized model accepted (protobuf's own limit is 2 GiB).
inline constexpr std::size_t kMaxOnnxBytes = std::size_t{1} << 30;

struct OnnxImportOptions {
  std::vector<std::string> parameter_names;  // flat-vector order; empty: every non-buffer float initializer
  std::vector<std::string> buffer_names;
};

// ONNX op types the importer passes to the engine: those the engine compiles (models/graph/compile.cpp;
// ConstantOfShape, Equal, Where and Range only as shape arithmetic on constants).
const std::vector<std::string>& supported_op_types();

// Parses, checks and converts. Throws std::invalid_argument with one line naming the problem (op type
// and node for an unsupported op, initializer and sizes for a bad tensor, ...). Never reads a file.
GraphIR import_onnx(std::string_view bytes, const OnnxImportOptions& options);

}  // namespace saddlescope::models::graph
