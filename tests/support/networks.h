#pragma once
// The small classifier networks the curvature and optimizer tests build (models/network.h), on
// synthetic data whose shape follows the network.
#include <cstdint>
#include <vector>

#include "models/datasets.h"
#include "models/network.h"

namespace saddlescope::testing {

// An MLP classifier: `widths` (inputs first, classes last), cross-entropy loss, every other option at
// its default.
inline models::NetworkOptions classifier_options(std::vector<std::int64_t> widths) {
  models::NetworkOptions o;
  o.widths = std::move(widths);
  o.loss = models::Loss::cross_entropy;
  return o;
}

// The network `o` on a Gaussian mixture of `samples` points (separation 2, data seed `seed`) with one
// class per output and one coordinate per input.
inline models::Network on_gaussian_mixture(const models::NetworkOptions& o, std::int64_t samples, std::uint64_t seed) {
  return models::Network(o, models::gaussian_mixture(samples, o.widths.back(), o.widths.front(), 2.0, seed));
}

}  // namespace saddlescope::testing
