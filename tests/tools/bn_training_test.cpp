// Training a graph model with batch norm in train mode through run-optimizer matches torch (issue #16
// item 3): the mini-batch statistics in the forward pass, the running statistics advanced every step as
// torch does (momentum 0.1, unbiased variance: GraphObjective::train_step_buffers), the buffers written
// with the checkpoint. The torch side is generated at test time by bn_training_reference.py (20 steps
// of torch.optim.SGD with momentum on the full batch, float64); skipped when torch is absent.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/checkpoint.h"
#include "io/hdf5.h"
#include "io/reader.h"
#include "io/result.h"
#include "support/process.h"

namespace sc = saddlescope;
using sc::testing::run_command;
using sc::testing::TempDir;

namespace {

// Runs bn_training_reference.py into `dir`: start.h5 (the CNN with batch norm, exported from torch)
// and reference.json (torch's training run from it).
sc::testing::ProcessResult make_reference(const TempDir& dir) {
  return run_command("OMP_NUM_THREADS=1 /usr/bin/python3 " SADDLESCOPE_SOURCE_DIR
                     "/tests/tools/bn_training_reference.py " + dir.file(""));
}

}  // namespace

TEST(BatchNormTraining, TwentySgdStepsOfACnnWithBatchNormMatchTorch) {
  if (!sc::testing::python_can_import("torch, h5py, onnx")) {
    if (std::getenv("CI") != nullptr) FAIL() << "CI: /usr/bin/python3 cannot import torch, h5py, onnx";
    GTEST_SKIP() << "/usr/bin/python3 cannot import torch, h5py and onnx (the torch side of this test)";
  }
  TempDir dir;
  const auto made = make_reference(dir);
  ASSERT_EQ(made.exit_code, 0) << made.err;
  std::ifstream in(dir.file("reference.json"));
  const nlohmann::json ref = nlohmann::json::parse(in);
  const std::string out = dir.file("end.h5");
  const auto r = run_command(sc::testing::tool_path("run-optimizer") + " " + dir.file("start.h5") +
                             " --optimizer sgd --lr " + ref["lr"].dump() + " --momentum " + ref["momentum"].dump() +
                             " --steps " + ref["steps"].dump() + " --out " + out + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  const auto end = sc::io::read_checkpoint(out);
  const auto params = ref["params"].get<std::vector<double>>();
  ASSERT_EQ(end.params.size(), static_cast<Eigen::Index>(params.size()));
  // Both sides do the same float64 operations in different orders (convolution and reduction order):
  // rounding differences of ~1e-16 relative, grown by 20 steps of a contracting-to-mildly-expanding map
  // of Lipschitz constant O(1), stay far below 1e-10 (the bar).
  double worst = 0.0;
  for (std::size_t i = 0; i < params.size(); ++i)
    worst = std::max(worst, std::abs(end.params(static_cast<Eigen::Index>(i)) - params[i]));
  EXPECT_LT(worst, 1e-10);
  for (const auto& [name, values] : ref["buffers"].items()) {
    const auto it = end.buffers.find(name);
    ASSERT_NE(it, end.buffers.end()) << name;
    const auto expected = values.get<std::vector<double>>();
    ASSERT_EQ(it->second.size(), static_cast<Eigen::Index>(expected.size())) << name;
    for (std::size_t i = 0; i < expected.size(); ++i)
      EXPECT_NEAR(it->second(static_cast<Eigen::Index>(i)), expected[i], 1e-10) << name << "[" << i << "]";
  }
  // The loss at step 0 is torch's first loss (the same forward pass in train mode).
  const auto summary = nlohmann::json::parse(r.out);
  EXPECT_NEAR(summary["initial_loss"].get<double>(), ref["losses"][0].get<double>(), 1e-12);
}

TEST(BatchNormTraining, ResumingFromACheckpointContinuesTheRunningStatistics) {
  if (!sc::testing::python_can_import("torch, h5py, onnx")) GTEST_SKIP() << "/usr/bin/python3 cannot import torch";
  TempDir dir;
  const auto made = make_reference(dir);
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::string tool = sc::testing::tool_path("run-optimizer"), settings = " --optimizer sgd --lr 0.02 --momentum 0.9";
  ASSERT_EQ(run_command(tool + " " + dir.file("start.h5") + settings + " --steps 6 --out " + dir.file("a.h5")).exit_code, 0);
  ASSERT_EQ(run_command(tool + " " + dir.file("start.h5") + settings + " --steps 3 --out " + dir.file("b.h5")).exit_code, 0);
  ASSERT_EQ(run_command(tool + " " + dir.file("b.h5") + settings + " --steps 3 --out " + dir.file("c.h5")).exit_code, 0);
  const auto a = sc::io::read_checkpoint(dir.file("a.h5")), c = sc::io::read_checkpoint(dir.file("c.h5"));
  EXPECT_TRUE(a.params == c.params);
  ASSERT_EQ(a.buffers.size(), 4u);
  for (const auto& [name, values] : a.buffers) EXPECT_TRUE(values == c.buffers.at(name)) << name;
  // And they moved: the start's running variance is torch's initial 1.
  const auto start = sc::io::read_checkpoint(dir.file("start.h5"));
  EXPECT_FALSE(start.buffers.at("bn1.running_var") == a.buffers.at("bn1.running_var"));
}

// loss-slice on the same graph checkpoint (issue #16 item 4): Li et al. 2018's filter normalisation
// per output filter — each output channel of a convolution weight [C_out, C_in, kh, kw] and each row of
// the linear weight gets ‖d_i‖ = ‖w_i‖ — and biases and batch-norm scales/shifts zeroed (--xignore biasbn).
TEST(ConvNetSlice, RandomDirectionsAreNormalisedPerOutputFilterAndZeroOnBiasesAndBatchNorm) {
  if (!sc::testing::python_can_import("torch, h5py, onnx")) GTEST_SKIP() << "/usr/bin/python3 cannot import torch";
  TempDir dir;
  const auto made = make_reference(dir);
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::string out = dir.file("slice.h5");
  const auto r = run_command(sc::testing::tool_path("loss-slice") + " " + dir.file("start.h5") +
                             " --dims 2 --grid 3,3 --seed 9 --xignore biasbn --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto opened = sc::io::open_saddlescope_file(out, sc::io::kResultFormat, sc::io::kResultFormatVersion);
  const Eigen::VectorXd w = sc::io::h5::read_vector(opened.handle.get(), "origin", 1000);
  for (const char* name : {"directions/d1", "directions/d2"}) {
    const Eigen::VectorXd d = sc::io::h5::read_vector(opened.handle.get(), name, 1000);
    ASSERT_EQ(d.size(), 313);
    // Layout (model.parameters() order): conv1.weight [3,1,3,3] at 0, conv1.bias 27, bn1.weight 30,
    // bn1.bias 33, conv2.weight [2,3,3,3] at 36, bn2.weight 90, bn2.bias 92, fc.weight [3,72] at 94,
    // fc.bias 310.
    struct Filters {
      Eigen::Index offset, count, size;
    };
    for (const Filters f : {Filters{0, 3, 9}, Filters{36, 2, 27}, Filters{94, 3, 72}})
      for (Eigen::Index i = 0; i < f.count; ++i) {
        const Eigen::Index at = f.offset + i * f.size;
        // d_i·‖w_i‖/(‖d_i‖ + 1e-10): relative deviation 1e-10/‖d_i‖ ≤ 1e-10/0.1 for Gaussian d_i of ≥ 9
        // entries (‖d_i‖ ≈ 3 or more); 1e-8 leaves margin.
        EXPECT_NEAR(d.segment(at, f.size).norm(), w.segment(at, f.size).norm(), 1e-8 * w.segment(at, f.size).norm())
            << name << " filter at " << at;
      }
    for (const Filters z : {Filters{27, 1, 9}, Filters{90, 1, 4}, Filters{310, 1, 3}})
      EXPECT_EQ(d.segment(z.offset, z.size).norm(), 0.0) << name << " at " << z.offset;
  }
}
