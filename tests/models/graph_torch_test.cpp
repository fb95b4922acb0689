// Whole graph models exported from torch (tools/export_torch.py -> ONNX -> checkpoint) and read back by
// problem::load_checkpoint_problem: LeNet-5, ResNet-8 with batch norm in train and in eval mode, a
// one-block transformer encoder and a small CNN (tools/bench/graph_models.py). Value, gradient, a block of
// 16 Hessian-vector products and 16 Gauss–Newton products are compared with torch's autograd
// (tests/models/graph_reference.py), and classify-critical's eigenvalues of the small CNN with torch's
// dense Hessian. Skipped when /usr/bin/python3 cannot import torch and onnx (a failure under CI).
//
// Tolerance 1e-10 relative (issue #13's acceptance figure): both sides evaluate the same float64 formulas
// in different orders (convolution by im2col GEMM against torch's direct kernels, sums over the batch
// in another order), so they agree to a few thousand ulps at most (~1e-12); a wrong term shows as O(1).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "io/hdf5.h"
#include "models/graph/onnx_import.h"
#include "problem/problem.h"
#include "support/process.h"
#include "support/matrices.h"
#include "support/python_reference.h"

namespace {

using namespace saddlescope;
using saddlescope::testing::relative;

constexpr double kTolerance = 1e-10;

class GraphTorch : public saddlescope::testing::PythonReferenceSuite<GraphTorch> {
 public:
  static constexpr const char* kScript = "tests/models/graph_reference.py";
  static constexpr const char* kModules = "torch, h5py, onnx";
};

// One test for all models: the reference script dominates the time (torch import and double backward),
// and CTest runs each test in its own process.
TEST_F(GraphTorch, ExportedModelsMatchAutogradValueGradientHvpAndGaussNewton) {
  io::h5::Handle file = io::h5::open_file((dir() / "reference.h5").string());
  double worst = 0.0;
  for (const char* name : {"lenet5", "resnet8_train", "resnet8_eval", "transformer", "small_cnn"}) {
    SCOPED_TRACE(name);
    io::h5::Handle group = io::h5::open_group(file.get(), name);
    const problem::Problem p = problem::load_checkpoint_problem(io::h5::read_string_attribute(group.get(), "checkpoint"));
    const double torch_value = io::h5::read_double_attribute(group.get(), "loss_value");
    const Eigen::VectorXd torch_gradient = io::h5::read_vector(group.get(), "gradient", 1 << 24);
    const Eigen::MatrixXd V = io::h5::read_matrix(group.get(), "V", 1 << 24).transpose();  // [n, 16]
    const Eigen::MatrixXd torch_HV = io::h5::read_matrix(group.get(), "HV", 1 << 24).transpose();
    const Eigen::MatrixXd torch_GV = io::h5::read_matrix(group.get(), "GV", 1 << 24).transpose();
    ASSERT_EQ(p.objective->dim(), torch_gradient.size());
    Eigen::VectorXd gradient;
    const double value = p.objective->gradient(p.point, gradient);
    EXPECT_LE(std::abs(value - torch_value), kTolerance * std::abs(torch_value));
    EXPECT_LE(relative(gradient, torch_gradient), kTolerance);
    Eigen::MatrixXd HV, GV;
    p.objective->hessian_vector_product(p.point, V, HV);  // one block of 16 directions
    EXPECT_LE(relative(HV, torch_HV), kTolerance);
    ASSERT_TRUE(p.objective->has_gauss_newton());
    p.objective->gauss_newton_vector_product(p.point, V, GV);
    EXPECT_LE(relative(GV, torch_GV), kTolerance);
    worst = std::max({worst, std::abs(value - torch_value) / std::abs(torch_value), relative(gradient, torch_gradient),
                      relative(HV, torch_HV), relative(GV, torch_GV)});
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.3e", worst);
  RecordProperty("worst_relative_deviation", text);
}

TEST_F(GraphTorch, ClassifyCriticalOnAnExportedCnnHasTorchsDenseHessianEigenvalues) {
  io::h5::Handle file = io::h5::open_file((dir() / "reference.h5").string());
  io::h5::Handle group = io::h5::open_group(file.get(), "small_cnn");
  const std::string checkpoint = io::h5::read_string_attribute(group.get(), "checkpoint");
  const Eigen::VectorXd torch_eigenvalues = io::h5::read_vector(group.get(), "eigenvalues", 1 << 20);
  const auto r = saddlescope::testing::run_command(saddlescope::testing::tool_path("classify-critical") + " " + checkpoint + " --json --show 1000");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json summary = nlohmann::json::parse(r.out);
  const auto ours = summary.at("eigenvalues_smallest").get<std::vector<double>>();
  ASSERT_EQ(static_cast<Eigen::Index>(ours.size()), torch_eigenvalues.size());
  // Eigenvalues of symmetric matrices that agree to 1e-10 relative differ by at most ‖ΔH‖₂ (Weyl).
  const double scale = torch_eigenvalues.cwiseAbs().maxCoeff();
  for (std::size_t i = 0; i < ours.size(); ++i)
    EXPECT_NEAR(ours[i], torch_eigenvalues[static_cast<Eigen::Index>(i)], kTolerance * scale) << i;
}

// The exporter checks op types itself so that an unsupported module is refused at export; its list must
// be the importer's.
TEST_F(GraphTorch, PythonOpListIsTheImporters) {
  const auto r = saddlescope::testing::run_command("/usr/bin/python3 -c 'import sys; sys.path.insert(0, \"" SADDLESCOPE_SOURCE_DIR
                                      "/tools\"); import export_torch; print(\" \".join(export_torch.SUPPORTED_OPS))'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string out = r.out;
  std::string cpp;
  for (const auto& op : models::graph::supported_op_types()) cpp += (cpp.empty() ? "" : " ") + op;
  EXPECT_EQ(out, cpp + "\n");
}

}  // namespace
