// End-to-end tests of per-block curvature in the tools (issue #16 item 1): hessian-spectrum --block and
// --per-layer, classify-critical --block, loss-slice --block and --xignore, run as real executables.
//
// The fixture is mlp[4,8,3] tanh cross_entropy with weight decay λ = 0.01 on the bundled iris data at
// θ = 0 (make-checkpoint --init zeros). There every block's curvature is known in closed form:
//   - hidden activations h = tanh(0) = 0 and the output is b2 = 0, so softmax p = 1/3 for every sample;
//     iris has 50 samples per class, so the mean of p − y is 0 and with λθ = 0 the gradient is 0 (to
//     rounding): θ = 0 is a critical point;
//   - the loss depends on (W1, b1) only through W2·h, so with W2 = 0 the layer-1 block is λI (the decay,
//     biases included: models/network.h): λ_min = λ_max = λ, trace = 40λ;
//   - the layer-2 block: W2 enters through W2·h with h = 0, so W2 contributes λI; b2 contributes the mean
//     softmax Hessian diag(p) − ppᵀ (eigenvalues 1/3, 1/3, 0) plus λI, and W2–b2 cross terms carry h = 0.
//     So λ_min = λ, λ_max = 1/3 + λ, trace = 27λ + 2/3;
//   - the block {layer1.weight, layer2.weight} is [[λI, C], [Cᵀ, λI]] (C the mixed W1–W2 derivative,
//     nonzero: the class means of x differ), whose eigenvalues are λ ± σ_k(C): λ_min + λ_max = 2λ exactly
//     and λ_min < 0 — a strict saddle of that block, although each layer's own block is positive definite.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "io/hdf5.h"
#include "io/reader.h"
#include "io/result.h"
#include "support/process.h"
#include "support/tool_runs.h"

namespace sc = saddlescope;
using sc::testing::run_command;
using sc::testing::run_json;
using sc::testing::TempDir;

namespace {

constexpr double kDecay = 0.01;
// Every value below is a sum of at most 150 samples' O(1) terms or a dense symmetric eigenvalue of a
// 67×67 matrix with norm < 10: rounding stays below ~1e-13; 1e-11 leaves two orders of margin.
constexpr double kTol = 1e-11;

std::string tool(const std::string& name) { return sc::testing::tool_path(name); }

// mlp[4,8,3] at θ = 0 on iris (see the header comment); parameters: layer1.weight [0, 32),
// layer1.bias [32, 40), layer2.weight [40, 64), layer2.bias [64, 67).
std::string zero_mlp_checkpoint(const TempDir& dir) {
  return sc::testing::iris_mlp_checkpoint(dir.file("zero_mlp.h5"), "[4,8,3]", "0.01", "--init zeros");
}

}  // namespace

TEST(BlockTools, HessianSpectrumPerLayerTableMatchesTheClosedForm) {
  TempDir dir;
  const std::string ckpt = zero_mlp_checkpoint(dir);
  const std::string out = dir.file("spectrum.h5");
  const auto j = run_json(tool("hessian-spectrum") + " " + ckpt + " --method dense --per-layer --out " + out);
  ASSERT_EQ(j["layers"].size(), 2u);
  const auto& l1 = j["layers"][0];
  const auto& l2 = j["layers"][1];
  EXPECT_EQ(l1["name"], "layer1");
  EXPECT_EQ(l1["size"], 40);
  EXPECT_TRUE(l1["exact"].get<bool>());
  EXPECT_NEAR(l1["lambda_min"].get<double>(), kDecay, kTol);
  EXPECT_NEAR(l1["lambda_max"].get<double>(), kDecay, kTol);
  EXPECT_NEAR(l1["trace"].get<double>(), 40 * kDecay, kTol);
  EXPECT_EQ(l2["name"], "layer2");
  EXPECT_EQ(l2["size"], 27);
  EXPECT_NEAR(l2["lambda_min"].get<double>(), kDecay, kTol);
  EXPECT_NEAR(l2["lambda_max"].get<double>(), 1.0 / 3.0 + kDecay, kTol);
  EXPECT_NEAR(l2["trace"].get<double>(), 27 * kDecay + 2.0 / 3.0, kTol);
  // The layers tile the parameters, so their traces sum to the whole Hessian's (exact on the dense path).
  EXPECT_NEAR(l1["trace"].get<double>() + l2["trace"].get<double>(), j["trace"].get<double>(), kTol);

  // The same table in the result file.
  auto opened = sc::io::open_saddlescope_file(out, sc::io::kResultFormat, sc::io::kResultFormatVersion);
  sc::io::h5::Handle layers = sc::io::h5::open_group(opened.handle.get(), "layers");
  const Eigen::VectorXd trace = sc::io::h5::read_vector(layers.get(), "trace", 10);
  ASSERT_EQ(trace.size(), 2);
  EXPECT_EQ(trace(0), l1["trace"].get<double>());
  EXPECT_EQ(trace(1), l2["trace"].get<double>());
}

TEST(BlockTools, HessianSpectrumBlockIsTheDiagonalBlockWithEmbeddedEigenvectors) {
  TempDir dir;
  const std::string ckpt = zero_mlp_checkpoint(dir);
  const std::string out = dir.file("block.h5");
  const auto full = run_json(tool("hessian-spectrum") + " " + ckpt + " --method dense --top 1 --bottom 1");
  const auto block = run_json(tool("hessian-spectrum") + " " + ckpt +
                              " --method dense --top 1 --bottom 1 --eigenvectors --block 'layer*.weight' --out " + out);
  EXPECT_EQ(block["n"], 56);
  EXPECT_EQ(block["blocks"]["names"], nlohmann::json({"layer1.weight", "layer2.weight"}));
  const double lo = block["lambda_min"], hi = block["lambda_max"];
  // [[λI, C], [Cᵀ, λI]]: eigenvalues λ ± σ_k(C).
  EXPECT_NEAR(lo + hi, 2 * kDecay, kTol);
  EXPECT_LT(lo, 0.0);
  // Cauchy interlacing: a principal submatrix's spectrum lies inside the whole one's.
  EXPECT_GE(lo, full["lambda_min"].get<double>() - kTol);
  EXPECT_LE(hi, full["lambda_max"].get<double>() + kTol);
  // Trace of the weight blocks: 56λ (both weight blocks' diagonals are λ, the cross block is off-diagonal).
  EXPECT_NEAR(block["trace"].get<double>(), 56 * kDecay, kTol);

  // Eigenvectors in the full space: 67 rows, exactly zero on the biases, unit norm.
  auto opened = sc::io::open_saddlescope_file(out, sc::io::kResultFormat, sc::io::kResultFormatVersion);
  sc::io::h5::Handle e = sc::io::h5::open_group(opened.handle.get(), "eigenpairs");
  const Eigen::MatrixXd v = sc::io::h5::read_matrix(e.get(), "bottom_eigenvectors", 1000);
  ASSERT_EQ(v.rows(), 67);
  ASSERT_EQ(v.cols(), 1);
  EXPECT_EQ(v.middleRows(32, 8).norm(), 0.0);
  EXPECT_EQ(v.middleRows(64, 3).norm(), 0.0);
  EXPECT_NEAR(v.norm(), 1.0, 1e-12);  // the eigensolver's unit vectors, normalised to rounding
  sc::io::h5::Handle b = sc::io::h5::open_group(opened.handle.get(), "blocks");
  EXPECT_EQ(sc::io::h5::read_int_vector(b.get(), "offset", 10), (std::vector<std::int64_t>{0, 40}));
}

TEST(BlockTools, HessianSpectrumRefusesAPatternThatMatchesNothing) {
  TempDir dir;
  const std::string ckpt = zero_mlp_checkpoint(dir);
  const auto r = run_command(tool("hessian-spectrum") + " " + ckpt + " --block 'conv*'");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(sc::testing::line_count(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("conv*"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("layer1.weight"), std::string::npos) << r.err;  // the available names are listed
}

TEST(BlockTools, ClassifyCriticalBlockVerdictFindsTheSaddleOfTheWeightBlocks) {
  TempDir dir;
  const std::string ckpt = zero_mlp_checkpoint(dir);
  const std::string out = dir.file("classify.h5");
  // Each layer's own block is positive definite (λ and 1/3 + λ above): a block minimum.
  const auto layer1 = run_json(tool("classify-critical") + " " + ckpt + " --block 'layer1.*'");
  EXPECT_EQ(layer1["verdict"], "local_minimum");
  EXPECT_TRUE(layer1["block_verdict"].get<bool>());
  // The two weight blocks together are indefinite: a strict saddle, escaping along weights only.
  const auto j = run_json(tool("classify-critical") + " " + ckpt + " --block layer1.weight,layer2.weight --out " + out);
  EXPECT_EQ(j["verdict"], "strict_saddle");
  EXPECT_EQ(j["blocks"], nlohmann::json({"layer1.weight", "layer2.weight"}));
  EXPECT_EQ(j["n"], 56);
  EXPECT_NEAR(j["lambda_min"].get<double>() + j["lambda_max"].get<double>(), 2 * kDecay, kTol);
  EXPECT_LT(j["escape"]["measured_change"].get<double>(), 0.0);
  auto opened = sc::io::open_saddlescope_file(out, sc::io::kResultFormat, sc::io::kResultFormatVersion);
  sc::io::h5::Handle c = sc::io::h5::open_group(opened.handle.get(), "classification");
  const Eigen::VectorXd v = sc::io::h5::read_vector(c.get(), "escape_direction", 1000);
  ASSERT_EQ(v.size(), 67);
  EXPECT_EQ(v.segment(32, 8).norm(), 0.0);
  EXPECT_EQ(v.segment(64, 3).norm(), 0.0);
  // The text output says it is a block verdict.
  const auto text = run_command(tool("classify-critical") + " " + ckpt + " --block layer1.weight,layer2.weight");
  EXPECT_NE(text.out.find("BLOCK VERDICT"), std::string::npos) << text.out;
}

TEST(BlockTools, LossSliceBlockDirectionIsTheFullDirectionZeroedOutsideTheBlock) {
  TempDir dir;
  // A trained point, so that filter normalisation has nonzero weights to scale by.
  const std::string ckpt = std::string(SADDLESCOPE_SOURCE_DIR) + "/data/examples/iris_mlp_minimum.h5";
  const std::string full_out = dir.file("full.h5"), block_out = dir.file("block.h5");
  ASSERT_EQ(run_command(tool("loss-slice") + " " + ckpt + " --grid 3 --seed 4 --out " + full_out).exit_code, 0);
  const auto r = run_command(tool("loss-slice") + " " + ckpt + " --grid 3 --seed 4 --block layer2.weight --out " + block_out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto read_d1 = [](const std::string& path) {
    auto opened = sc::io::open_saddlescope_file(path, sc::io::kResultFormat, sc::io::kResultFormatVersion);
    return Eigen::VectorXd(sc::io::h5::read_vector(opened.handle.get(), "directions/d1", 1000));
  };
  const Eigen::VectorXd full = read_d1(full_out), block = read_d1(block_out);
  ASSERT_EQ(block.size(), 67);
  // Drawn and filter-normalised as in the full run, then zeroed outside [40, 64): bit for bit.
  EXPECT_EQ(block.head(40).norm(), 0.0);
  EXPECT_EQ(block.tail(3).norm(), 0.0);
  EXPECT_TRUE(block.segment(40, 24) == full.segment(40, 24));
  EXPECT_GT(block.segment(40, 24).norm(), 0.0);
}

TEST(BlockTools, LossSliceXignoreBiasbnIsTheDefaultAndExcludesKeep1d) {
  TempDir dir;
  const std::string ckpt = std::string(SADDLESCOPE_SOURCE_DIR) + "/data/examples/iris_mlp_minimum.h5";
  const auto a = run_json(tool("loss-slice") + " " + ckpt + " --grid 5 --seed 2");
  const auto b = run_json(tool("loss-slice") + " " + ckpt + " --grid 5 --seed 2 --xignore biasbn");
  EXPECT_EQ(a["loss"], b["loss"]);
  const auto c = run_json(tool("loss-slice") + " " + ckpt + " --grid 5 --seed 2 --keep-1d");
  EXPECT_NE(a["loss"], c["loss"]);  // the biases move with --keep-1d, so the slice differs
  const auto r = run_command(tool("loss-slice") + " " + ckpt + " --xignore biasbn --keep-1d");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--xignore"), std::string::npos) << r.err;
  EXPECT_EQ(run_command(tool("loss-slice") + " " + ckpt + " --xignore weights").exit_code, 2);
}

// K-FAC in hessian-spectrum (issue #16 item 2). At θ = 0 of the fixture the layer-1 factor G is 0 (δ is
// back-propagated through W2 = 0) and layer 2's input ã = [h; 1] = [0; 1] is the same for every sample,
// so K-FAC's factorisation is exact (kronecker.h: exact when one factor's input is constant) and equals
// the GGN: λI on layer 1, (e eᵀ) ⊗ (diag(p) − ppᵀ) + λI on layer 2 — eigenvalues 1/3 + λ (twice) and λ
// (65 times), trace 67λ + 2/3.
TEST(BlockTools, HessianSpectrumKfacClosedFormMatchesTheGgnWhereTheFactorisationIsExact) {
  TempDir dir;
  const std::string ckpt = zero_mlp_checkpoint(dir);
  const auto k = run_json(tool("hessian-spectrum") + " " + ckpt + " --curvature kfac --top 3 --bottom 3 --compare-kfac");
  EXPECT_EQ(k["method"], "kfac-closed-form");
  EXPECT_NEAR(k["lambda_max"].get<double>(), 1.0 / 3.0 + kDecay, kTol);
  EXPECT_NEAR(k["lambda_min"].get<double>(), kDecay, kTol);
  EXPECT_NEAR(k["trace"].get<double>(), 67 * kDecay + 2.0 / 3.0, kTol);
  const auto g = run_json(tool("hessian-spectrum") + " " + ckpt + " --curvature ggn --method dense --top 3 --bottom 3");
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(k["eigenvalues_top"][i].get<double>(), g["eigenvalues_top"][i].get<double>(), kTol);
    EXPECT_NEAR(k["eigenvalues_bottom"][i].get<double>(), g["eigenvalues_bottom"][i].get<double>(), kTol);
  }
  ASSERT_EQ(k["kfac_comparison"].size(), 2u);
  for (const auto& row : k["kfac_comparison"]) {
    EXPECT_NEAR(row["kfac_trace"].get<double>(), row["exact_trace"].get<double>(), kTol) << row["name"];
    EXPECT_LT(row["relative_frobenius_error"].get<double>(), 1e-12) << row["name"];
  }
}

// Away from that point the closed form is checked against the same operator assembled from products:
// --block over every block makes hessian-spectrum decompose the K-FAC operator densely (67 products),
// an independent route to the same eigenvalues.
TEST(BlockTools, HessianSpectrumKfacClosedFormAgreesWithTheDenseOperatorAtATrainedPoint) {
  const std::string ckpt = std::string(SADDLESCOPE_SOURCE_DIR) + "/data/examples/iris_mlp_minimum.h5";
  for (const char* fisher : {"exact", "empirical"}) {
    const std::string common = tool("hessian-spectrum") + " " + ckpt + " --curvature kfac --kfac-fisher " + fisher +
                               " --top 2 --bottom 2";
    const auto closed = run_json(common);
    const auto dense = run_json(common + " --method dense --block '*'");
    EXPECT_EQ(dense["method"], "dense");
    const double scale = closed["lambda_max"].get<double>();
    // Dense symmetric eigenvalues are backward stable: errors ~ n·ε·‖K‖ ≈ 67·2.2e-16·λ_max < 1e-13·λ_max.
    for (std::size_t i = 0; i < 2; ++i) {
      EXPECT_NEAR(closed["eigenvalues_top"][i].get<double>(), dense["eigenvalues_top"][i].get<double>(), 1e-12 * scale);
      EXPECT_NEAR(closed["eigenvalues_bottom"][i].get<double>(), dense["eigenvalues_bottom"][i].get<double>(), 1e-12 * scale);
    }
    EXPECT_NEAR(closed["trace"].get<double>(), dense["trace"].get<double>(), 1e-12 * closed["trace"].get<double>());
  }
}

TEST(BlockTools, HessianSpectrumKfacRefusesObjectivesWithoutLayersAndEigenvectors) {
  auto r = run_command(tool("hessian-spectrum") + " --problem himmelblau --at 0,0 --curvature kfac");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("Kronecker"), std::string::npos) << r.err;
  const std::string ckpt = std::string(SADDLESCOPE_SOURCE_DIR) + "/data/examples/iris_mlp_minimum.h5";
  r = run_command(tool("hessian-spectrum") + " " + ckpt + " --curvature kfac --eigenvectors");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--eigenvectors"), std::string::npos) << r.err;
}
