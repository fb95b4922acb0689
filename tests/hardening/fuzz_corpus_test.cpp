// Replays every committed fuzz input (tests/fuzz/corpus/<target>/*: seeds and the inputs of crashes the
// fuzzers found, named after their bug) through the fuzz target bodies in the normal suite. A target
// aborts on an undocumented exception, so a regression ends this test program; under the `asan`
// preset the sanitizers check each replay as well.
#include <gtest/gtest.h>

#include <cstdlib>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/targets.h"

namespace {

std::vector<std::uint8_t> bytes_of(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int replay(const std::string& target, int (*body)(const std::uint8_t*, std::size_t)) {
  const std::filesystem::path dir = std::filesystem::path(SADDLESCOPE_SOURCE_DIR) / "tests/fuzz/corpus" / target;
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    SCOPED_TRACE(entry.path().string());
    const auto data = bytes_of(entry.path());
    EXPECT_EQ(body(data.data(), data.size()), 0);
    ++count;
  }
  return count;
}

TEST(FuzzCorpus, CheckpointReaderReplaysEveryInput) {
  // The corpus holds files that hang libhdf5 (libhdf5_hang_*): the guard's watchdog ends each after
  // 2 s instead of the default 10 s, to keep the suite fast (BadInputCorpus checks the default).
  ::setenv("SADDLESCOPE_HDF5_GUARD_TIMEOUT", "2", 1);
  EXPECT_GT(replay("checkpoint", saddlescope::fuzz::checkpoint_target), 0);
}

TEST(FuzzCorpus, ModelSpecParserReplaysEveryInput) {
  EXPECT_GT(replay("model_spec", saddlescope::fuzz::model_spec_target), 0);
}

TEST(FuzzCorpus, ProblemSpecParserReplaysEveryInput) {
  EXPECT_GT(replay("problem_spec", saddlescope::fuzz::problem_spec_target), 0);
}

TEST(FuzzCorpus, OnnxImporterReplaysEveryInput) {
  EXPECT_GT(replay("onnx", saddlescope::fuzz::onnx_target), 0);
}

}  // namespace
