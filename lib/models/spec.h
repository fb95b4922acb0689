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
// Fields other than `kind` and the sizes are optional with the defaults shown. `parameters`, when
// present, must equal the count the sizes imply; checkpoints always carry it, so a reader compares it
// with the length of /params before allocating anything. Unknown fields are refused (a typo would
// otherwise silently change the model).
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "models/network.h"

namespace saddlescope::models {

// True for the kinds above.
bool is_network_kind(const std::string& kind);

// Validates every field; throws std::invalid_argument with one line naming the field, value and rule.
NetworkOptions network_options_from_spec(const nlohmann::json& spec);

// network_options_from_spec + the Network constructor's data checks.
std::unique_ptr<Network> make_network(const nlohmann::json& spec, io::DataArrays data);

}  // namespace saddlescope::models
