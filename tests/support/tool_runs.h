#pragma once
// The checks every tool test makes of a real run (STYLE.md habit 9), and the checkpoint most of them
// start from, so each test file states only what its tool adds.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "io/checkpoint.h"
#include "support/process.h"

namespace saddlescope::testing {

// `command --json` succeeds (exit 0) without a word on stderr and prints one JSON object, returned
// (parsing throws, failing the test, unless stdout is exactly that).
inline nlohmann::json run_json(const std::string& command) {
  const auto r = run_command(command + " --json");
  EXPECT_EQ(r.exit_code, 0) << command << "\n" << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  return nlohmann::json::parse(r.out);
}

// `program args` (program: a tool's path) ends with exit `code` and one line on stderr,
// "<tool>: error: …" containing `fragment`, and nothing on stdout (DESIGN.md's exit codes).
inline void expect_error(const std::string& program, const std::string& args, int code, const std::string& fragment) {
  const auto r = run_command(program + " " + args);
  const std::string prefix = std::filesystem::path(program).filename().string() + ": error: ";
  EXPECT_EQ(r.exit_code, code) << args << "\nstderr: " << r.err;
  EXPECT_EQ(line_count(r.err), 1) << args << "\nstderr: " << r.err;
  EXPECT_NE(r.err.find(prefix), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(fragment), std::string::npos) << args << "\nstderr: " << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

// make-checkpoint of a tanh cross-entropy MLP (`widths` as JSON, e.g. "[4,8,3]", weight decay `decay`
// as written in the spec) on the bundled iris data set (150 samples, embedded in the file) at `path`;
// `init` holds the initialisation flags ("--init zeros", "--seed 3"). Returns `path`.
inline std::string iris_mlp_checkpoint(const std::string& path, const std::string& widths, const std::string& decay,
                                       const std::string& init) {
  const auto r = run_command(tool_path("make-checkpoint") + " --model '{\"kind\":\"mlp\",\"widths\":" + widths +
                             ",\"activation\":\"tanh\",\"loss\":\"cross_entropy\",\"weight_decay\":" + decay +
                             "}' --data " + std::string(SADDLESCOPE_SOURCE_DIR) + "/data/datasets/iris.h5:iris --embed-data " +
                             init + " --out " + path);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return path;
}

// The resume check of run-optimizer's optimizers: 2·half steps against half + half through a checkpoint
// (an optimizer whose state survives a checkpoint continues bit for bit).
struct StraightAndResumed {
  io::Checkpoint straight, resumed;
  nlohmann::json summary;  // --json of the straight run
};

// run-optimizer START SETTINGS for 2·half steps, and for half + half steps through a checkpoint; files in
// `dir`. Fails the test (and returns empty checkpoints) when a run exits non-zero.
inline StraightAndResumed run_straight_and_resumed(const std::string& start, const std::string& settings, int half,
                                                   const TempDir& dir) {
  const std::string tool = tool_path("run-optimizer");
  const std::string straight = dir.file("straight.h5"), middle = dir.file("half.h5"), resumed = dir.file("resumed.h5");
  StraightAndResumed out;
  const auto r = run_command(tool + " " + start + settings + " --steps " + std::to_string(2 * half) + " --out " + straight + " --json");
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
  const auto m = run_command(tool + " " + start + settings + " --steps " + std::to_string(half) + " --out " + middle);
  EXPECT_EQ(m.exit_code, 0) << m.err;
  const auto s = run_command(tool + " " + middle + settings + " --steps " + std::to_string(half) + " --out " + resumed);
  EXPECT_EQ(s.exit_code, 0) << s.err;
  if (r.exit_code != 0 || m.exit_code != 0 || s.exit_code != 0) return out;
  out.summary = nlohmann::json::parse(r.out);
  out.straight = io::read_checkpoint(straight);
  out.resumed = io::read_checkpoint(resumed);
  return out;
}

}  // namespace saddlescope::testing
