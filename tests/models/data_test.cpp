// Bundled data files, model checkpoints with embedded or referenced data, and the checks that keep
// a broken or absurd checkpoint from allocating anything.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "io/checkpoint.h"
#include "io/error.h"
#include "io/hdf5.h"
#include "models/datasets.h"
#include "models/spec.h"
#include "problem/problem.h"
#include "support/process.h"

namespace {

using namespace saddlescope;
namespace fs = std::filesystem;

const std::string kData = SADDLESCOPE_SOURCE_DIR "/data/datasets";

fs::path temp_dir() {
  fs::path dir = fs::temp_directory_path() / ("saddlescope_models_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

io::Provenance test_provenance() {
  io::Provenance p;
  p.tool = "test_models";
  return p;
}

TEST(DataFiles, IrisAndDigitsHaveTheirDocumentedShape) {
  // Fisher's iris: 150 samples, 4 features, 3 classes of 50 (Fisher 1936); the UCI digits test set as
  // shipped by scikit-learn: 1797 images of 8×8 counts in 0..16, 10 classes (sklearn digits.rst).
  const io::DataArrays iris = io::read_data_file(kData + "/iris.h5", "iris");
  EXPECT_EQ(iris.X.rows(), 150);
  EXPECT_EQ(iris.X.cols(), 4);
  for (int c = 0; c < 3; ++c) EXPECT_EQ((iris.y.array() == c).count(), 50);
  const io::DataArrays digits = io::read_data_file(kData + "/digits.h5", "digits");
  EXPECT_EQ(digits.X.rows(), 1797);
  EXPECT_EQ(digits.X.cols(), 64);
  EXPECT_EQ(digits.X.minCoeff(), 0.0);
  EXPECT_EQ(digits.X.maxCoeff(), 16.0);
  EXPECT_EQ(digits.y.maxCoeff(), 9.0);
  // The recorded checksum is that of the source file, when the Debian package is installed.
  const std::string source = "/usr/lib/python3/dist-packages/sklearn/datasets/data/iris.csv";
  if (fs::exists(source)) {
    io::h5::Handle file = io::h5::open_file(kData + "/iris.h5");
    io::h5::Handle group = io::h5::open_group(file.get(), "iris");
    EXPECT_EQ(io::h5::read_string_attribute(group.get(), "sha256"), io::sha256_file(source));
    EXPECT_FALSE(io::h5::read_string_attribute(group.get(), "license").empty());
  }
  EXPECT_THROW(io::read_data_file(kData + "/iris.h5", "nope"), io::FileError);
  EXPECT_THROW(io::read_data_file(kData + "/missing.h5", "iris"), io::FileError);
}

TEST(ModelCheckpoints, ReferencedDataResolvesRelativeToTheCheckpoint) {
  const fs::path dir = temp_dir() / "ref";
  fs::create_directories(dir / "sub");
  fs::copy_file(kData + "/iris.h5", dir / "iris.h5", fs::copy_options::overwrite_existing);
  const nlohmann::json spec = {{"kind", "logistic_regression"}, {"inputs", 4}, {"classes", 3}};
  const auto net = models::make_network(spec, io::read_data_file((dir / "iris.h5").string(), "iris"));
  io::Checkpoint c;
  c.spec = net->spec();
  c.params = Eigen::VectorXd::LinSpaced(net->dim(), -0.5, 0.5);
  c.data_file = "../iris.h5";
  c.data_group = "iris";
  const std::string path = (dir / "sub" / "model.h5").string();
  io::write_checkpoint(path, c, test_provenance());
  const problem::Problem p = problem::load_checkpoint_problem(path);
  EXPECT_EQ(p.objective->value(p.point), net->value(c.params));  // same data, same parameters
  EXPECT_EQ(p.objective->sample_count(), 150);
  // A missing data file is an input-file error naming the data file.
  c.data_file = "nowhere.h5";
  io::write_checkpoint(path, c, test_provenance());
  try {
    problem::load_checkpoint_problem(path);
    ADD_FAILURE() << "expected FileError";
  } catch (const io::FileError& e) {
    EXPECT_NE(std::string(e.what()).find("nowhere.h5"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(ModelCheckpoints, AbsurdOrInconsistentSpecsAreRefusedBeforeAllocation) {
  const fs::path dir = temp_dir();
  const std::string path = (dir / "absurd.h5").string();
  io::Checkpoint c;
  c.params = Eigen::VectorXd::Ones(3);
  c.data = models::synthetic_data("xor:n=4");
  for (const nlohmann::json& spec :
       {nlohmann::json{{"kind", "mlp"}, {"widths", {1000000, 1000000}}, {"parameters", 1000001000000LL}},
        nlohmann::json{{"kind", "mlp"}, {"widths", {2, 1}}, {"loss", "logistic"}, {"parameters", 3}, {"typo", 1}},
        nlohmann::json{{"kind", "mlp"}, {"widths", {2, 2, 1}}, {"loss", "logistic"}, {"parameters", 9}},
        nlohmann::json{{"kind", "mlp"}, {"widths", {2, 1}}, {"loss", "logistic"}}}) {  // no 'parameters'
    c.spec = spec;
    io::write_checkpoint(path, c, test_provenance());
    EXPECT_THROW(problem::load_checkpoint_problem(path), io::FileError) << spec.dump();
  }
  // The consistent one loads.
  c.spec = {{"kind", "mlp"}, {"widths", {2, 1}}, {"loss", "logistic"}, {"parameters", 3}};
  io::write_checkpoint(path, c, test_provenance());
  EXPECT_EQ(problem::load_checkpoint_problem(path).objective->dim(), 3);
  fs::remove(path);
}

int run(const std::string& command) {
  const int status = std::system((command + " > /dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(MakeCheckpointTool, ModelCheckpointsAreClassified) {
  const fs::path dir = temp_dir();
  const std::string bin = SADDLESCOPE_BIN_DIR;
  const std::string out = (dir / "tool.h5").string();
  EXPECT_EQ(run(bin + "/make-checkpoint --model '{\"kind\":\"mlp\",\"widths\":[2,5,2],\"activation\":\"gelu\","
                      "\"loss\":\"cross_entropy\"}' --data spirals:n=40 --init he --seed 3 --out " + out),
            0);
  EXPECT_EQ(run(bin + "/classify-critical " + out + " --json"), 0);
  EXPECT_EQ(run(bin + "/make-checkpoint --model '{\"kind\":\"deep_linear\",\"widths\":[64,8,10]}' --data " + kData +
                "/digits.h5:digits --out " + out),
            2);  // mse needs y with 10 columns: a usage error, nothing written over the old file
  EXPECT_EQ(run(bin + "/make-checkpoint --model '{\"kind\":\"mlp\",\"widths\":[2,5,2],\"activation\":\"swish\"}' "
                      "--data xor:n=10 --out " + out),
            2);
  EXPECT_EQ(run(bin + "/make-checkpoint --model '{\"kind\":\"mlp\",\"widths\":[2,5,2]}' --data spirals:n=0 --out " + out), 2);
  EXPECT_EQ(run(bin + "/classify-critical " + out), 0);  // still the first, valid file
  fs::remove(out);
}

}  // namespace

namespace {

// The digits are 8×8 single-channel images (sklearn digits.rst), and the file says so.
TEST(DataFiles, DigitsCarryTheirImageShape) {
  const io::DataArrays digits = io::read_data_file(std::string(SADDLESCOPE_SOURCE_DIR) + "/data/datasets/digits.h5", "digits");
  EXPECT_EQ(digits.sample_shape, (std::vector<std::int64_t>{1, 8, 8}));
}

TEST(SyntheticImages, SameSeedSameBitsAndTheDocumentedLayout) {
  const io::DataArrays a = models::synthetic_data("images:n=12,classes=4,shape=3x5x6,noise=0.5,seed=7");
  const io::DataArrays b = models::synthetic_data("images:n=12,classes=4,shape=3x5x6,noise=0.5,seed=7");
  const io::DataArrays c = models::synthetic_data("images:n=12,classes=4,shape=3x5x6,noise=0.5,seed=8");
  EXPECT_EQ(a.X, b.X);
  EXPECT_EQ(a.y, b.y);
  EXPECT_NE(a.X, c.X);
  EXPECT_EQ(a.X.cols(), 3 * 5 * 6);
  EXPECT_EQ(a.sample_shape, (std::vector<std::int64_t>{3, 5, 6}));
  for (Eigen::Index i = 0; i < a.X.rows(); ++i) EXPECT_EQ(a.y(i, 0), static_cast<double>(i % 4));
  // Samples of one class share the template: with noise 0 they are identical, other classes differ.
  const io::DataArrays clean = models::synthetic_data("images:n=8,classes=4,shape=1x4x4,noise=0,seed=1");
  EXPECT_EQ(clean.X.row(0), clean.X.row(4));
  EXPECT_NE(clean.X.row(0), clean.X.row(1));
  EXPECT_THROW(models::synthetic_data("images:n=4,shape=3x32"), std::invalid_argument);
  EXPECT_THROW(models::synthetic_data("images:n=100000,shape=3x4096x4096"), std::invalid_argument);
}

TEST(SyntheticImages, SampleShapeRoundTripsThroughACheckpoint) {
  saddlescope::testing::TempDir dir;
  io::Checkpoint c;
  c.params = Eigen::VectorXd::Ones(3);
  c.spec = {{"kind", "function"}, {"function", "rosenbrock:n=3"}};
  c.data = models::synthetic_data("images:n=4,classes=2,shape=3x4x4,seed=1");
  const char* argv[] = {"test_models"};
  io::write_checkpoint(dir.file("c.h5"), c, io::Provenance::capture("test_models", 1, argv));
  const io::Checkpoint back = io::read_checkpoint(dir.file("c.h5"));
  ASSERT_TRUE(back.data.has_value());
  EXPECT_EQ(back.data->sample_shape, (std::vector<std::int64_t>{3, 4, 4}));
  EXPECT_EQ(back.data->X, c.data->X);
}

}  // namespace
