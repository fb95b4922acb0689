// The io layer's file-safety checks (issue #17) as units: path identity and kind, fixed-length strings
// read whole, references out of a file refused except the run log's own views, storage shortfall.
// The tools' side of each is in tests/hardening/file_safety_test.cpp.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "io/error.h"
#include "io/file_checks.h"
#include "io/hdf5.h"
#include "io/reader.h"
#include "io/run_log.h"
#include "support/process.h"

namespace sc = saddlescope;
namespace h5 = sc::io::h5;
namespace fs = std::filesystem;
using sc::testing::TempDir;

namespace {

sc::io::Provenance test_provenance() {
  const char* argv[] = {"test_io"};
  return sc::io::Provenance::capture("test_io", 1, argv);
}

TEST(FileChecks, SameFileThroughSymlinksHardLinksAndDotDot) {
  TempDir dir;
  const std::string a = dir.file("a.h5"), b = dir.file("b.h5");
  std::ofstream(a) << "a";
  std::ofstream(b) << "b";
  fs::create_directory(dir.file("sub"));
  fs::create_symlink(a, dir.file("link.h5"));
  fs::create_hard_link(a, dir.file("hard.h5"));
  EXPECT_TRUE(sc::io::same_file(a, dir.file("link.h5")));
  EXPECT_TRUE(sc::io::same_file(a, dir.file("hard.h5")));
  EXPECT_TRUE(sc::io::same_file(a, dir.file("sub/../a.h5")));
  EXPECT_FALSE(sc::io::same_file(a, b));
  // Not there yet: the same folder and name, however spelled; a different name is a different file.
  EXPECT_TRUE(sc::io::same_file(dir.file("new.h5"), dir.file("sub/../new.h5")));
  EXPECT_FALSE(sc::io::same_file(dir.file("new.h5"), dir.file("new2.h5")));
  EXPECT_FALSE(sc::io::same_file("", ""));
}

TEST(FileChecks, NonRegularInputsAreRefusedWithoutOpeningThem) {
  TempDir dir;
  const std::string fifo = dir.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string what;
  EXPECT_EQ(sc::io::path_kind(fifo, &what), sc::io::PathKind::other);
  EXPECT_EQ(what, "a FIFO");
  EXPECT_EQ(sc::io::path_kind("/dev/null", &what), sc::io::PathKind::other);
  EXPECT_EQ(what, "a character device");
  EXPECT_EQ(sc::io::path_kind(dir.file("")), sc::io::PathKind::directory);
  EXPECT_EQ(sc::io::path_kind(dir.file("absent")), sc::io::PathKind::missing);
  try {
    sc::io::require_regular_input(fifo);  // would block for ever if it opened the FIFO
    ADD_FAILURE() << "a FIFO was accepted";
  } catch (const sc::io::FileError& e) {
    EXPECT_NE(std::string(e.what()).find("is a FIFO"), std::string::npos) << e.what();
  }
  EXPECT_THROW(sc::io::require_regular_input(dir.file("absent")), sc::io::FileError);
}

// Regression (issue #17, item 12): a NUL-padded fixed-length string exactly as long as its text (what
// h5py writes for np.bytes_) lost its last byte, because it was converted into a NUL-terminated type of
// the same size.
TEST(FileChecks, RegressionFixedLengthNulPaddedStringKeepsItsLastByte) {
  TempDir dir;
  h5::Handle f = h5::create_file(dir.file("s.h5"));
  const std::string text = "saddlescope-checkpoint";
  for (const H5T_str_t pad : {H5T_STR_NULLPAD, H5T_STR_NULLTERM, H5T_STR_SPACEPAD}) {
    const std::string name = "pad" + std::to_string(static_cast<int>(pad));
    const std::size_t size = pad == H5T_STR_NULLTERM ? text.size() + 1 : text.size();
    h5::Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type.get(), size);
    H5Tset_strpad(type.get(), pad);
    h5::Handle space(H5Screate(H5S_SCALAR), H5Sclose);
    h5::Handle attr(H5Acreate2(f.get(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    std::string stored = text;
    stored.resize(size, '\0');
    ASSERT_GE(H5Awrite(attr.get(), type.get(), stored.data()), 0);
    EXPECT_EQ(h5::read_string_attribute(f.get(), name), text) << "padding " << name;
  }
}

// Item 7 as a unit: the run log's own virtual datasets pass when read as a run log, and are refused
// in any other file kind; a view onto another file is refused even in a run log.
TEST(FileChecks, RunLogViewsAreItsOwnAndForeignViewsAreRefused) {
  TempDir dir;
  const std::string log = dir.file("run.h5");
  {
    sc::io::RunLogLayout layout;
    layout.step_columns = {"loss"};
    layout.curvature = true;
    sc::io::RunLog run(log, test_provenance(), {{"optimizer", "sgd"}}, layout);
    run.append_step(0, {1.0}, {});
    run.close();
  }
  h5::Handle f = h5::open_file(log);
  EXPECT_NO_THROW(sc::io::check_self_contained(f.get(), log, /*own_views=*/true));
  EXPECT_THROW(sc::io::check_self_contained(f.get(), log, /*own_views=*/false), sc::io::FileError);
  EXPECT_NO_THROW(sc::io::open_saddlescope_file(log, sc::io::kRunLogFormat, sc::io::kRunLogFormatVersion));

  const std::string foreign = dir.file("foreign_view.h5");
  {
    h5::Handle g = h5::create_file(foreign);
    const hsize_t dims[1] = {1};
    h5::Handle space(H5Screate_simple(1, dims, nullptr), H5Sclose);
    h5::Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    ASSERT_GE(H5Pset_virtual(dcpl.get(), space.get(), log.c_str(), "/_tables/steps", space.get()), 0);
    h5::Handle d(H5Dcreate2(g.get(), "view", H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), H5Dclose);
  }
  h5::Handle g = h5::open_file(foreign);
  try {
    sc::io::check_self_contained(g.get(), foreign, /*own_views=*/true);
    ADD_FAILURE() << "a view onto another file was accepted";
  } catch (const sc::io::FileError& e) {
    EXPECT_NE(std::string(e.what()).find("'/view'"), std::string::npos) << e.what();
  }
}

TEST(FileChecks, StorageShortfallSeparatesWrittenFromDeclaredData) {
  TempDir dir;
  h5::Handle f = h5::create_file(dir.file("d.h5"));
  h5::write_vector(f.get(), "written", Eigen::VectorXd::Ones(1000));
  const hsize_t dims[1] = {1000}, chunk[1] = {100};
  h5::Handle space(H5Screate_simple(1, dims, nullptr), H5Sclose);
  h5::Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_chunk(dcpl.get(), 1, chunk);
  H5Pset_deflate(dcpl.get(), 9);
  // Written through deflate: 8000 bytes of ones compress far, but within deflate's real ratio.
  h5::Handle packed(H5Dcreate2(f.get(), "packed", H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), H5Dclose);
  const Eigen::VectorXd ones = Eigen::VectorXd::Ones(1000);
  ASSERT_GE(H5Dwrite(packed.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, ones.data()), 0);
  h5::Handle unwritten(H5Dcreate2(f.get(), "unwritten", H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                       H5Dclose);
  EXPECT_EQ(h5::read_vector(f.get(), "written", 1000), ones);
  EXPECT_EQ(h5::read_vector(f.get(), "packed", 1000), ones);
  try {
    (void)h5::read_vector(f.get(), "unwritten", 1000);
    ADD_FAILURE() << "a dataset that was never written was read";
  } catch (const h5::Hdf5Error& e) {
    EXPECT_NE(std::string(e.what()).find("'/unwritten' declares 8000 bytes"), std::string::npos) << e.what();
  }
}

}  // namespace
