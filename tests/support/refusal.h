#pragma once
// The hostile-input contract checked against the real tools (tests/hardening): a refused input or flag
// ends in exit code 2 (usage) or 3 (bad input file), exactly one line on stderr naming the problem, no
// signal (exit code < 128) and no hang (each run under `timeout 30`). Runs under `ulimit -v` 2 GiB
// (outside sanitizer builds, whose shadow memory needs terabytes of address space), so a size claimed
// by a file or spec that was trusted before allocating shows up as a failure.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/process.h"

namespace saddlescope::testing {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

// `s` quoted for /bin/sh.
inline std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs `tool args` with the limits above; checks the contract; `mentions` must all occur on stderr.
// `env` (e.g. "SADDLESCOPE_HDF5_GUARD_TIMEOUT=3 ") is put before the tool's command. Returns the run.
inline ProcessResult expect_refusal(const std::string& tool, const std::string& args,
                                    const std::vector<std::string>& mentions, const std::string& env = "") {
  const std::string limit = kSanitized ? "" : "ulimit -v 2097152; ";
  const auto r = run_command("(" + limit + env + "exec timeout 30 " + tool_path(tool) + " " + args + ")");
  SCOPED_TRACE(tool + " " + args);
  EXPECT_NE(r.exit_code, 124) << "timed out (hang)";
  EXPECT_LT(r.exit_code, 128) << "killed by a signal: " << r.err;
  EXPECT_TRUE(r.exit_code == 2 || r.exit_code == 3) << "exit code " << r.exit_code << ", stderr: " << r.err;
  EXPECT_EQ(line_count(r.err), 1) << "stderr: " << r.err;
  EXPECT_TRUE(r.out.empty()) << "stdout: " << r.out;
  for (const auto& m : mentions) EXPECT_NE(r.err.find(m), std::string::npos) << "'" << m << "' not named in: " << r.err;
  return r;
}

}  // namespace saddlescope::testing
