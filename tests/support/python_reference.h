#pragma once
// A GoogleTest suite whose reference values come from a Python script (torch's autograd, ...) run once
// for the whole suite: the script writes into a temporary folder, dir(), removed after the suite.
// Without the Python modules the tests are skipped, except under CI, whose set-up installs them (there a
// missing module is a failure); a script that fails fails every test, with its output.
//
// Use: class MySuite : public PythonReferenceSuite<MySuite> with
//   static constexpr const char* kScript = "tests/models/my_reference.py";  (relative to the source tree)
//   static constexpr const char* kModules = "torch, h5py";                   (what the script imports)
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "support/process.h"

namespace saddlescope::testing {

template <class Suite>
class PythonReferenceSuite : public ::testing::Test {
 protected:
  static bool modules_available() {
    static const bool available = python_can_import(Suite::kModules);
    return available;
  }
  static void SetUpTestSuite() {
    if (!modules_available()) return;
    dir_ = std::filesystem::temp_directory_path() /
           ("saddlescope_" + std::filesystem::path(Suite::kScript).stem().string() + "_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    const auto r = run_command("OMP_NUM_THREADS=1 /usr/bin/python3 " SADDLESCOPE_SOURCE_DIR "/" +
                               std::string(Suite::kScript) + " " + dir_.string());
    ok_ = r.exit_code == 0;
    log_ = r.out + r.err;
  }
  static void TearDownTestSuite() {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  void SetUp() override {
    const std::string missing = std::string("/usr/bin/python3 cannot import ") + Suite::kModules;
    if (!modules_available() && std::getenv("CI") != nullptr) FAIL() << "CI: " << missing;
    if (!modules_available()) GTEST_SKIP() << missing;
    ASSERT_TRUE(ok_) << Suite::kScript << " failed:\n" << log_;
  }
  static const std::filesystem::path& dir() { return dir_; }

 private:
  static inline std::filesystem::path dir_;
  static inline bool ok_ = false;
  static inline std::string log_;
};

}  // namespace saddlescope::testing
