// End-to-end tests of the classify-critical executable: verdicts, JSON, the result file, and every
// error path with its exit code (DESIGN.md: 2 usage, 3 bad input file) and one line on stderr.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "io/checkpoint.h"
#include "io/hdf5.h"
#include "io/reader.h"
#include "io/result.h"
#include "support/process.h"
#include "support/tool_runs.h"

namespace sc = saddlescope;
using sc::testing::run_command;
using sc::testing::TempDir;

namespace {

const std::string kTool = sc::testing::tool_path("classify-critical");

nlohmann::json run_json(const std::string& args) { return sc::testing::run_json(kTool + " " + args); }

void expect_error(const std::string& args, int code, const std::string& fragment) {
  sc::testing::expect_error(kTool, args, code, fragment);
}

TEST(ClassifyCriticalTool, MonkeySaddleIsDegenerate) {
  const auto j = run_json("--problem monkey_saddle --at 0,0");
  EXPECT_EQ(j["verdict"], "degenerate");
  EXPECT_EQ(j["nullity"], 2);
  EXPECT_TRUE(j["condition_number"].is_null());  // infinite: zero eigenvalues
  for (const char* key : {"verdict", "value", "grad_norm", "index", "nullity", "eigenvalues_smallest",
                          "eigenvalues_largest", "condition_number", "decided_by"})
    EXPECT_TRUE(j.contains(key)) << key;
}

TEST(ClassifyCriticalTool, HimmelblauSaddleAndMaximum) {
  // The bundled example sits at a Himmelblau saddle (data/examples/README.md).
  auto j = run_json(std::string(SADDLESCOPE_SOURCE_DIR) + "/data/examples/himmelblau_saddle.h5");
  EXPECT_EQ(j["verdict"], "strict_saddle");
  EXPECT_EQ(j["index"], 1);
  // Escape along the λ_min eigenvector decreases f, as ½ε²λ_min predicts to leading order: the
  // relative gap is O(ε·|∇³f|/|λ|) ≈ 1e-3·(24·2)/50 ≈ 1e-3.
  const double predicted = j["escape"]["predicted_change"], measured = j["escape"]["measured_change"];
  EXPECT_LT(measured, 0.0);
  EXPECT_NEAR(measured / predicted, 1.0, 5e-3);
  // The maximum, to the 17 digits Newton's method gives (see the example's README for the method).
  j = run_json("--problem himmelblau --at=-0.2708445906673476,-0.9230385564799815");
  EXPECT_EQ(j["verdict"], "local_maximum");
  EXPECT_EQ(j["index"], 2);
}

TEST(ClassifyCriticalTool, HumanSummaryNamesVerdictAndDecidingTest) {
  const auto r = run_command(kTool + " --problem saddle --at 0,0");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("verdict               strict_saddle"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("decided by"), std::string::npos);
  EXPECT_NE(r.out.find("escape direction"), std::string::npos);
}

TEST(ClassifyCriticalTool, WritesAResultFileWithProvenance) {
  TempDir dir;
  const std::string out = dir.file("result.h5");
  const std::string input = std::string(SADDLESCOPE_SOURCE_DIR) + "/data/examples/himmelblau_saddle.h5";
  const auto r = run_command(kTool + " " + input + " --out " + out + " --seed 5");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto opened = sc::io::open_saddlescope_file(out, sc::io::kResultFormat, sc::io::kResultFormatVersion);
  EXPECT_EQ(opened.header.provenance.tool, "classify-critical");
  EXPECT_NE(opened.header.provenance.command_line.find("--seed 5"), std::string::npos);
  EXPECT_EQ(opened.header.provenance.seeds["seed"], 5);
  const hid_t f = opened.handle.get();
  EXPECT_EQ(sc::io::h5::read_string_attribute(f, "input_sha256"), sc::io::sha256_file(input));
  const auto summary = nlohmann::json::parse(sc::io::h5::read_string_attribute(f, "summary"));
  EXPECT_EQ(summary["verdict"], "strict_saddle");
  sc::io::h5::Handle group = sc::io::h5::open_group(f, "classification");
  EXPECT_EQ(sc::io::h5::read_string_attribute(group.get(), "verdict"), "strict_saddle");
  EXPECT_EQ(sc::io::h5::read_vector(group.get(), "eigenvalues", 10).size(), 2);
}

TEST(ClassifyCriticalTool, UsageErrorsExitWithTwo) {
  expect_error("--no-such-flag", 2, "--no-such-flag");
  expect_error("", 2, "give a checkpoint file");
  expect_error("--problem nosuch --at 0", 2, "unknown function 'nosuch'");
  expect_error("--problem himmelblau --at 1,2,3", 2, "got 3 coordinates, the problem has 2");
  expect_error("--problem himmelblau --at 1,x", 2, "'x' is not a number");
  expect_error("--problem himmelblau", 2, "--at");
  expect_error("--problem saddle --at 0,0 --grad-tol -1", 2, "--grad-tol");
  expect_error("--problem saddle --at 0,0 --method magic", 2, "--method");
  expect_error("--problem saddle --at 0,0 --threads 0", 2, "--threads");
}

TEST(ClassifyCriticalTool, BadInputFilesExitWithThree) {
  TempDir dir;
  expect_error(dir.file("missing.h5"), 3, "no such file");
  {
    std::ofstream(dir.file("text.h5")) << "hello\n";
  }
  expect_error(dir.file("text.h5"), 3, "not an HDF5 file");
  // A result file is HDF5 of another format.
  const std::string result = dir.file("result.h5");
  ASSERT_EQ(run_command(kTool + " --problem saddle --at 0,0 --out " + result).exit_code, 0);
  expect_error(result, 3, "expected 'saddlescope-checkpoint'");
  // Params whose length differs from the objective's dimension.
  sc::io::Checkpoint c;
  c.params = Eigen::VectorXd::Zero(3);
  c.spec = {{"kind", "function"}, {"function", "himmelblau"}};
  const char* argv[] = {"test"};
  sc::io::write_checkpoint(dir.file("wrong_size.h5"), c, sc::io::Provenance::capture("test", 1, argv));
  expect_error(dir.file("wrong_size.h5"), 3, "params has 3 entries but the objective 'himmelblau' has 2");
  // A spec naming an unknown function.
  c.spec = {{"kind", "function"}, {"function", "nosuch"}};
  sc::io::write_checkpoint(dir.file("bad_spec.h5"), c, sc::io::Provenance::capture("test", 1, argv));
  expect_error(dir.file("bad_spec.h5"), 3, "unknown function 'nosuch'");
}

TEST(ClassifyCriticalTool, VersionAndHelp) {
  auto r = run_command(kTool + " --version");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("saddlescope"), std::string::npos);
  r = run_command(kTool + " --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--grad-tol"), std::string::npos);
}

}  // namespace

namespace {

// #17 item 19: `--show` larger than n was accepted silently; it is clamped to n with a one-line note,
// and the lists hold the n eigenvalues there are (himmelblau has n = 2).
TEST(ClassifyCriticalTool, ShowLargerThanTheParameterCountIsClampedWithANote) {
  const auto r = run_command(kTool + " --problem himmelblau --at 0,0 --show 10 --json");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(sc::testing::line_count(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("note: --show 10 exceeds the 2 parameters; showing 2"), std::string::npos) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["eigenvalues_smallest"].size(), 2u) << r.out;
  EXPECT_EQ(j["eigenvalues_largest"].size(), 2u) << r.out;
}

}  // namespace
