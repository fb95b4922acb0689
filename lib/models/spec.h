#pragma once
// Network objectives from JSON specs (the /objective `spec` of a checkpoint; problem/problem.h).
//
//   {"kind": "mlp", "widths": [d_0, ..., d_L], "activation": "tanh", "loss": "cross_entropy",
//    "bias": true, "residual": false, "weight_decay": 0, "leaky_relu_slope": 0.01, "parameters": n}
//   {"kind": "deep_linear", "widths": [...], "weight_decay": 0, "parameters": n}
//        identity activations, no biases, mse loss
//   {"kind": "linear_regression", "inputs": d, "outputs": k, "bias": true, "weight_decay": 0, "parameters": n}
//        widths [d, k], mse loss
//   {"kind": "logistic_regression", "inputs": d, "classes": c, "bias": true, "weight_decay": 0, "parameters": n}
//        c = 2: one logit and the logistic loss (y ∈ {0,1}); c > 2: c logits and softmax cross-entropy
//   {"kind": "graph", "loss": "cross_entropy", "mode": "train" | "eval", "weight_decay": 0, "parameters": n,
//    "parameter_names": [...], "buffer_names": [...], "input_shape": [c, h, w]}
//        a graph model (docs/graph.md): the ONNX bytes, /buffers and data live beside the spec in the
//        checkpoint; every field is required but weight_decay (0) and buffer_names ([])
// Fields other than `kind` and the sizes are optional with the defaults shown. `parameters`, when
// present, must equal the count the sizes imply; checkpoints always carry it, so a reader compares it
// with the length of /params before allocating anything. Unknown fields are refused (a typo would
// otherwise silently change the model).
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "models/graph/engine.h"
#include "models/network.h"

namespace saddlescope::models {

// True for the kinds above.
bool is_network_kind(const std::string& kind);

// Validates every field; throws std::invalid_argument with one line naming the field, value and rule.
NetworkOptions network_options_from_spec(const nlohmann::json& spec);

// A graph spec, validated: loss and mode names, weight decay, the parameter count, names (non-empty,
// unique, no '/', at most kMaxGraphNames), the per-sample input shape (1 to 8 positive extents, at most
// io::kMaxElementsPerDataset elements). Throws std::invalid_argument naming the field, value and rule.
inline constexpr std::size_t kMaxGraphNames = 100000;
struct GraphSpec {
  graph::GraphOptions options;               // loss, weight_decay, batch_norm_mode (the field "mode")
  std::int64_t parameters = 0;               // length of the flat parameter vector
  std::vector<std::string> parameter_names;  // trainable initializers in flat-vector order
  std::vector<std::string> buffer_names;     // the /buffers datasets, one per buffer initializer
  std::vector<std::int64_t> input_shape;     // per-sample shape; X has its product as columns
};
GraphSpec graph_spec_from_json(const nlohmann::json& spec);

// network_options_from_spec + the Network constructor's data checks.
std::unique_ptr<Network> make_network(const nlohmann::json& spec, io::DataArrays data);

}  // namespace saddlescope::models
