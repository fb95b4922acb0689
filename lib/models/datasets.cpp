#include "models/datasets.h"

#include <charconv>
#include <cmath>
#include <map>
#include <numbers>
#include <stdexcept>

#include "io/error.h"
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
  check_samples(samples);
  check_noise(noise);
  random::Rng rng(seed, 0);
  io::DataArrays d;
  d.X.resize(samples, 2);
  d.y.resize(samples, 1);
  for (Index i = 0; i < samples; ++i) {
    const Index c = i % 2;
    const double t = rng.uniform();
    const double theta = 3.0 * std::numbers::pi * t + static_cast<double>(c) * std::numbers::pi;
    d.X(i, 0) = t * std::cos(theta) + noise * rng.normal();
    d.X(i, 1) = t * std::sin(theta) + noise * rng.normal();
    d.y(i, 0) = static_cast<double>(c);
  }
  return d;
}

io::DataArrays xor_data(std::int64_t samples, double noise, std::uint64_t seed) {
  check_samples(samples);
  check_noise(noise);
  random::Rng rng(seed, 0);
  io::DataArrays d;
  d.X.resize(samples, 2);
  d.y.resize(samples, 1);
  for (Index i = 0; i < samples; ++i) {
    const double a = rng.rademacher(), b = rng.rademacher();
    d.X(i, 0) = a + noise * rng.normal();
    d.X(i, 1) = b + noise * rng.normal();
    d.y(i, 0) = a != b ? 1.0 : 0.0;
  }
  return d;
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
  const std::size_t colon = spec.find(':');
  const std::string name = spec.substr(0, colon);
  std::map<std::string, std::string> kv;
  if (colon != std::string::npos) {
    std::size_t start = colon + 1;
    while (start <= spec.size()) {
      const std::size_t comma = spec.find(',', start);
      const std::string item = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      const std::size_t eq = item.find('=');
      if (eq == std::string::npos || eq == 0) throw std::invalid_argument("data spec item '" + item + "' is not key=value");
      kv[item.substr(0, eq)] = item.substr(eq + 1);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  std::map<std::string, bool> used;
  auto take = [&](const std::string& key, const std::string& fallback) {
    used[key] = true;
    auto it = kv.find(key);
    return it == kv.end() ? fallback : it->second;
  };
  auto integer = [&](const std::string& key, const std::string& fallback) {
    const std::string text = take(key, fallback);
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size())
      throw std::invalid_argument("data spec '" + key + "' = '" + text + "' is not an integer");
    return value;
  };
  auto number = [&](const std::string& key, const std::string& fallback) {
    const std::string text = take(key, fallback);
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size())
      throw std::invalid_argument("data spec '" + key + "' = '" + text + "' is not a number");
    return value;
  };
  io::DataArrays d;
  const std::int64_t n = integer("n", "200");
  const std::int64_t seed = integer("seed", "1");
  if (seed < 0) throw std::invalid_argument("data spec 'seed' must be >= 0");
  const auto useed = static_cast<std::uint64_t>(seed);
  if (name == "teacher") {
    std::vector<std::int64_t> widths;
    const std::string text = take("widths", "4-8-1");
    std::size_t start = 0;
    while (true) {
      const std::size_t dash = text.find('-', start);
      const std::string item = text.substr(start, dash == std::string::npos ? std::string::npos : dash - start);
      std::int64_t w = 0;
      const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), w);
      if (item.empty() || ec != std::errc() || end != item.data() + item.size() || w < 1)
        throw std::invalid_argument("data spec 'widths' = '" + text + "' must be positive integers joined by '-'");
      widths.push_back(w);
      if (dash == std::string::npos) break;
      start = dash + 1;
    }
    d = teacher_student(n, widths, kActivationNames.parse(take("activation", "tanh")), number("noise", "0.1"), useed);
  } else if (name == "mixture") {
    d = gaussian_mixture(n, integer("classes", "3"), integer("dim", "2"), number("separation", "3"), useed);
  } else if (name == "spirals") {
    d = two_spirals(n, number("noise", "0.05"), useed);
  } else if (name == "xor") {
    d = xor_data(n, number("noise", "0.1"), useed);
  } else if (name == "images") {
    std::vector<std::int64_t> shape;
    const std::string text = take("shape", "3x32x32");
    for (std::size_t start = 0;;) {
      const std::size_t x = text.find('x', start);
      const std::string item = text.substr(start, x == std::string::npos ? std::string::npos : x - start);
      std::int64_t extent = 0;
      const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), extent);
      if (item.empty() || ec != std::errc() || end != item.data() + item.size() || shape.size() == 3)
        throw std::invalid_argument("data spec 'shape' = '" + text + "' must be CxHxW, e.g. 3x32x32");
      shape.push_back(extent);
      if (x == std::string::npos) break;
      start = x + 1;
    }
    d = class_images(n, integer("classes", "10"), shape, number("noise", "1"), useed);
  } else {
    throw std::invalid_argument("unknown synthetic data set '" + name + "' (known: teacher, mixture, spirals, xor, images)");
  }
  for (const auto& [key, value] : kv)
    if (!used.count(key)) throw std::invalid_argument("data spec '" + name + "' has no key '" + key + "'");
  return d;
}

}  // namespace saddlescope::models
