#pragma once
// Data sets for network objectives: deterministic synthetic generators and a reader for the bundled
// data files (data/datasets/*.h5, written by tools/convert_sklearn_data.py).
//
// Every generator is a pure function of its arguments: the same seed gives the same bits. Class labels
// are stored as doubles in one column of y (io::DataArrays), as the cross_entropy and logistic losses
// expect.
//
// ## Data files (format "saddlescope-data", format_version 1)
// Root: the provenance attributes of every saddlescope file (io/provenance.h). One group per data set,
// e.g. /iris, holding
//   X  float64 [N, d]      one row per sample
//   y  float64 [N, k]      targets (class indices for classification, in one column)
//   sample_shape int64     optional: the per-sample tensor shape of a row of X (digits: [1, 8, 8])
// and the attributes `source` (where the raw data came from), `license`, `sha256` (of the raw source
// file, hex), `description`, `classes` (int64; 0 for regression).
#include <cstdint>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "models/network.h"

namespace saddlescope::models {

// Teacher–student regression: X ~ N(0, I_d) with d = widths[0]; y = teacher(X) + noise·N(0, 1), the
// teacher an MLP of `widths` and `activation` with biases, weights ~ N(0, 1/d_in) and biases ~ N(0, 0.01).
// Streams: X uses Rng(seed, 0), the noise Rng(seed, 1), the teacher's layer l Rng(seed, 100 + l).
io::DataArrays teacher_student(std::int64_t samples, const std::vector<std::int64_t>& widths, Activation activation,
                               double noise, std::uint64_t seed);
// Gaussian mixture: sample i has class i mod `classes`; X = μ_c + N(0, I_dim), the means μ_c drawn
// once as `separation`·(unit vector uniform on the sphere), stream Rng(seed, 0); samples Rng(seed, 1).
io::DataArrays gaussian_mixture(std::int64_t samples, std::int64_t classes, std::int64_t dim, double separation,
                                std::uint64_t seed);
// Two interleaved spirals in the plane (Lang & Witbrock 1988 in spirit): class c = i mod 2, t ~ U(0,1),
// angle θ = 3π t + cπ, radius t, plus noise·N(0, I_2). Stream Rng(seed, 0).
io::DataArrays two_spirals(std::int64_t samples, double noise, std::uint64_t seed);
// XOR: corners (±1, ±1) drawn uniformly, label 1 when the signs differ, plus noise·N(0, I_2).
io::DataArrays xor_data(std::int64_t samples, double noise, std::uint64_t seed);

// Class images, CIFAR-shaped by default: sample i has class i mod `classes`; X = template_c + noise·N(0, 1)
// per pixel, the templates drawn once N(0, 1) per pixel (stream Rng(seed, 0)), the noise Rng(seed, 1).
// `shape` is C×H×W (the per-sample shape, stored as sample_shape); X holds each image flattened row-major.
io::DataArrays class_images(std::int64_t samples, std::int64_t classes, const std::vector<std::int64_t>& shape,
                            double noise, std::uint64_t seed);

// A synthetic data set from a spec string (the `--data` flag of make-checkpoint):
//   teacher:n=256,widths=4-8-1,activation=tanh,noise=0.1,seed=1
//   mixture:n=300,classes=3,dim=2,separation=3,seed=1
//   spirals:n=200,noise=0.05,seed=1
//   xor:n=100,noise=0.1,seed=1
//   images:n=128,classes=10,shape=3x32x32,noise=1,seed=1
// Throws std::invalid_argument with one line naming the bad key or value. n ≤ 10^6.
io::DataArrays synthetic_data(const std::string& spec);
bool is_synthetic_data_spec(const std::string& spec);

}  // namespace saddlescope::models
