#pragma once
// Pieces every rendering shares: the aligned "label  value" row of the human summaries, and the JSON
// forms of vectors and of numbers that may be non-finite.
#include <Eigen/Core>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace saddlescope::report {

// "  <label><spaces><value>\n", the value starting at column 25 (one space at least after a long label).
inline std::string aligned_row(const std::string& label, const std::string& value) {
  return "  " + label + std::string(label.size() < 22 ? 22 - label.size() : 1, ' ') + value + '\n';
}

inline std::vector<double> as_vector(const Eigen::VectorXd& v) { return std::vector<double>(v.data(), v.data() + v.size()); }
// The other way, for the HDF5 writers (io::h5::write_vector takes Eigen vectors).
inline Eigen::VectorXd as_eigen(const std::vector<double>& v) {
  return Eigen::Map<const Eigen::VectorXd>(v.data(), static_cast<Eigen::Index>(v.size()));
}

// JSON has no inf or nan: those become null.
inline nlohmann::json number_or_null(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(); }

}  // namespace saddlescope::report
