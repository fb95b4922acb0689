// Checkpoint files: round trip, atomic write, and refusal of every kind of bad file with one line
// that names the file and the problem.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "io/provenance_file.h"
#include "io/checkpoint.h"
#include "io/error.h"
#include "io/hdf5.h"
#include "io/provenance.h"
#include "support/h5_datasets.h"
#include "support/process.h"

namespace sc = saddlescope;
namespace h5 = sc::io::h5;
using sc::testing::TempDir;

namespace {

sc::io::Provenance test_provenance() {
  const char* argv[] = {"test_io", "--flag", "value with space"};
  sc::io::Provenance p = sc::io::Provenance::capture("test_io", 3, argv);
  p.seeds = {{"seed", 42}};
  return p;
}

sc::io::Checkpoint sample_checkpoint() {
  sc::io::Checkpoint c;
  c.params = Eigen::VectorXd::LinSpaced(5, -1.0, 1.0);
  c.spec = {{"kind", "function"}, {"function", "rosenbrock:n=5"}};
  sc::io::DataArrays data;
  data.X = Eigen::MatrixXd::Random(4, 3);
  data.y = Eigen::MatrixXd::Random(4, 2);
  c.data = data;
  sc::io::OptimizerState state;
  state.config = {{"optimizer", "adam"}, {"lr", 1e-3}};
  state.step = 17;
  state.buffers["exp_avg"] = Eigen::VectorXd::Constant(5, 0.25);
  c.optimizer_state = state;
  return c;
}

// Expects read_checkpoint to throw FileError whose one-line message names the file and contains
// `fragment`.
void expect_refused(const std::string& path, const std::string& fragment) {
  try {
    sc::io::read_checkpoint(path);
    ADD_FAILURE() << path << " was accepted";
  } catch (const sc::io::FileError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find(fragment), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << "message spans lines: " << message;
  }
}

TEST(Checkpoint, RoundTripKeepsEveryFieldBitForBit) {
  TempDir dir;
  const std::string path = dir.file("c.h5");
  const auto original = sample_checkpoint();
  sc::io::write_checkpoint(path, original, test_provenance());
  const auto back = sc::io::read_checkpoint(path);
  EXPECT_EQ(back.params, original.params);
  EXPECT_EQ(back.spec, original.spec);
  ASSERT_TRUE(back.data.has_value());
  EXPECT_EQ(back.data->X, original.data->X);
  EXPECT_EQ(back.data->y, original.data->y);
  ASSERT_TRUE(back.optimizer_state.has_value());
  EXPECT_EQ(back.optimizer_state->config, original.optimizer_state->config);
  EXPECT_EQ(back.optimizer_state->step, 17);
  EXPECT_EQ(back.optimizer_state->buffers.at("exp_avg"), original.optimizer_state->buffers.at("exp_avg"));
  EXPECT_EQ(back.provenance.tool, "test_io");
  EXPECT_EQ(back.provenance.command_line, "test_io --flag 'value with space'");
  EXPECT_EQ(back.provenance.seeds, nlohmann::json({{"seed", 42}}));
  EXPECT_EQ(back.provenance.created_at.size(), 20u);  // YYYY-MM-DDTHH:MM:SSZ
  EXPECT_FALSE(back.provenance.git_commit.empty());
}

TEST(Checkpoint, AtomicWriteLeavesNoTemporaryAndReplacesTheOldFile) {
  TempDir dir;
  const std::string path = dir.file("c.h5");
  auto c = sample_checkpoint();
  sc::io::write_checkpoint(path, c, test_provenance());
  c.params *= 2;
  sc::io::write_checkpoint(path, c, test_provenance());
  EXPECT_EQ(sc::io::read_checkpoint(path).params, c.params);
  int files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir.file(""))) ++files;
  EXPECT_EQ(files, 1);
}

TEST(Checkpoint, FailedWriteKeepsThePreviousFile) {
  TempDir dir;
  const std::string path = dir.file("c.h5");
  const auto c = sample_checkpoint();
  sc::io::write_checkpoint(path, c, test_provenance());
  // A checkpoint into a directory that does not exist fails, and must not touch anything else.
  EXPECT_THROW(sc::io::write_checkpoint(dir.file("missing/c.h5"), c, test_provenance()), sc::io::FileError);
  EXPECT_EQ(sc::io::read_checkpoint(path).params, c.params);
}

TEST(Checkpoint, RefusesFilesThatAreNotCheckpoints) {
  TempDir dir;
  expect_refused(dir.file("absent.h5"), "no such file");
  {
    std::ofstream(dir.file("text.h5")) << "this is not HDF5\n";
  }
  expect_refused(dir.file("text.h5"), "not an HDF5 file");

  // Truncated: a valid checkpoint cut to its first 1000 bytes (signature intact, rest missing).
  sc::io::write_checkpoint(dir.file("full.h5"), sample_checkpoint(), test_provenance());
  std::filesystem::copy_file(dir.file("full.h5"), dir.file("truncated.h5"));
  std::filesystem::resize_file(dir.file("truncated.h5"), 1000);
  expect_refused(dir.file("truncated.h5"), "cannot be opened");

  // HDF5 without our attributes (a foreign file).
  { h5::Handle f = h5::create_file(dir.file("foreign.h5")); h5::write_vector(f.get(), "params", Eigen::VectorXd::Ones(3)); }
  expect_refused(dir.file("foreign.h5"), "not a saddlescope file");

  // Another format, and a newer version of ours.
  {
    h5::Handle f = h5::create_file(dir.file("run.h5"));
    sc::io::write_provenance(f.get(), "saddlescope-run", 1, test_provenance());
  }
  expect_refused(dir.file("run.h5"), "is a 'saddlescope-run' file, expected 'saddlescope-checkpoint'");
  {
    h5::Handle f = h5::create_file(dir.file("future.h5"));
    sc::io::write_provenance(f.get(), "saddlescope-checkpoint", 99, test_provenance());
  }
  expect_refused(dir.file("future.h5"), "format_version 99");
}

// Writes a checkpoint by hand so that one piece can be wrong.
std::string write_raw(const TempDir& dir, const std::string& name, const std::function<void(hid_t)>& body) {
  const std::string path = dir.file(name);
  h5::Handle f = h5::create_file(path);
  sc::io::write_provenance(f.get(), "saddlescope-checkpoint", 1, test_provenance());
  body(f.get());
  return path;
}

void good_objective(hid_t f) {
  h5::Handle g = h5::create_group(f, "objective");
  h5::write_attribute(g.get(), "spec", std::string(R"({"kind":"function","function":"himmelblau"})"));
}

TEST(Checkpoint, RefusesWrongContents) {
  TempDir dir;
  expect_refused(write_raw(dir, "noparams.h5", good_objective), "dataset 'params' is missing");
  expect_refused(write_raw(dir, "rank2.h5",
                           [](hid_t f) {
                             h5::write_matrix(f, "params", Eigen::MatrixXd::Ones(2, 2));
                             good_objective(f);
                           }),
                 "rank 2, expected 1");
  expect_refused(write_raw(dir, "strings.h5",
                           [](hid_t f) {
                             h5::write_strings(f, "params", {"a", "b"});
                             good_objective(f);
                           }),
                 "wrong element type");
  expect_refused(write_raw(dir, "nan.h5",
                           [](hid_t f) {
                             Eigen::VectorXd p(2);
                             p << 1.0, std::nan("");
                             h5::write_vector(f, "params", p);
                             good_objective(f);
                           }),
                 "NaN or Inf");
  expect_refused(write_raw(dir, "empty.h5",
                           [](hid_t f) {
                             h5::write_vector(f, "params", Eigen::VectorXd());
                             good_objective(f);
                           }),
                 "is empty");
  expect_refused(write_raw(dir, "nospec.h5", [](hid_t f) { h5::write_vector(f, "params", Eigen::VectorXd::Ones(2)); }),
                 "group 'objective' is missing");
  expect_refused(write_raw(dir, "badjson.h5",
                           [](hid_t f) {
                             h5::write_vector(f, "params", Eigen::VectorXd::Ones(2));
                             h5::Handle g = h5::create_group(f, "objective");
                             h5::write_attribute(g.get(), "spec", std::string("{not json"));
                           }),
                 "attribute /objective/spec is not valid JSON");
  expect_refused(write_raw(dir, "rows.h5",
                           [](hid_t f) {
                             h5::write_vector(f, "params", Eigen::VectorXd::Ones(2));
                             good_objective(f);
                             h5::Handle d = h5::create_group(f, "data");
                             h5::write_matrix(d.get(), "X", Eigen::MatrixXd::Ones(4, 2));
                             h5::write_matrix(d.get(), "y", Eigen::MatrixXd::Ones(3, 1));
                           }),
                 "/data/X has 4 rows but /data/y has 3");
}

// /optimizer_state's run_step (where a resumed run continues, optim/trainer.h): optional, so files without
// it read as before; kept when written; a negative one, or one past kMaxRunSteps (whose replay on resume
// would be a hang), is refused naming the attribute.
TEST(Checkpoint, RunStepIsOptionalAndBounded) {
  TempDir dir;
  auto c = sample_checkpoint();
  sc::io::write_checkpoint(dir.file("old.h5"), c, test_provenance());
  EXPECT_FALSE(sc::io::read_checkpoint(dir.file("old.h5")).optimizer_state->run_step.has_value());
  c.optimizer_state->run_step = 23;
  sc::io::write_checkpoint(dir.file("new.h5"), c, test_provenance());
  EXPECT_EQ(sc::io::read_checkpoint(dir.file("new.h5")).optimizer_state->run_step, std::optional<std::int64_t>(23));
  expect_refused(write_raw(dir, "negative.h5",
                           [](hid_t f) {
                             h5::write_vector(f, "params", Eigen::VectorXd::Ones(2));
                             good_objective(f);
                             h5::Handle g = h5::create_group(f, "optimizer_state");
                             h5::write_attribute(g.get(), "config", std::string(R"({"optimizer":"sgd"})"));
                             h5::write_attribute(g.get(), "step", std::int64_t{3});
                             h5::write_attribute(g.get(), "run_step", std::int64_t{-1});
                           }),
                 "/optimizer_state/run_step = -1 must be in [0, 2147483647]");
  expect_refused(write_raw(dir, "huge.h5",
                           [](hid_t f) {
                             h5::write_vector(f, "params", Eigen::VectorXd::Ones(2));
                             good_objective(f);
                             h5::Handle g = h5::create_group(f, "optimizer_state");
                             h5::write_attribute(g.get(), "config", std::string(R"({"optimizer":"sgd"})"));
                             h5::write_attribute(g.get(), "step", std::int64_t{1} << 62);
                           }),
                 "/optimizer_state/step = 4611686018427387904 exceeds 2147483647");
}

TEST(Checkpoint, RefusesAbsurdSizesBeforeAllocating) {
  // A dataset whose dataspace claims 2^40 elements, stored without allocation (HDF5 allocates
  // chunked/late storage lazily): the reader must refuse it from the shape alone.
  TempDir dir;
  const std::string path = write_raw(dir, "huge.h5", [](hid_t f) {
    const h5::Handle d = sc::testing::create_unwritten_dataset(f, "params", {hsize_t{1} << 40}, {1024});
    ASSERT_TRUE(d.valid());
    good_objective(f);
  });
  expect_refused(path, "more than the");
}

TEST(Sha256, PublishedTestVectors) {
  // FIPS 180-2, Appendix B.1 and B.2.
  EXPECT_EQ(sc::io::sha256_hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  EXPECT_EQ(sc::io::sha256_hex(two_blocks.data(), two_blocks.size()),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sc::io::sha256_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Provenance, ShellJoinQuotesOnlyWhatNeedsIt) {
  const char* argv[] = {"tool", "--at=-1,2", "it's", "", "a b"};
  EXPECT_EQ(sc::io::shell_join(5, argv), "tool --at=-1,2 'it'\\''s' '' 'a b'");
}

}  // namespace
