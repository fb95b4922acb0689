// Executes every notebooks/NN_*.ipynb headless with Debian's nbclient on /usr/bin/python3
// (notebooks/run_all.py), one test per notebook so that ctest -j runs them in parallel. A failing cell
// fails the test (run_all.py exits 1 and prints the cell and its traceback). The executed copies and
// the figures go to the build folder (<build>/notebooks), never into the source tree. Skipped, like the
// other Python cross-checks, when /usr/bin/python3 lacks the packages tools/dev.sh installs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

const fs::path kSource = SADDLESCOPE_SOURCE_DIR;
const fs::path kBuild = fs::path(SADDLESCOPE_BIN_DIR).parent_path();  // tools are in <build>/bin

std::vector<std::string> notebooks() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(kSource / "notebooks", ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() == ".ipynb" && name.size() > 3 && std::isdigit(static_cast<unsigned char>(name[0])) &&
        std::isdigit(static_cast<unsigned char>(name[1])) && name[2] == '_')
      names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool python_ready() {
  return std::system("/usr/bin/python3 -c 'import nbclient, nbformat, ipykernel, matplotlib, h5py, pandas, numpy'"
                     " > /dev/null 2>&1") == 0;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class Notebook : public ::testing::TestWithParam<std::string> {};

TEST_P(Notebook, ExecutesWithoutErrorsAndWritesItsFigures) {
  // In CI the set-up installs these packages, so a missing one is a failure there, not a skip.
  if (!python_ready() && std::getenv("CI") != nullptr) FAIL() << "CI: /usr/bin/python3 lacks the notebook packages";
  if (!python_ready()) GTEST_SKIP() << "/usr/bin/python3 cannot import nbclient/nbformat/ipykernel/matplotlib/h5py/pandas";
  const std::string name = GetParam();
  const fs::path source = kSource / "notebooks" / name;
  const fs::path out = kBuild / "notebooks";
  const fs::path figures = out / "figures";
  const std::string prefix = name.substr(0, 3);  // "01_"
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(figures, ec))  // stale figures must not satisfy the check
    if (entry.path().filename().string().rfind(prefix, 0) == 0) fs::remove(entry.path());
  const std::string before = slurp(source);

  const std::string command = "SADDLESCOPE_FIGURES='" + figures.string() + "' /usr/bin/python3 '" +
                              (kSource / "notebooks" / "run_all.py").string() + "' --build '" + kBuild.string() +
                              "' --out '" + out.string() + "' '" + source.string() + "' 2>&1";
  const int rc = std::system(command.c_str());
  ASSERT_EQ(rc, 0) << "a cell of " << name << " failed (output above); command: " << command;

  EXPECT_TRUE(fs::exists(out / name)) << "no executed copy " << (out / name);
  EXPECT_EQ(slurp(source), before) << "executing " << name << " modified the source notebook";
  int png = 0, pdf = 0;
  for (const auto& entry : fs::directory_iterator(figures, ec)) {
    if (entry.path().filename().string().rfind(prefix, 0) != 0) continue;
    png += entry.path().extension() == ".png";
    pdf += entry.path().extension() == ".pdf";
  }
  EXPECT_GE(png, 1) << name << " saved no PNG figure in " << figures;
  EXPECT_EQ(png, pdf) << name << ": every figure is saved as PNG and PDF";
}

INSTANTIATE_TEST_SUITE_P(All, Notebook, ::testing::ValuesIn(notebooks()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string n = info.param.substr(0, info.param.size() - 6);  // drop .ipynb
                           std::replace_if(n.begin(), n.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
                           return "nb" + n;
                         });

// The reader module against files the real tools write: cross-checks between a run log, its checkpoint
// and the --json object, closed-form GD iterates, and the refusals (wrong kind, tool, version).
TEST(Notebooks, ReaderModule) {
  if (!python_ready() && std::getenv("CI") != nullptr) FAIL() << "CI: /usr/bin/python3 lacks the notebook packages";
  if (!python_ready()) GTEST_SKIP() << "/usr/bin/python3 cannot import the notebook packages";
  const std::string command = "/usr/bin/python3 '" + (kSource / "notebooks" / "test_saddlescope_io.py").string() +
                              "' '" + kBuild.string() + "' 2>&1";
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
}

// Every committed notebook is found by the directory scan that instantiates the tests above (a renamed or
// deleted notebook must not silently drop its test). Others' notebooks (e.g. 11) may be added beside these.
TEST(Notebooks, AllArePresent) {
  const std::vector<std::string> found = notebooks();
  for (const char* name : {"01_textbook_examples.ipynb", "02_optimizers_saddles_valleys.ipynb", "03_ill_conditioning.ipynb",
                           "04_vanishing_gradients.ipynb", "05_escaping_saddles.ipynb", "06_half_power_check.ipynb",
                           "07_hessian_spectrum_iris.ipynb", "08_index_vs_loss.ipynb", "09_batchnorm_smoothness.ipynb",
                           "10_residual_slices.ipynb", "12_cnn_saddles.ipynb"})
    EXPECT_NE(std::find(found.begin(), found.end(), name), found.end()) << name;
}

}  // namespace
