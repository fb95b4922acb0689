#pragma once
// Tool-test support: a run of 2k steps against k steps, a checkpoint, and k more steps from it — the
// resume check of run-optimizer's optimizers (an optimizer whose state survives a checkpoint continues
// bit for bit).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "io/checkpoint.h"
#include "support/process.h"

namespace saddlescope::testing {

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
