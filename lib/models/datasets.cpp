#include "models/datasets.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <numbers>
#include <stdexcept>

#include "io/error.h"
#include "objective/spec_options.h"
#include "random/random.h"

namespace saddlescope::models {
namespace {

constexpr std::int64_t kMaxSyntheticSamples = 1000000;

void check_samples(std::int64_t samples) {
  if (samples < 1 || samples > kMaxSyntheticSamples)
    throw std::invalid_argument("data 'n' = " + std::to_string(samples) + " must be in [1, " +
                                std::to_string(kMaxSyntheticSamples) + "]");
}
void check_noise(double noise) {
  if (!(noise >= 0) || !std::isfinite(noise))
    throw std::invalid_argument("data 'noise' = " + std::to_string(noise) + " must be finite and >= 0");
}

// The frame of the planar toys (two spirals, XOR): two features and one label per sample, row i drawn
// by `row(i, rng)` from the one stream (seed, 0), rows in order (so the draws, and the bits, are those
// of a loop written out in each generator).
struct PlanarRow {
  double x0, x1, label;
};
template <class Row>
io::DataArrays planar(std::int64_t samples, double noise, std::uint64_t seed, Row row) {
  check_samples(samples);
  check_noise(noise);
  random::Rng rng(seed, 0);
  io::DataArrays d;
  d.X.resize(samples, 2);
  d.y.resize(samples, 1);
  for (Index i = 0; i < samples; ++i) {
    const PlanarRow r = row(i, rng);
    d.X(i, 0) = r.x0;
    d.X(i, 1) = r.x1;
    d.y(i, 0) = r.label;
  }
  return d;
}

}  // namespace

io::DataArrays teacher_student(std::int64_t samples, const std::vector<std::int64_t>& widths, Activation activation,
                               double noise, std::uint64_t seed) {
  check_samples(samples);
  check_noise(noise);
  NetworkOptions o;
  o.widths = widths;
  o.activation = activation;
  std::string why;
  if (!o.IsValid(&why)) throw std::invalid_argument("teacher: " + why);
  if (o.parameter_count() > 1000000) throw std::invalid_argument("teacher: more than 10^6 parameters");
  io::DataArrays d;
  d.X.resize(samples, widths.front());
  random::Rng xs(seed, 0), ns(seed, 1);
  for (Index i = 0; i < samples; ++i)
    for (Index j = 0; j < d.X.cols(); ++j) d.X(i, j) = xs.normal();
  Matrix h = d.X.transpose();
  for (std::size_t l = 1; l < widths.size(); ++l) {
    random::Rng rng(seed, 100 + l);
    Matrix W(widths[l], widths[l - 1]);
    Vector b(widths[l]);
    const double scale = 1.0 / std::sqrt(static_cast<double>(widths[l - 1]));
    for (Index r = 0; r < W.rows(); ++r)
      for (Index c = 0; c < W.cols(); ++c) W(r, c) = scale * rng.normal();
    for (Index r = 0; r < b.size(); ++r) b[r] = 0.1 * rng.normal();
    Matrix z = W * h;
    z.colwise() += b;
    if (l + 1 < widths.size())
      h = z.unaryExpr([&](double v) { return activate(activation, v, 0.01); });
    else
      h = z;
  }
  d.y = h.transpose();
  for (Index i = 0; i < d.y.rows(); ++i)
    for (Index j = 0; j < d.y.cols(); ++j) d.y(i, j) += noise * ns.normal();
  return d;
}

io::DataArrays gaussian_mixture(std::int64_t samples, std::int64_t classes, std::int64_t dim, double separation,
                                std::uint64_t seed) {
  check_samples(samples);
  if (classes < 2 || classes > 1000) throw std::invalid_argument("data 'classes' must be in [2, 1000]");
  if (dim < 1 || dim > 10000) throw std::invalid_argument("data 'dim' must be in [1, 10000]");
  if (!(separation >= 0) || !std::isfinite(separation))
    throw std::invalid_argument("data 'separation' must be finite and >= 0");
  random::Rng ms(seed, 0), xs(seed, 1);
  Matrix means(classes, dim);
  for (Index c = 0; c < classes; ++c) {
    for (Index j = 0; j < dim; ++j) means(c, j) = ms.normal();
    means.row(c) *= separation / means.row(c).norm();
  }
  io::DataArrays d;
  d.X.resize(samples, dim);
  d.y.resize(samples, 1);
  for (Index i = 0; i < samples; ++i) {
    const Index c = i % classes;
    for (Index j = 0; j < dim; ++j) d.X(i, j) = means(c, j) + xs.normal();
    d.y(i, 0) = static_cast<double>(c);
  }
  return d;
}

io::DataArrays two_spirals(std::int64_t samples, double noise, std::uint64_t seed) {
  return planar(samples, noise, seed, [noise](Index i, random::Rng& rng) {
    const Index c = i % 2;
    const double t = rng.uniform();
    const double theta = 3.0 * std::numbers::pi * t + static_cast<double>(c) * std::numbers::pi;
    const double x0 = t * std::cos(theta) + noise * rng.normal();
    const double x1 = t * std::sin(theta) + noise * rng.normal();
    return PlanarRow{x0, x1, static_cast<double>(c)};
  });
}

io::DataArrays xor_data(std::int64_t samples, double noise, std::uint64_t seed) {
  return planar(samples, noise, seed, [noise](Index, random::Rng& rng) {
    const double a = rng.rademacher(), b = rng.rademacher();
    const double x0 = a + noise * rng.normal();
    const double x1 = b + noise * rng.normal();
    return PlanarRow{x0, x1, a != b ? 1.0 : 0.0};
  });
}

io::DataArrays class_images(std::int64_t samples, std::int64_t classes, const std::vector<std::int64_t>& shape,
                            double noise, std::uint64_t seed) {
  check_samples(samples);
  check_noise(noise);
  if (classes < 2 || classes > 1000) throw std::invalid_argument("data 'classes' must be in [2, 1000]");
  if (shape.size() != 3) throw std::invalid_argument("data 'shape' must be CxHxW");
  std::int64_t pixels = 1;
  for (auto extent : shape) {
    if (extent < 1 || extent > 4096) throw std::invalid_argument("data 'shape' extents must be in [1, 4096]");
    pixels *= extent;
  }
  if (pixels > (std::int64_t{1} << 24) || samples * pixels > static_cast<std::int64_t>(io::kMaxElementsPerDataset))
    throw std::invalid_argument("data 'images' would hold more than " + std::to_string(io::kMaxElementsPerDataset) +
                                " values");
  random::Rng ts(seed, 0), xs(seed, 1);
  Matrix templates(classes, pixels);
  for (Index c = 0; c < classes; ++c)
    for (Index j = 0; j < pixels; ++j) templates(c, j) = ts.normal();
  io::DataArrays d;
  d.X.resize(samples, pixels);
  d.y.resize(samples, 1);
  for (Index i = 0; i < samples; ++i) {
    const Index c = i % classes;
    for (Index j = 0; j < pixels; ++j) d.X(i, j) = templates(c, j) + noise * xs.normal();
    d.y(i, 0) = static_cast<double>(c);
  }
  d.sample_shape = shape;
  return d;
}

bool is_synthetic_data_spec(const std::string& spec) {
  const std::string name = spec.substr(0, spec.find(':'));
  return name == "teacher" || name == "mixture" || name == "spirals" || name == "xor" || name == "images";
}

io::DataArrays synthetic_data(const std::string& spec) {
  // The one spec parser (objective/spec_options.h): unknown or repeated keys and out-of-range values
  // are refused with the key named.
  auto parsed = objective::SpecOptions::split("data spec", spec);
  const std::string& name = parsed.first;
  objective::SpecOptions& options = parsed.second;
  constexpr double kLargest = std::numeric_limits<double>::max();
  if (!is_synthetic_data_spec(spec))
    throw std::invalid_argument("unknown synthetic data set '" + name + "' (known: teacher, mixture, spirals, xor, images)");
  const std::int64_t n = options.integer("n", 200, 1, kMaxSyntheticSamples);
  const auto seed = static_cast<std::uint64_t>(options.integer("seed", 1, 0, std::numeric_limits<std::int64_t>::max()));
  io::DataArrays d;
  if (name == "teacher") {
    std::vector<std::int64_t> widths;
    const std::string text = options.text("widths", "4-8-1");
    std::size_t start = 0;
    while (true) {
      const std::size_t dash = text.find('-', start);
      const auto w = objective::parse_integer(text.substr(start, dash == std::string::npos ? std::string::npos : dash - start));
      if (!w || *w < 1) options.fail("option 'widths' = '" + text + "' must be positive integers joined by '-'");
      widths.push_back(*w);
      if (dash == std::string::npos) break;
      start = dash + 1;
    }
    const Activation activation = kActivationNames.parse(options.text("activation", "tanh"));
    const double noise = options.real("noise", 0.1, 0.0, kLargest);
    options.finish("n, widths, activation, noise, seed");
    d = teacher_student(n, widths, activation, noise, seed);
  } else if (name == "mixture") {
    const std::int64_t classes = options.integer("classes", 3, 2, 1000);
    const std::int64_t dim = options.integer("dim", 2, 1, 10000);
    const double separation = options.real("separation", 3.0, 0.0, kLargest);
    options.finish("n, classes, dim, separation, seed");
    d = gaussian_mixture(n, classes, dim, separation, seed);
  } else if (name == "spirals") {
    const double noise = options.real("noise", 0.05, 0.0, kLargest);
    options.finish("n, noise, seed");
    d = two_spirals(n, noise, seed);
  } else if (name == "xor") {
    const double noise = options.real("noise", 0.1, 0.0, kLargest);
    options.finish("n, noise, seed");
    d = xor_data(n, noise, seed);
  } else {
    std::vector<std::int64_t> shape;
    const std::string text = options.text("shape", "3x32x32");
    for (std::size_t start = 0;;) {
      const std::size_t x = text.find('x', start);
      const auto extent = objective::parse_integer(text.substr(start, x == std::string::npos ? std::string::npos : x - start));
      if (!extent || shape.size() == 3) options.fail("option 'shape' = '" + text + "' must be CxHxW, e.g. 3x32x32");
      shape.push_back(*extent);
      if (x == std::string::npos) break;
      start = x + 1;
    }
    const std::int64_t classes = options.integer("classes", 10, 2, 1000);
    const double noise = options.real("noise", 1.0, 0.0, kLargest);
    options.finish("n, classes, shape, noise, seed");
    d = class_images(n, classes, shape, noise, seed);
  }
  return d;
}

}  // namespace saddlescope::models
