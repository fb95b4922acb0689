// Hostile inputs against the real tools (issue #8): every bad file and every out-of-range flag must end
// in exit code 2 (usage) or 3 (bad input file), exactly one line on stderr naming the problem and the
// file or flag, no signal (exit code < 128) and no hang (each run under `timeout 30`). Runs under
// `ulimit -v` 2 GiB (outside sanitizer builds, whose shadow memory needs terabytes of address space),
// so a size claimed by a file or spec that was trusted before allocating shows up as a failure.
//
// The corpus is generated at run time into a temporary folder (BadInputCorpus below documents each
// file); nothing binary is committed.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "io/provenance_file.h"
#include "io/checkpoint.h"
#include "io/hdf5.h"
#include "io/provenance.h"
#include "support/h5_datasets.h"
#include "support/process.h"
#include "support/refusal.h"

namespace sc = saddlescope;
namespace h5 = sc::io::h5;
using sc::testing::line_count;
using sc::testing::run_command;
using sc::testing::TempDir;
using sc::testing::tool_path;
using sc::testing::expect_refusal;
using sc::testing::quote;

namespace {

sc::io::Provenance corpus_provenance() {
  const char* argv[] = {"test_hardening"};
  return sc::io::Provenance::capture("test_hardening", 1, argv);
}

void write_spec(hid_t f, const std::string& spec) {
  h5::Handle g = h5::create_group(f, "objective");
  h5::write_attribute(g.get(), "spec", spec);
}

const char* kHimmelblau = R"({"kind":"function","function":"himmelblau"})";

// The corpus: file name -> what is wrong with it. Built once per test program.
class BadInputCorpus : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    // Not HDF5 at all; empty; a valid checkpoint cut short (signature intact, the rest missing).
    { std::ofstream(file("text.h5")) << "this is not HDF5\n"; }
    { std::ofstream(file("empty.h5")); }
    sc::io::Checkpoint good;
    good.params = Eigen::Vector2d(3.0, 2.0);
    good.spec = nlohmann::json::parse(kHimmelblau);
    sc::io::write_checkpoint(file("good.h5"), good, corpus_provenance());
    for (int cut : {100, 1000, 2000}) {
      const std::string t = file("truncated" + std::to_string(cut) + ".h5");
      std::filesystem::copy_file(file("good.h5"), t);
      std::filesystem::resize_file(t, cut);
    }
    // HDF5 without our attributes; another format; a newer format_version.
    raw("foreign.h5", "", 0, [](hid_t f) { h5::write_vector(f, "params", Eigen::VectorXd::Ones(2)); });
    raw("runlog.h5", "saddlescope-run", 1, [](hid_t f) { h5::write_vector(f, "params", Eigen::VectorXd::Ones(2)); });
    raw("future.h5", "saddlescope-checkpoint", 99, [](hid_t f) {
      h5::write_vector(f, "params", Eigen::VectorXd::Ones(2));
      write_spec(f, kHimmelblau);
    });
    // Missing pieces.
    ck("noparams.h5", [](hid_t f) { write_spec(f, kHimmelblau); });
    ck("noobjective.h5", [](hid_t f) { h5::write_vector(f, "params", Eigen::VectorXd::Ones(2)); });
    ck("nospec.h5", [](hid_t f) {
      h5::write_vector(f, "params", Eigen::VectorXd::Ones(2));
      h5::Handle g = h5::create_group(f, "objective");
    });
    // Wrong dtypes and shapes.
    ck("rank2.h5", [](hid_t f) {
      h5::write_matrix(f, "params", Eigen::MatrixXd::Ones(2, 2));
      write_spec(f, kHimmelblau);
    });
    ck("strings.h5", [](hid_t f) {
      h5::write_strings(f, "params", {"a", "b"});
      write_spec(f, kHimmelblau);
    });
    // (Integer arrays are accepted where float64 is expected: they convert exactly, io/hdf5.h.)
    ck("params_scalar.h5", [](hid_t f) {
      h5::Handle space(H5Screate(H5S_SCALAR), H5Sclose);
      h5::Handle d(H5Dcreate2(f, "params", H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
      write_spec(f, kHimmelblau);
    });
    ck("data_not_group.h5", [](hid_t f) {
      h5::write_vector(f, "params", Eigen::VectorXd::Ones(2));
      write_spec(f, kHimmelblau);
      h5::write_vector(f, "data", Eigen::VectorXd::Ones(3));
    });
    raw("format_int.h5", "", 0, [](hid_t f) {
      h5::write_attribute(f, "format", std::int64_t{3});
      h5::write_attribute(f, "format_version", std::int64_t{1});
      h5::write_vector(f, "params", Eigen::VectorXd::Ones(2));
      write_spec(f, kHimmelblau);
    });
    raw("version_string.h5", "", 0, [](hid_t f) {
      h5::write_attribute(f, "format", std::string("saddlescope-checkpoint"));
      h5::write_attribute(f, "format_version", std::string("1"));
      h5::write_vector(f, "params", Eigen::VectorXd::Ones(2));
      write_spec(f, kHimmelblau);
    });
    ck("params_group.h5", [](hid_t f) {
      h5::Handle g = h5::create_group(f, "params");
      write_spec(f, kHimmelblau);
    });
    ck("spec_int.h5", [](hid_t f) {
      h5::write_vector(f, "params", Eigen::VectorXd::Ones(2));
      h5::Handle g = h5::create_group(f, "objective");
      h5::write_attribute(g.get(), "spec", std::int64_t{7});
    });
    // Length of params differs from the model's size (a test function, and a network).
    ck("length.h5", [](hid_t f) {
      h5::write_vector(f, "params", Eigen::VectorXd::Ones(3));
      write_spec(f, kHimmelblau);
    });
    ck("mlp_length.h5", [](hid_t f) {
      h5::write_vector(f, "params", Eigen::VectorXd::Ones(5));
      write_spec(f, R"({"kind":"mlp","widths":[2,3,2],"parameters":17})");
      h5::Handle d = h5::create_group(f, "data");
      h5::write_matrix(d.get(), "X", Eigen::MatrixXd::Ones(4, 2));
      h5::write_matrix(d.get(), "y", Eigen::MatrixXd::Zero(4, 1));
    });
    // NaN / Inf in params and in data.
    ck("nan.h5", [](hid_t f) {
      h5::write_vector(f, "params", Eigen::Vector2d(1.0, std::nan("")));
      write_spec(f, kHimmelblau);
    });
    ck("inf.h5", [](hid_t f) {
      h5::write_vector(f, "params", Eigen::Vector2d(std::numeric_limits<double>::infinity(), 1.0));
      write_spec(f, kHimmelblau);
    });
    ck("nan_data.h5", [](hid_t f) {
      h5::write_vector(f, "params", Eigen::VectorXd::Ones(17));
      write_spec(f, R"({"kind":"mlp","widths":[2,3,2],"parameters":17})");
      h5::Handle d = h5::create_group(f, "data");
      Eigen::MatrixXd X = Eigen::MatrixXd::Ones(4, 2);
      X(2, 1) = std::nan("");
      h5::write_matrix(d.get(), "X", X);
      h5::write_matrix(d.get(), "y", Eigen::MatrixXd::Zero(4, 1));
    });
    // Absurd sizes: a network spec claiming 10^12 parameters; a test function of dimension 10^12; a
    // dataspace of 2^40 elements stored lazily (no bytes on disk).
    ck("absurd_mlp.h5", [](hid_t f) {
      h5::write_vector(f, "params", Eigen::VectorXd::Ones(3));
      write_spec(f, R"({"kind":"mlp","widths":[1000000,1000000],"bias":false,"parameters":1000000000000})");
      h5::Handle d = h5::create_group(f, "data");
      h5::write_matrix(d.get(), "X", Eigen::MatrixXd::Ones(2, 3));
      h5::write_matrix(d.get(), "y", Eigen::MatrixXd::Zero(2, 1));
    });
    ck("absurd_function.h5", [](hid_t f) {
      h5::write_vector(f, "params", Eigen::VectorXd::Ones(3));
      write_spec(f, R"({"kind":"function","function":"quadratic:n=1000000000000"})");
    });
    ck("absurd_dataspace.h5", [](hid_t f) {
      const h5::Handle d = sc::testing::create_unwritten_dataset(f, "params", {hsize_t{1} << 40}, {1024});
      write_spec(f, kHimmelblau);
    });
    // Malformed and hostile specs.
    for (const auto& [name, spec] : std::vector<std::pair<std::string, std::string>>{
             {"json_broken.h5", "{\"kind\": \"function\", \"function\": "},
             {"json_array.h5", "[1, 2]"},
             {"json_kind_unknown.h5", R"({"kind":"transformer"})"},
             {"json_kind_number.h5", R"({"kind":3})"},
             {"json_function_unknown.h5", R"({"kind":"function","function":"no_such_function"})"},
             {"json_deep.h5", std::string(20000, '[') + std::string(20000, ']')},
             {"json_nonutf8.h5", "{\"kind\":\"function\",\"function\":\"\xff\xfe\xc3\"}"},
             {"json_newline.h5", "{\"kind\":\"function\",\"function\":\"himmel\\nblau\\r\\u001b[31m\"}"},
             {"json_widths_negative.h5", R"({"kind":"mlp","widths":[2,-3,2]})"},
             {"json_widths_float.h5", R"({"kind":"mlp","widths":[2,1e300,2]})"},
         }) {
      ck(name, [spec = spec](hid_t f) {
        h5::write_vector(f, "params", Eigen::VectorXd::Ones(2));
        write_spec(f, spec);
      });
    }
    // Data reference to a file that is not there, and to one that is not HDF5.
    ck("data_missing.h5", [](hid_t f) {
      h5::write_vector(f, "params", Eigen::VectorXd::Ones(17));
      write_spec(f, R"({"kind":"mlp","widths":[2,3,2],"parameters":17})");
      h5::Handle d = h5::create_group(f, "data");
      h5::write_attribute(d.get(), "data_file", std::string("no_such_data.h5"));
      h5::write_attribute(d.get(), "data_group", std::string("iris"));
    });
    ck("data_text.h5", [](hid_t f) {
      h5::write_vector(f, "params", Eigen::VectorXd::Ones(17));
      write_spec(f, R"({"kind":"mlp","widths":[2,3,2],"parameters":17})");
      h5::Handle d = h5::create_group(f, "data");
      h5::write_attribute(d.get(), "data_file", std::string("text.h5"));
      h5::write_attribute(d.get(), "data_group", std::string("x"));
    });
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string file(const std::string& name) { return dir_->file(name); }
  static void raw(const std::string& name, const std::string& format, std::int64_t version,
                  const std::function<void(hid_t)>& body) {
    h5::Handle f = h5::create_file(file(name));
    if (!format.empty()) sc::io::write_provenance(f.get(), format, version, corpus_provenance());
    body(f.get());
    names().push_back(name);
  }
  static void ck(const std::string& name, const std::function<void(hid_t)>& body) {
    raw(name, "saddlescope-checkpoint", 1, body);
  }
  static std::vector<std::string>& names() {
    static std::vector<std::string> n;
    return n;
  }
  static TempDir* dir_;
};
TempDir* BadInputCorpus::dir_ = nullptr;

// Every bad checkpoint through every tool that reads checkpoints: exit 3, one line naming the file.
TEST_F(BadInputCorpus, EveryBadCheckpointIsRefusedByEveryTool) {
  std::vector<std::string> all = names();
  for (const char* extra : {"text.h5", "empty.h5", "truncated100.h5", "truncated1000.h5", "truncated2000.h5",
                            "absent.h5"})
    all.push_back(extra);
  ASSERT_GE(all.size(), 30u);
  for (const auto& name : all) {
    const std::string path = file(name);
    expect_refusal("classify-critical", quote(path), {path});
    expect_refusal("hessian-spectrum", quote(path), {path});
    expect_refusal("run-optimizer", "--checkpoint " + quote(path) + " --steps 3", {path});
  }
}

// Files that crash or hang libhdf5 1.10.8 itself (found by the checkpoint fuzzer, kept in its corpus):
// the HDF5 guard (io/guard.h) reads each in a child process first. Whether libhdf5 crashes, hangs or
// (in a build without sanitizers) overreads silently and reads garbage, every tool ends with exit 3
// and one line naming the file; never a signal, never a hang.
TEST(BadInputCorpusHdf5, FilesThatCrashOrHangLibhdf5AreRefusedByEveryTool) {
  const std::filesystem::path dir = std::filesystem::path(SADDLESCOPE_SOURCE_DIR) / "tests/fuzz/corpus/checkpoint";
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("libhdf5_", 0) != 0) continue;
    const std::string path = entry.path().string();
    // A 3 s watchdog instead of the default 10 s keeps this test short; the default is checked below.
    const std::string env = "SADDLESCOPE_HDF5_GUARD_TIMEOUT=3 ";
    expect_refusal("classify-critical", quote(path), {path}, env);
    expect_refusal("hessian-spectrum", quote(path), {path}, env);
    expect_refusal("run-optimizer", "--checkpoint " + quote(path) + " --steps 3", {path}, env);
    ++count;
  }
  EXPECT_GE(count, 6);
}

// A file on which libhdf5 loops for ever: the default watchdog (10 s) ends it well inside `timeout 30`,
// and the message says what happened.
TEST(BadInputCorpusHdf5, AHangInsideLibhdf5EndsWithTheDefaultWatchdog) {
  const std::string path = std::string(SADDLESCOPE_SOURCE_DIR) +
                           "/tests/fuzz/corpus/checkpoint/libhdf5_hang_vlen_string_attribute_corrupt_global_heap_1.h5";
  expect_refusal("classify-critical", quote(path), {path, "corrupt (libhdf5 hung while reading it"});
}

// A fuzzed checkpoint whose root attribute index libhdf5 cannot iterate, while a lookup of 'format' by
// name still answers and then loops for ever in H5HG_read (found by CI's fuzz stage): the guard's probe
// reads by listing, so it refuses what it could not list instead of letting the parent read it.
TEST(BadInputCorpusHdf5, AFileWhoseAttributesCannotBeListedIsRefusedWithoutReadingIt) {
  const std::string path = std::string(SADDLESCOPE_SOURCE_DIR) +
                           "/tests/fuzz/corpus/checkpoint/libhdf5_hang_vlen_string_attribute_unlistable_attribute_index.h5";
  expect_refusal("classify-critical", quote(path), {path, "corrupt (libhdf5 cannot list its attributes or links"},
                 "SADDLESCOPE_HDF5_GUARD_TIMEOUT=3 ");
}

// The good checkpoint of the corpus is accepted, so the refusals above are about the defects.
TEST_F(BadInputCorpus, TheUnspoiledCheckpointIsAccepted) {
  const auto r = run_command(tool_path("classify-critical") + " --json " + quote(file("good.h5")));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

// A result or log path that cannot be written (missing folder): one line naming the path.
TEST_F(BadInputCorpus, UnwritableOutputIsAFileError) {
  const std::string out = file("no/such/folder/out.h5");
  expect_refusal("classify-critical", "--problem himmelblau --at 3,2 --out " + quote(out), {out});
  expect_refusal("hessian-spectrum", "--problem himmelblau --at 3,2 --top 1 --bottom 1 --out " + quote(out), {out});
  expect_refusal("run-optimizer", "--problem himmelblau --steps 2 --out " + quote(out), {out});
  expect_refusal("run-optimizer", "--problem himmelblau --steps 2 --log " + quote(out), {out});
  expect_refusal("make-checkpoint", "--problem himmelblau --out " + quote(out), {out});
  expect_refusal("rmt-check", "--k 2 --samples 100 --out " + quote(out), {out});
}

TEST(BadFlags, ClassifyCritical) {
  const std::string t = "classify-critical";
  expect_refusal(t, "--problem no_such_function --at 0,0", {"no_such_function"});
  expect_refusal(t, "--problem himmelblau --at 1,2,3", {"--at"});
  expect_refusal(t, "--problem himmelblau --at 1,nan", {"--at"});
  expect_refusal(t, "--problem himmelblau --at 1,inf", {"--at"});
  expect_refusal(t, "--problem himmelblau", {"--at"});
  expect_refusal(t, "--problem himmelblau --at 1,2 --method bogus", {"--method"});
  expect_refusal(t, "--problem himmelblau --at 1,2 --show -1", {"--show"});
  expect_refusal(t, "--problem himmelblau --at 1,2 --grad-tol -1", {"--grad-tol"});
  expect_refusal(t, "--problem 'quadratic:n=1000000000000' --at 1", {"n"});
  expect_refusal(t, "--problem 'quadratic:n=-5' --at 1", {"n"});
  // Non-UTF-8 bytes and a newline in a flag value (dash's printf: octal escapes).
  expect_refusal(t, "--problem \"$(printf 'himmel\\377\\376blau')\" --at 1,2", {"himmel"});
  expect_refusal(t, "--problem \"$(printf 'himmel\\nblau')\" --at 1,2", {"himmel"});
  expect_refusal(t, "--no-such-flag", {"--no-such-flag"});
}

TEST(BadFlags, HessianSpectrum) {
  const std::string t = "hessian-spectrum";
  expect_refusal(t, "--problem himmelblau --at 1,2 --top -1", {"--top"});
  expect_refusal(t, "--problem himmelblau --at 1,2 --top 5", {"top"});  // k > n
  expect_refusal(t, "--problem himmelblau --at 1,2 --bottom 3", {"bottom"});
  expect_refusal(t, "--problem himmelblau --at 1,2 --method bogus", {"--method"});
  expect_refusal(t, "--problem himmelblau --at 1,2 --curvature bogus", {"--curvature"});
  expect_refusal(t, "--problem himmelblau --at 1,2 --trace-method bogus", {"--trace-method"});
  expect_refusal(t, "--problem himmelblau --at 1,2 --sigma -1", {"--sigma"});
  expect_refusal(t, "--problem 'quadratic:n=1000000000000' --at start --method lanczos --top 2", {"n"});
  expect_refusal(t, "--problem himmelblau --at 1,2 --threads 0", {"--threads"});
}

TEST(BadFlags, RunOptimizer) {
  const std::string t = "run-optimizer";
  expect_refusal(t, "--problem himmelblau --optimizer bogus", {"bogus"});
  expect_refusal(t, "--problem himmelblau --optimizer sgd --lr 0", {"lr"});
  expect_refusal(t, "--problem himmelblau --optimizer sgd --lr -1", {"lr"});
  expect_refusal(t, "--problem himmelblau --optimizer adam --lr nan", {"lr"});
  expect_refusal(t, "--problem himmelblau --optimizer adam --betas 2,0.999", {"betas"});
  expect_refusal(t, "--problem himmelblau --steps -1", {"--steps"});
  expect_refusal(t, "--problem himmelblau --x0 1,2,3", {"--x0"});
  expect_refusal(t, "--problem himmelblau --schedule bogus", {"--schedule: ", "schedule 'bogus'"});
  expect_refusal(t, "--problem himmelblau --schedule step:gamma=x", {"--schedule: "});
  expect_refusal(t, "--problem himmelblau --warmup bogus", {"--warmup: ", "'bogus'"});
  expect_refusal(t, "--problem himmelblau --escape bogus", {"--escape"});
  expect_refusal(t, "--problem himmelblau --batch-size 4", {"batch"});  // no data
  expect_refusal(t, "--problem 'quadratic:n=1000000000000' --steps 1", {"n"});
}

TEST(BadFlags, RmtCheck) {
  const std::string t = "rmt-check";
  expect_refusal(t, "--ensemble bogus --k 2", {"--ensemble: ", "ensemble 'bogus'"});
  expect_refusal(t, "--k -1", {"--k"});
  expect_refusal(t, "--k 0", {"--k"});
  expect_refusal(t, "--k 5:1", {"--k"});
  expect_refusal(t, "--k 1000000000000", {"--k"});
  expect_refusal(t, "--k 2 --samples 0", {"samples"});
  expect_refusal(t, "--k 2 --samples -4", {"samples"});
  expect_refusal(t, "--k 2 --method bogus", {"--method: ", "method 'bogus'"});
  expect_refusal(t, "--k 2 --sampler bogus", {"--sampler: ", "'bogus'"});
  expect_refusal(t, "--k 2 --level-probability 1.5", {"level"});
  expect_refusal(t, "--ensemble hessian --objective 'quadratic:n=1000000000000' --k 2", {"n"});
}

TEST(BadFlags, MakeCheckpoint) {
  TempDir dir;
  const std::string out = dir.file("out.h5");
  const std::string t = "make-checkpoint";
  expect_refusal(t, "--problem bogus --out " + out, {"bogus"});
  expect_refusal(t, "--problem himmelblau --at 1,2,3 --out " + out, {"--at"});
  expect_refusal(t, "--model '{\"kind\":' --data spirals:n=10 --out " + out, {"--model"});
  expect_refusal(t, "--model '[1,2]' --data spirals:n=10 --out " + out, {"--model"});
  expect_refusal(t,
                 "--model '{\"kind\":\"mlp\",\"widths\":[1000000,1000000],\"bias\":false}' --data spirals:n=10 --out " + out,
                 {"widths"});
  expect_refusal(t, "--model '{\"kind\":\"mlp\",\"widths\":[2,4,2]}' --data no_such_file.h5:x --out " + out,
                 {"no_such_file.h5"});
  expect_refusal(t, "--model '{\"kind\":\"mlp\",\"widths\":[2,4,2]}' --data spirals:n=-3 --out " + out, {"n"});
  expect_refusal(t, "--model '{\"kind\":\"mlp\",\"widths\":[2,4,2],\"loss\":\"cross_entropy\"}' --data spirals:n=10 --init bogus --out " + out,
                 {"--init"});
  EXPECT_FALSE(std::filesystem::exists(out)) << "a refused run left an output file";
}

// Regression tests, one per bug found by this corpus (docs/hardening.md, "Bugs found").
TEST_F(BadInputCorpus, RegressionNewlineInAQuotedSpecKeepsTheErrorOnOneLine) {
  // Before: the message quoted "himmel\nblau\x1b[31m" raw and spanned three lines.
  const std::string path = file("json_newline.h5");
  expect_refusal("classify-critical", quote(path), {path, "himmel\\x0ablau\\x0d\\x1b[31m"});
}

TEST_F(BadInputCorpus, RegressionNonStringKindIsAFileErrorNotAJsonTypeError) {
  // Before: {"kind": 3} escaped as nlohmann's type_error, exit code 1, file not named.
  const std::string path = file("json_kind_number.h5");
  expect_refusal("run-optimizer", "--checkpoint " + quote(path), {path, "kind"});
}

TEST_F(BadInputCorpus, RegressionMissingDataReferenceNamesTheCheckpoint) {
  // Before: only the referenced data file was named, not the checkpoint the user gave.
  const std::string path = file("data_missing.h5");
  expect_refusal("hessian-spectrum", quote(path), {path, "no_such_data.h5"});
}

TEST(BadFlags, RegressionLearningRateZeroIsRefused) {
  // Before: --lr 0 ran to completion (exit 0) without moving.
  expect_refusal("run-optimizer", "--problem himmelblau --optimizer sgd --lr 0", {"'lr' = 0", "> 0"});
}

TEST(BadFlags, RegressionModelSpecErrorsNameTheFlag) {
  // Before: "'widths' claim more than ..." without saying it came from --model.
  TempDir dir;
  expect_refusal("make-checkpoint",
                 "--model '{\"kind\":\"mlp\",\"widths\":[2,-3,2]}' --data spirals:n=10 --out " + dir.file("o.h5"),
                 {"--model", "widths[1]"});
}

}  // namespace
