// --threads above the core count (issue #17, item 11: a Lanczos run took 0.95 s at 1 thread and 61 s at
// 3 on 2 cores, because Eigen's parallel GEMM and OpenBLAS's workers busy-wait for descheduled peers).
// The count is capped at the cores available, with one warning line; these tests pin the decision and
// that the tools apply it — not the timing, which belongs to tools/bench.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "cli/threads.h"
#include "support/process.h"

namespace sc = saddlescope;
using sc::testing::run_command;

namespace {

TEST(Threads, MoreThreadsThanCoresMakeLanczosSlowerIsCappedAtTheCoreCount) {
  const sc::cli::ThreadSetting over = sc::cli::plan_threads(3, 2);
  EXPECT_EQ(over.used, 2);
  EXPECT_EQ(over.requested, 3);
  EXPECT_NE(over.note.find("--threads 3 exceeds the 2 cores available; using 2"), std::string::npos) << over.note;
  const sc::cli::ThreadSetting within = sc::cli::plan_threads(2, 2);
  EXPECT_EQ(within.used, 2);
  EXPECT_TRUE(within.note.empty());
  EXPECT_EQ(sc::cli::plan_threads(1, 64).used, 1);
  EXPECT_THROW(sc::cli::plan_threads(0, 2), std::invalid_argument);
  EXPECT_GE(sc::cli::available_cores(), 1);
}

TEST(Threads, ToolWarnsOnceAndGivesTheSameAnswerAboveTheCoreCount) {
  // A Lanczos run (quadratic n = 300, --method lanczos) with one thread more than this machine has:
  // one warning line on stderr naming the cap, exit 0, and the same eigenvalues as with 1 thread
  // (results do not depend on the thread count: README, "Determinism").
  const int over = sc::cli::available_cores() + 1;
  const std::string tool = sc::testing::tool_path("hessian-spectrum");
  const std::string args = " --problem quadratic:n=300,kappa=100,negative=3,seed=1 --at start --method lanczos"
                           " --top 2 --bottom 2 --density-probes 0 --trace-samples 0 --json";
  const auto one = run_command(tool + args + " --threads 1");
  const auto many = run_command(tool + args + " --threads " + std::to_string(over));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  ASSERT_EQ(many.exit_code, 0) << many.err;
  EXPECT_TRUE(one.err.empty()) << one.err;
  EXPECT_EQ(sc::testing::line_count(many.err), 1) << many.err;
  EXPECT_NE(many.err.find("warning: --threads " + std::to_string(over) + " exceeds"), std::string::npos) << many.err;
  const auto a = nlohmann::json::parse(one.out), b = nlohmann::json::parse(many.out);
  EXPECT_EQ(a["eigenvalues_top"].dump(), b["eigenvalues_top"].dump());
  EXPECT_EQ(a["eigenvalues_bottom"].dump(), b["eigenvalues_bottom"].dump());
}

}  // namespace
