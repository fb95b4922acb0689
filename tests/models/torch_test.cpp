// Round trip through PyTorch: models exported with tools/export_torch.py are read back as checkpoints,
// and their loss, gradient, block HVPs and dense Hessian are compared with torch's autograd
// (tests/models/torch_reference.py). Skipped when /usr/bin/python3 cannot import torch.
//
// Tolerance 1e-10 relative (the acceptance figure): both sides evaluate the same float64
// formulas in a different order, so they agree to a few hundred ulps (~1e-13); a wrong term would show
// as O(1).
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>

#include "io/hdf5.h"
#include "problem/problem.h"
#include "support/matrices.h"
#include "support/python_reference.h"

namespace {

using namespace saddlescope;
using saddlescope::testing::relative;

constexpr double kTolerance = 1e-10;

class TorchRoundTrip : public saddlescope::testing::PythonReferenceSuite<TorchRoundTrip> {
 public:
  static constexpr const char* kScript = "tests/models/torch_reference.py";
  static constexpr const char* kModules = "torch, h5py";
};

// One test (the reference script takes seconds to import torch; CTest runs each test in its own process).
TEST_F(TorchRoundTrip, ExportedModelsMatchAutogradAndClassifyCritical) {
  io::h5::Handle file = io::h5::open_file((dir() / "reference.h5").string());
  int cases = 0;
  double worst = 0.0;  // largest relative deviation seen, recorded for the report
  for (const char* activation : {"identity", "tanh", "sigmoid", "relu", "leaky_relu", "softplus", "gelu"})
    for (const char* loss : {"mse", "cross_entropy", "logistic"}) {
      const std::string name = std::string(activation) + "_" + loss;
      SCOPED_TRACE(name);
      io::h5::Handle group = io::h5::open_group(file.get(), name);
      const problem::Problem p = problem::load_checkpoint_problem(io::h5::read_string_attribute(group.get(), "checkpoint"));
      const double torch_value = io::h5::read_double_attribute(group.get(), "loss_value");
      const Eigen::VectorXd torch_gradient = io::h5::read_vector(group.get(), "gradient", 1 << 20);
      const Eigen::MatrixXd V = io::h5::read_matrix(group.get(), "V", 1 << 20).transpose();  // [n, m]
      const Eigen::MatrixXd torch_HV = io::h5::read_matrix(group.get(), "HV", 1 << 20).transpose();
      const Eigen::MatrixXd torch_H = io::h5::read_matrix(group.get(), "hessian", 1 << 20);
      Eigen::VectorXd gradient;
      const double value = p.objective->gradient(p.point, gradient);
      EXPECT_LE(std::abs(value - torch_value), kTolerance * std::abs(torch_value));
      EXPECT_LE(relative(gradient, torch_gradient), kTolerance);
      Eigen::MatrixXd HV, H;
      p.objective->hessian_vector_product(p.point, V, HV);  // one block of 4 vectors
      EXPECT_LE(relative(HV, torch_HV), kTolerance);
      p.objective->hessian(p.point, H);
      EXPECT_LE(relative(H, torch_H), kTolerance);
      worst = std::max({worst, std::abs(value - torch_value) / std::abs(torch_value), relative(gradient, torch_gradient),
                        relative(HV, torch_HV), relative(H, torch_H)});
      ++cases;
    }
  EXPECT_EQ(cases, 21);
  {
    char text[32];
    std::snprintf(text, sizeof text, "%.3e", worst);
    RecordProperty("worst_relative_deviation", text);
  }
  // A deep linear network (no biases, consecutive Linear layers) too.
  io::h5::Handle group = io::h5::open_group(file.get(), "deep_linear_mse");
  const problem::Problem p = problem::load_checkpoint_problem(io::h5::read_string_attribute(group.get(), "checkpoint"));
  Eigen::MatrixXd H;
  p.objective->hessian(p.point, H);
  EXPECT_LE(relative(H, io::h5::read_matrix(group.get(), "hessian", 1 << 20)), kTolerance);

  // An unsupported module is refused by name, and nothing is written.
  const std::string message = io::h5::read_string_attribute(file.get(), "unsupported_message");
  EXPECT_NE(message.find("Dropout"), std::string::npos) << message;
  EXPECT_EQ(io::h5::read_int_attribute(file.get(), "bad_file_exists"), 0);

  // End to end: classify-critical (the real executable) on an exported model; its eigenvalues are
  // torch's (torch.linalg.eigvalsh of torch.autograd.functional.hessian).
  group = io::h5::open_group(file.get(), "e2e_tanh_cross_entropy");
  const std::string checkpoint = io::h5::read_string_attribute(group.get(), "checkpoint");
  const Eigen::VectorXd torch_eigenvalues = io::h5::read_vector(group.get(), "eigenvalues", 1 << 20);
  const auto run = saddlescope::testing::run_command(saddlescope::testing::tool_path("classify-critical") + " " +
                                                     checkpoint + " --json --show 1000");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const nlohmann::json summary = nlohmann::json::parse(run.out);
  const auto ours = summary.at("eigenvalues_smallest").get<std::vector<double>>();
  ASSERT_EQ(static_cast<Eigen::Index>(ours.size()), torch_eigenvalues.size());
  // Eigenvalues of matrices equal to 1e-10 relative (previous test) differ by at most ‖ΔH‖₂ (Weyl).
  const double scale = torch_eigenvalues.cwiseAbs().maxCoeff();
  for (std::size_t i = 0; i < ours.size(); ++i)
    EXPECT_NEAR(ours[i], torch_eigenvalues[static_cast<Eigen::Index>(i)], kTolerance * scale) << i;
  EXPECT_EQ(summary.at("n").get<int>(), torch_eigenvalues.size());
}

}  // namespace
