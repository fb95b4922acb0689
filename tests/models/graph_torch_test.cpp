// Graph models exported from torch (tools/export_torch.py -> ONNX -> checkpoint) and read back by
// problem::load_checkpoint_problem, against torch's autograd:
// - GraphTorch.*: whole models — LeNet-5, ResNet-8 with batch norm in train and in eval mode, a one-block
//   transformer encoder and a small CNN (tools/bench/graph_models.py; references by
//   tests/models/graph_reference.py): value, gradient, a block of 16 Hessian-vector products and 16
//   Gauss–Newton products, and classify-critical's eigenvalues of the small CNN against torch's dense Hessian.
// - GraphOpsTorch.*: every supported op on its own (issue #13 Deliver 6), each inside a tiny module whose
//   parameters reach the op, over shapes and attributes drawn by a fixed seed (both batch-norm modes,
//   groups, strides, padding, dilation, broadcasting; tests/models/graph_op_reference.py): value,
//   gradient, 8 HVP and 8 GGN columns.
// Skipped when /usr/bin/python3 cannot import torch and onnx (a failure under CI).
//
// Tolerance 1e-10 relative (issue #13's acceptance figure): both sides evaluate the same float64 formulas
// in different orders (convolution by im2col GEMM against torch's direct kernels, sums over the batch
// in another order), so they agree to a few thousand ulps at most (~1e-12); a wrong term shows as O(1).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "io/hdf5.h"
#include "models/graph/onnx_import.h"
#include "problem/problem.h"
#include "support/matrices.h"
#include "support/process.h"
#include "support/python_reference.h"

namespace {

using namespace saddlescope;
using saddlescope::testing::relative;

constexpr double kTolerance = 1e-10;

// Deviations of one case from torch: value, gradient, HV block, GV block (relative, Frobenius norms).
struct Deviations {
  double value = 0.0, gradient = 0.0, hvp = 0.0, gauss_newton = 0.0;
  double worst() const { return std::max({value, gradient, hvp, gauss_newton}); }
};

// Loads the checkpoint a reference group names and compares the engine with the group's torch figures.
Deviations compare_with_torch(hid_t group) {
  const problem::Problem p = problem::load_checkpoint_problem(io::h5::read_string_attribute(group, "checkpoint"));
  const double torch_value = io::h5::read_double_attribute(group, "loss_value");
  const Eigen::VectorXd torch_gradient = io::h5::read_vector(group, "gradient", 1 << 24);
  const Eigen::MatrixXd V = io::h5::read_matrix(group, "V", 1 << 24).transpose();  // [n, m]
  const Eigen::MatrixXd torch_HV = io::h5::read_matrix(group, "HV", 1 << 24).transpose();
  const Eigen::MatrixXd torch_GV = io::h5::read_matrix(group, "GV", 1 << 24).transpose();
  Deviations d;
  EXPECT_EQ(p.objective->dim(), torch_gradient.size());
  if (p.objective->dim() != torch_gradient.size()) return {1.0, 1.0, 1.0, 1.0};
  Eigen::VectorXd gradient;
  const double value = p.objective->gradient(p.point, gradient);
  d.value = std::abs(value - torch_value) / std::abs(torch_value);
  d.gradient = relative(gradient, torch_gradient);
  Eigen::MatrixXd HV, GV;
  p.objective->hessian_vector_product(p.point, V, HV);  // one block of m directions
  d.hvp = relative(HV, torch_HV);
  EXPECT_TRUE(p.objective->has_gauss_newton());
  if (p.objective->has_gauss_newton()) {
    p.objective->gauss_newton_vector_product(p.point, V, GV);
    d.gauss_newton = relative(GV, torch_GV);
  }
  EXPECT_LE(d.value, kTolerance);
  EXPECT_LE(d.gradient, kTolerance);
  EXPECT_LE(d.hvp, kTolerance);
  EXPECT_LE(d.gauss_newton, kTolerance);
  return d;
}

std::string scientific(double x) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1e", x);
  return text;
}

class GraphTorch : public saddlescope::testing::PythonReferenceSuite<GraphTorch> {
 public:
  static constexpr const char* kScript = "tests/models/graph_reference.py";
  static constexpr const char* kModules = "torch, h5py, onnx";
};

// Every supported op in a tiny module (tests/models/graph_op_reference.py).
class GraphOpsTorch : public saddlescope::testing::PythonReferenceSuite<GraphOpsTorch> {
 public:
  static constexpr const char* kScript = "tests/models/graph_op_reference.py";
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
    worst = std::max(worst, compare_with_torch(group.get()).worst());
  }
  RecordProperty("worst_relative_deviation", scientific(worst));
}

// One test for every op case (the generator's ~80 exports dominate; CTest runs each test in its own
// process). Prints the worst deviation per op, the figures of docs/graph.md's coverage table.
TEST_F(GraphOpsTorch, EveryOpMatchesAutogradValueGradientHvpAndGaussNewton) {
  io::h5::Handle file = io::h5::open_file((dir() / "reference.h5").string());
  std::istringstream names(io::h5::read_string_attribute(file.get(), "cases"));
  std::map<std::string, std::pair<int, Deviations>> per_op;  // op -> (cases, worst of each figure)
  int cases = 0;
  for (std::string name; names >> name; ++cases) {
    io::h5::Handle group = io::h5::open_group(file.get(), name);
    const std::string op = io::h5::read_string_attribute(group.get(), "op");
    SCOPED_TRACE(name + ": " + io::h5::read_string_attribute(group.get(), "detail") + " [ONNX: " +
                 io::h5::read_string_attribute(group.get(), "onnx_ops") + "]");
    Deviations d;
    try {  // one case's refusal must not hide the others
      d = compare_with_torch(group.get());
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
      d = {1.0, 1.0, 1.0, 1.0};
    }
    auto& [count, worst] = per_op[op];
    ++count;
    worst.value = std::max(worst.value, d.value);
    worst.gradient = std::max(worst.gradient, d.gradient);
    worst.hvp = std::max(worst.hvp, d.hvp);
    worst.gauss_newton = std::max(worst.gauss_newton, d.gauss_newton);
  }
  EXPECT_GE(cases, 70) << "the generator lost cases";
  std::printf("%-24s %5s %9s %9s %9s %9s\n", "op", "cases", "value", "gradient", "HVP", "GGN");
  for (const auto& [op, entry] : per_op) {
    const Deviations& w = entry.second;
    std::printf("%-24s %5d %9s %9s %9s %9s\n", op.c_str(), entry.first, scientific(w.value).c_str(),
                scientific(w.gradient).c_str(), scientific(w.hvp).c_str(), scientific(w.gauss_newton).c_str());
    std::string key = "worst_" + op;
    for (char& ch : key) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
    RecordProperty(key, scientific(w.worst()));
  }
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
