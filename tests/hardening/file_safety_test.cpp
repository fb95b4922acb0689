// Nothing lost, nothing leaked (issue #17): outputs never destroy inputs, non-regular files never block
// or get replaced, untrusted HDF5 files cannot make a tool read other files, sizes a file declares are
// checked against what it stores, h5py's strings read whole, and one run log has one writer. Each test
// runs the real tools (tests/support/refusal.h for the refusal contract) and is named after the defect
// it pins; each failed before its fix (docs/hardening.md, "Issue #17").
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "io/checkpoint.h"
#include "io/hdf5.h"
#include "io/provenance.h"
#include "io/provenance_file.h"
#include "io/run_log.h"
#include "support/h5_datasets.h"
#include "support/process.h"
#include "support/refusal.h"

extern char** environ;

namespace sc = saddlescope;
namespace h5 = sc::io::h5;
namespace fs = std::filesystem;
using sc::testing::expect_refusal;
using sc::testing::quote;
using sc::testing::run_command;
using sc::testing::TempDir;
using sc::testing::tool_path;

namespace {

const char* kHimmelblau = R"({"kind":"function","function":"himmelblau"})";
const char* kMlp = R"({"kind":"mlp","widths":[4,3,3],"activation":"tanh","loss":"cross_entropy","parameters":27})";

sc::io::Provenance test_provenance() {
  const char* argv[] = {"test_hardening"};
  return sc::io::Provenance::capture("test_hardening", 1, argv);
}

void make_checkpoint(const std::string& path, const std::string& at) {
  const auto r = run_command(tool_path("make-checkpoint") + " --problem himmelblau --at " + at + " --out " + quote(path));
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

bool h5py_available() { return std::system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") == 0; }

// Writes a checkpoint-shaped file (provenance, objective `spec`) whose /params `body` creates.
void raw_checkpoint(const std::string& path, const std::function<void(hid_t)>& body, const char* spec = kHimmelblau) {
  h5::Handle f = h5::create_file(path);
  sc::io::write_provenance(f.get(), "saddlescope-checkpoint", 1, test_provenance());
  h5::Handle g = h5::create_group(f.get(), "objective");
  h5::write_attribute(g.get(), "spec", std::string(spec));
  body(f.get());
}

// A checkpoint of the kMlp network (27 zero parameters) whose /data group `data` fills.
void mlp_checkpoint(const std::string& path, const std::function<void(hid_t)>& data) {
  raw_checkpoint(
      path,
      [&](hid_t f) {
        h5::write_vector(f, "params", Eigen::VectorXd::Zero(27));
        h5::Handle d = h5::create_group(f, "data");
        data(d.get());
      },
      kMlp);
}

// Item 1. Before: every one of these exited 0 and destroyed the input (or lost one of two outputs).
TEST(FileSafety, RegressionOutputThatIsAnInputIsRefusedNamingBoth) {
  TempDir dir;
  const std::string ck = dir.file("ck.h5"), ck2 = dir.file("ck2.h5"), link = dir.file("link.h5"),
                    hard = dir.file("hard.h5"), data = dir.file("iris.h5");
  make_checkpoint(ck, "3,2");
  make_checkpoint(ck2, "3.5,-1.8");
  fs::create_symlink(ck, link);
  fs::create_hard_link(ck, hard);
  fs::create_directory(dir.file("sub"));
  fs::copy_file(std::string(SADDLESCOPE_SOURCE_DIR) + "/data/datasets/iris.h5", data);
  const std::string via_dotdot = dir.file("sub/../ck.h5");
  const std::string ck_sha = sc::io::sha256_file(ck), ck2_sha = sc::io::sha256_file(ck2),
                    data_sha = sc::io::sha256_file(data);
  struct Case {
    std::string tool, args;
    std::vector<std::string> mentions;
  };
  const std::string new_out = dir.file("new.h5");
  const std::vector<Case> cases = {
      {"classify-critical", quote(ck) + " --out " + quote(ck), {"--out", "checkpoint", ck}},
      {"classify-critical", quote(ck) + " --out " + quote(link), {"--out", link}},
      {"classify-critical", quote(ck) + " --out " + quote(via_dotdot), {"--out", via_dotdot}},
      {"classify-critical", quote(ck) + " --out " + quote(hard), {"--out", hard}},
      {"hessian-spectrum", quote(ck) + " --top 1 --bottom 1 --out " + quote(link), {"--out", link}},
      {"find-critical", quote(ck) + " --starts 2 --out " + quote(ck), {"--out", ck}},
      {"loss-slice", quote(ck) + " --grid 3 --out " + quote(ck), {"--out", ck}},
      {"loss-slice", quote(ck) + " --directions interpolate --to " + quote(ck2) + " --grid 3 --out " + quote(ck2),
       {"--out", "--to", ck2}},
      {"run-optimizer", "--checkpoint " + quote(ck) + " --steps 3 --log " + quote(ck), {"--log", "checkpoint", ck}},
      {"run-optimizer", "--checkpoint " + quote(ck) + " --steps 3 --out " + quote(link), {"--out", "checkpoint"}},
      // Two outputs that are one file, not there yet: the same folder and name, spelled two ways.
      {"run-optimizer", "--problem himmelblau --steps 3 --log " + quote(new_out) + " --out " + quote(new_out),
       {"--log", "--out", new_out}},
      {"run-optimizer",
       "--problem himmelblau --steps 3 --log " + quote(new_out) + " --out " + quote(dir.file("sub/../new.h5")),
       {"--log", "--out"}},
      {"make-checkpoint", "--model " + quote(kMlp) + " --data " + quote(data + ":iris") + " --out " + quote(data),
       {"--data", "--out", data}},
  };
  for (const auto& c : cases) {
    const auto r = expect_refusal(c.tool, c.args, c.mentions);
    EXPECT_EQ(r.exit_code, 2) << c.tool << " " << c.args << ": " << r.err;
  }
  EXPECT_EQ(sc::io::sha256_file(ck), ck_sha) << "an input checkpoint changed";
  EXPECT_EQ(sc::io::sha256_file(ck2), ck2_sha) << "the --to checkpoint changed";
  EXPECT_EQ(sc::io::sha256_file(data), data_sha) << "the data file changed";
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_FALSE(fs::exists(new_out)) << "a refused run wrote an output";
  // The same tools with distinct outputs still run (the refusals are about the paths alone).
  EXPECT_EQ(run_command(tool_path("classify-critical") + " " + quote(ck) + " --out " + quote(new_out)).exit_code, 0);
}

// Item 3. Before: the atomic rename replaced the FIFO (and, run as root, /dev/null itself) with a
// regular file, exit 0. A symlink to /dev/null stands for the device: should this regress, the rename
// replaces the symlink, not the machine's /dev/null.
TEST(FileSafety, RegressionOutputThatIsADeviceOrAFifoIsRefused) {
  TempDir dir;
  const std::string fifo = dir.file("fifo"), null_link = dir.file("null.h5");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  fs::create_symlink("/dev/null", null_link);
  struct Case {
    std::string tool, args;
  };
  for (const auto& [out, what] : {std::pair{fifo, std::string("a FIFO")}, std::pair{null_link, std::string("a character device")}}) {
    const std::vector<Case> cases = {
        {"classify-critical", "--problem himmelblau --at 3,2 --out " + quote(out)},
        {"hessian-spectrum", "--problem himmelblau --at 3,2 --top 1 --bottom 1 --out " + quote(out)},
        {"find-critical", "--problem himmelblau --starts 2 --out " + quote(out)},
        {"loss-slice", "--problem himmelblau --at 3,2 --grid 3 --out " + quote(out)},
        {"loss-slice", "--problem himmelblau --at 3,2 --grid 3 --resume --out " + quote(out)},
        {"rmt-check", "--k 2 --samples 10 --out " + quote(out)},
        {"run-optimizer", "--problem himmelblau --steps 2 --out " + quote(out)},
        {"run-optimizer", "--problem himmelblau --steps 2 --log " + quote(out)},
        {"make-checkpoint", "--problem himmelblau --out " + quote(out)},
    };
    for (const auto& c : cases) {
      const auto r = expect_refusal(c.tool, c.args, {out, what});
      EXPECT_EQ(r.exit_code, 2) << c.tool << " " << c.args << ": " << r.err;
    }
  }
  EXPECT_EQ(fs::status(fifo).type(), fs::file_type::fifo) << "the FIFO was replaced";
  EXPECT_TRUE(fs::is_symlink(null_link)) << "the link to /dev/null was replaced";
}

// Item 10. Before: open() on the FIFO blocked until `timeout 30` killed the tool (exit 124).
TEST(FileSafety, RegressionFifoInputIsRefusedInsteadOfBlocking) {
  TempDir dir;
  const std::string fifo = dir.file("fifo.h5"), via_data = dir.file("data_is_fifo.h5");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // A checkpoint whose data reference names the FIFO (a relative path, resolved next to the checkpoint).
  mlp_checkpoint(via_data, [](hid_t data) {
    h5::write_attribute(data, "data_file", std::string("fifo.h5"));
    h5::write_attribute(data, "data_group", std::string("iris"));
  });
  const std::string out = dir.file("out.h5");
  expect_refusal("classify-critical", quote(fifo), {fifo, "FIFO"});
  expect_refusal("hessian-spectrum", quote(fifo), {fifo, "FIFO"});
  expect_refusal("find-critical", quote(fifo) + " --starts 2", {fifo, "FIFO"});
  expect_refusal("loss-slice", quote(fifo) + " --grid 3", {fifo, "FIFO"});
  expect_refusal("loss-slice", "--problem himmelblau --at 3,2 --directions interpolate --to " + quote(fifo), {});
  expect_refusal("run-optimizer", "--checkpoint " + quote(fifo) + " --steps 2", {fifo, "FIFO"});
  expect_refusal("make-checkpoint", "--model " + quote(kMlp) + " --data " + quote(fifo + ":iris") + " --out " + quote(out),
                 {fifo, "FIFO"});
  expect_refusal("classify-critical", quote(via_data), {"fifo.h5", "FIFO"});
  expect_refusal("classify-critical", "/dev/zero", {"/dev/zero", "character device"});
  // CLI11 reads --config itself, while parsing (cli::regular_input_file checks it first).
  expect_refusal("run-optimizer", "--problem himmelblau --steps 2 --config " + quote(fifo), {"--config", "FIFO"});
  EXPECT_FALSE(fs::exists(out));
}

// Item 7. Before: /params came from the other file (external storage: raw bytes of any local file,
// here 1234.5 and -6789.25; external link; virtual dataset) and the tools printed it back. The soft
// link (inside the file) is the control: still accepted.
TEST(FileSafety, RegressionExternalReferencesInUntrustedFilesAreRefused) {
  TempDir dir;
  const std::string secret = dir.file("secret.bin"), other = dir.file("other.h5");
  {
    const double values[2] = {1234.5, -6789.25};
    std::ofstream(secret, std::ios::binary).write(reinterpret_cast<const char*>(values), sizeof values);
    h5::Handle f = h5::create_file(other);
    h5::write_vector(f.get(), "params", Eigen::Vector2d(1234.5, -6789.25));
  }
  const std::string storage = dir.file("external_storage.h5"), link = dir.file("external_link.h5"),
                    vds = dir.file("virtual.h5"), data_link = dir.file("external_data.h5"), soft = dir.file("soft.h5");
  raw_checkpoint(storage, [&](hid_t f) {
    h5::Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    ASSERT_GE(H5Pset_external(dcpl.get(), secret.c_str(), 0, 16), 0);
    const hsize_t dims[1] = {2};
    h5::Handle space(H5Screate_simple(1, dims, nullptr), H5Sclose);
    h5::Handle d(H5Dcreate2(f, "params", H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), H5Dclose);
    ASSERT_TRUE(d.valid());
  });
  raw_checkpoint(link, [&](hid_t f) { ASSERT_GE(H5Lcreate_external(other.c_str(), "/params", f, "params", H5P_DEFAULT, H5P_DEFAULT), 0); });
  raw_checkpoint(vds, [&](hid_t f) {
    const hsize_t dims[1] = {2};
    h5::Handle space(H5Screate_simple(1, dims, nullptr), H5Sclose);
    h5::Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    ASSERT_GE(H5Pset_virtual(dcpl.get(), space.get(), other.c_str(), "/params", space.get()), 0);
    h5::Handle d(H5Dcreate2(f, "params", H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), H5Dclose);
    ASSERT_TRUE(d.valid());
  });
  raw_checkpoint(data_link, [&](hid_t f) {
    h5::write_vector(f, "params", Eigen::Vector2d(3.0, 2.0));
    ASSERT_GE(H5Lcreate_external(other.c_str(), "/", f, "data", H5P_DEFAULT, H5P_DEFAULT), 0);
  });
  raw_checkpoint(soft, [&](hid_t f) {
    h5::Handle g = h5::create_group(f, "stored");
    h5::write_vector(g.get(), "params", Eigen::Vector2d(3.0, 2.0));
    ASSERT_GE(H5Lcreate_soft("/stored/params", f, "params", H5P_DEFAULT, H5P_DEFAULT), 0);
  });
  for (const auto& [path, what] : {std::pair{storage, std::string("external storage")},
                                   std::pair{link, std::string("external link")},
                                   std::pair{vds, std::string("virtual dataset")},
                                   std::pair{data_link, std::string("external link")}}) {
    for (const std::string tool : {"classify-critical", "hessian-spectrum"}) {
      const auto r = expect_refusal(tool, quote(path), {path, what});
      EXPECT_EQ(r.exit_code, 3) << r.err;
      EXPECT_EQ(r.err.find("1234.5"), std::string::npos) << "the other file's content was echoed: " << r.err;
    }
    expect_refusal("run-optimizer", "--checkpoint " + quote(path) + " --steps 2", {path, what});
  }
  const auto r = run_command(tool_path("classify-critical") + " --json " + quote(soft));
  EXPECT_EQ(r.exit_code, 0) << "a soft link inside the file was refused: " << r.err;
}

// Item 12. Before: "saddlescope-checkpoint" written by h5py as np.bytes_ (fixed-length, NUL-padded,
// exactly 22 bytes) read back as "saddlescope-checkpoin", and the file was refused (exit 3).
TEST(FileSafety, RegressionH5pyFixedLengthStringAttributesKeepTheirLastByte) {
  if (!h5py_available()) GTEST_SKIP() << "needs Debian's python3-h5py (tools/dev.sh installs it) to write the file";
  TempDir dir;
  const std::string path = dir.file("h5py_bytes.h5");
  const std::string py = "/usr/bin/python3 -c \"import h5py, numpy as np, sys\n"
                         "f = h5py.File(sys.argv[1], 'w')\n"
                         "f.attrs['format'] = np.bytes_(b'saddlescope-checkpoint')\n"
                         "f.attrs['format_version'] = np.int64(1)\n"
                         "f.attrs['created_by'] = np.bytes_(b'h5py 3')\n"
                         "f['params'] = np.array([3.0, 2.0])\n"
                         "f.create_group('objective').attrs['spec'] = np.bytes_(b'{\\\"kind\\\":\\\"function\\\",\\\"function\\\":\\\"himmelblau\\\"}')\n"
                         "\" " + quote(path);
  ASSERT_EQ(std::system(py.c_str()), 0);
  const auto r = run_command(tool_path("classify-critical") + " --json " + quote(path));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Himmelblau's minimum (3, 2): the spec's last byte '}' survived, and the point read is h5py's.
  EXPECT_NE(r.out.find("\"verdict\": \"local_minimum\""), std::string::npos) << r.out;
}

// Item 19. Before: a file of a few KiB declaring /data/X of 2^28 float64 (2 GiB, the per-dataset limit;
// chunks never written) was read in full, fill values and all (20 s), and the tool then failed with a
// bare "out of memory" (exit 1) — here under the 2 GiB address-space limit of expect_refusal. The
// compressed variant declares the same behind a deflate filter.
TEST(FileSafety, RegressionHugeDeclaredDatasetIsRefusedBeforeReadingNamingIt) {
  TempDir dir;
  for (const bool deflate : {false, true}) {
    const std::string path = dir.file(deflate ? "bomb_deflate.h5" : "bomb.h5");
    mlp_checkpoint(path, [&](hid_t data) {
      for (const auto& [name, width] : {std::pair{"X", hsize_t{4}}, std::pair{"y", hsize_t{1}}}) {
        const h5::Handle d = sc::testing::create_unwritten_dataset(data, name, {(hsize_t{1} << 28) / 4, width},
                                                                   {16384, width}, deflate ? 9 : 0);
        ASSERT_TRUE(d.valid());
      }
    });
    ASSERT_LT(fs::file_size(path), 64u * 1024) << "the corpus file should be small";
    for (const std::string tool : {"classify-critical", "hessian-spectrum"}) {
      const auto r = expect_refusal(tool, quote(path), {path, "/data/X", "2147483648 bytes"});
      EXPECT_EQ(r.exit_code, 3) << r.err;
    }
  }
}

// Item 19, the budget. Before: SLQ always ran at least one probe, whatever it needed, so the default
// --memory-budget (1 GiB, curvature/slq.h) limited nothing and a large n ended in "out of memory".
// Here one probe of 10 steps at n = 100 needs (10 + 2) * 100 * 8 = 9600 bytes > 1000.
TEST(FileSafety, RegressionSlqMemoryBudgetIsEnforced) {
  const auto r = expect_refusal("hessian-spectrum",
                                "--problem rosenbrock:n=100 --at start --method lanczos --top 0 --bottom 0 --trace-samples 0 "
                                "--density-probes 2 --density-steps 10 --memory-budget 1000",
                                {"memory_budget_bytes", "9600"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  const auto ok = run_command(tool_path("hessian-spectrum") +
                              " --problem rosenbrock:n=100 --at start --method lanczos --top 0 --bottom 0 --trace-samples 0 "
                              "--density-probes 2 --density-steps 10 --memory-budget 9600");
  EXPECT_EQ(ok.exit_code, 0) << "a budget that fits one probe was refused: " << ok.err;
}

// Item 5. Before: the second run replaced the first's live log (rename), both exited 0, and the first
// run's steps were lost.
TEST(FileSafety, RegressionSecondWriterOfALiveRunLogIsRefused) {
  TempDir dir;
  const std::string log = dir.file("run.h5");
  const pid_t first = sc::testing::spawn_discarding_output(
      tool_path("run-optimizer"), {"--problem", "rosenbrock:n=8", "--optimizer", "sgd", "--lr", "1e-5", "--steps",
                                   "1000000000", "--log", log, "--flush-seconds", "0.01"});
  ASSERT_GT(first, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!fs::exists(log) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(fs::exists(log)) << "the first run's log did not appear within 60 s";
  struct stat before {};
  ASSERT_EQ(::stat(log.c_str(), &before), 0);
  const auto r = expect_refusal("run-optimizer", "--problem himmelblau --steps 3 --log " + quote(log),
                                {log, "another process"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  struct stat after {};
  ASSERT_EQ(::stat(log.c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino) << "the live log was replaced";
  ::kill(first, SIGTERM);
  int status = 0;
  ::waitpid(first, &status, 0);
  {
    h5::Handle f = h5::open_file(log, false, /*swmr_read=*/true);
    // The first run's own log: its status, and more rows than the refused 3-step run could have left.
    EXPECT_EQ(h5::read_string_attribute(f.get(), "status"), "interrupted");
    const auto lengths = sc::io::run_log_step_lengths(f.get());
    ASSERT_FALSE(lengths.empty());
    EXPECT_GT(lengths.front().second, 3u);
  }
  // Once the first run has ended, the log is free: a new run replaces it as before.
  EXPECT_EQ(run_command(tool_path("run-optimizer") + " --problem himmelblau --steps 3 --log " + quote(log)).exit_code, 0);
}

// Item 2. Before: a fresh loss-slice opened --out with H5Fcreate(TRUNC), which truncated the file a
// running loss-slice was writing before HDF5's lock refused the second writer: the first run's file was
// left at 0 bytes. And a fresh run replaced an incomplete slice that --resume could have continued.
TEST(FileSafety, RegressionLossSliceNeverTruncatesALiveOrResumableOutput) {
  TempDir dir;
  const std::string out = dir.file("slice.h5");
  const pid_t first = sc::testing::spawn_discarding_output(
      tool_path("loss-slice"), {"--problem", "rosenbrock:n=2000", "--at", "start", "--dims", "2", "--grid", "400,400",
                                "--chunk", "100", "--out", out});
  ASSERT_GT(first, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!fs::exists(out) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(fs::exists(out)) << "the first run's file did not appear within 60 s";
  const auto size = fs::file_size(out);
  const auto r = expect_refusal("loss-slice", "--problem himmelblau --at 3,2 --grid 3 --out " + quote(out),
                                {out, "another process"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_GE(fs::file_size(out), size) << "the live file was truncated";
  expect_refusal("loss-slice", "--problem rosenbrock:n=2000 --at start --dims 2 --grid 400,400 --chunk 100 --resume --out " +
                                   quote(out),
                 {out, "another process"});
  ::kill(first, SIGKILL);  // leaves an incomplete, resumable slice (every flushed chunk)
  int status = 0;
  ::waitpid(first, &status, 0);
  const std::string sha = sc::io::sha256_file(out);
  const auto fresh = expect_refusal("loss-slice", "--problem rosenbrock:n=2000 --at start --dims 2 --grid 400,400 --out " + quote(out),
                                    {out, "--resume"});
  EXPECT_EQ(fresh.exit_code, 2) << fresh.err;
  EXPECT_EQ(sc::io::sha256_file(out), sha) << "the resumable slice changed";
}

// Item 13. Before: the disk filled while a fresh loss-slice created its file in place; what was left
// had no /loss and --resume refused it (exit 3). Now the file is built under a temporary name: the
// failed run leaves nothing, and the same command with --resume runs to the end. A limit just above
// the created file (measured, so layout changes do not move it) fails a later flush instead; the file
// keeps its flushed points and --resume completes it, with the values of an uninterrupted run
// (same seed, same bits).
TEST(FileSafety, RegressionLossSliceInterruptedByAFullDiskIsResumable) {
  TempDir dir;
  const std::string args = " --problem rosenbrock:n=20 --at start --dims 2 --grid 300,300 --chunk 1000";
  const std::string reference = dir.file("reference.h5");
  ASSERT_EQ(run_command(tool_path("loss-slice") + args + " --out " + quote(reference)).exit_code, 0);
  const std::string probe = dir.file("probe.h5");
  ASSERT_EQ(run_command(tool_path("loss-slice") + args + " --max-points 1 --out " + quote(probe)).exit_code, 0);
  const auto created = fs::file_size(probe);  // the layout, all grids allocated, one flush
  for (const auto& [name, blocks] : {std::pair{std::string("creation"), created / 2 / 512},
                                     std::pair{std::string("later"), (created + 2048) / 512}}) {
    SCOPED_TRACE("disk full during " + name);
    const std::string out = dir.file(name + ".h5");
    const auto cut = run_command("ulimit -f " + std::to_string(blocks) + "; exec " + tool_path("loss-slice") + args +
                                 " --out " + quote(out));
    EXPECT_NE(cut.exit_code, 0) << "the limit did not cut the run";
    EXPECT_LT(cut.exit_code, 128) << cut.err;
    EXPECT_EQ(sc::testing::line_count(cut.err), 1) << cut.err;
    for (const auto& entry : fs::directory_iterator(dir.file("")))
      EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << "left behind: " << entry.path();
    const auto resumed = run_command(tool_path("loss-slice") + args + " --resume --out " + quote(out));
    ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
    h5::Handle a = h5::open_file(out), b = h5::open_file(reference);
    EXPECT_EQ(h5::read_matrix(a.get(), "loss", 1 << 20), h5::read_matrix(b.get(), "loss", 1 << 20));
    EXPECT_EQ(h5::read_string_attribute(a.get(), "status"), "complete");
  }
}

}  // namespace
