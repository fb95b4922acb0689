// The one progress display of the tools (lib/cli/progress.h), drawn into a string stream.
#include "cli/progress.h"

#include <gtest/gtest.h>

#include <sstream>
#include <thread>
#include <vector>

namespace {

using saddlescope::cli::ProgressLine;

TEST(ProgressLine, DrawsStageCountPercentAndDetailThenErases) {
  std::ostringstream out;
  std::string drawn;
  {
    ProgressLine line("tool", out, std::chrono::milliseconds(0));
    line.update("starts", 1, 4, "loss 3");
    drawn = out.str();
    EXPECT_EQ(drawn.rfind("\rtool: starts 1/4 (25%)  loss 3  ", 0), 0u) << drawn;
    EXPECT_EQ(drawn.substr(drawn.size() - 2), " s");
  }  // the destructor erases the line: carriage return, blanks over every drawn column, carriage return
  const std::size_t width = drawn.size() - 1;  // the drawn line without its leading '\r'
  EXPECT_EQ(out.str(), drawn + "\r" + std::string(width, ' ') + "\r");
}

TEST(ProgressLine, NothingBeforeTheDelay) {
  // DESIGN.md: a progress display only for work that takes more than a second.
  std::ostringstream out;
  ProgressLine line("tool", out, std::chrono::hours(1));
  line.update("points", 1, 2);
  line.finish();
  EXPECT_EQ(out.str(), "");
}

TEST(ProgressLine, TheLastUnitOfAStageIsAlwaysDrawn) {
  // Redraws are limited to 10 a second, except the final count, so a finished stage never shows 99%.
  std::ostringstream out;
  ProgressLine line("tool", out, std::chrono::milliseconds(0));
  for (int done = 1; done <= 1000; ++done) line.update("points", done, 1000);
  EXPECT_NE(out.str().find("points 1000/1000 (100%)"), std::string::npos);
  EXPECT_LT(out.str().size(), 100u * 60u);  // far fewer than 1000 redraws within a fraction of a second
}

TEST(ProgressLine, ConcurrentUpdatesDrawWholeLines) {
  // Workers report from their own threads (find-critical, loss-slice); calls are serialised.
  std::ostringstream out;
  ProgressLine line("tool", out, std::chrono::milliseconds(0));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 1; i <= 200; ++i) line.update("points", i, 200);
    });
  for (auto& t : threads) t.join();
  line.finish();
  // Every drawn segment starts with the tool's prefix: no interleaved characters from two updates.
  const std::string s = out.str();
  for (std::size_t p = s.find('\r'); p != std::string::npos; p = s.find('\r', p + 1)) {
    const std::string segment = s.substr(p + 1, 5);
    EXPECT_TRUE(segment == "tool:" || segment.find_first_not_of(' ') == std::string::npos || segment.empty())
        << segment;
  }
}

}  // namespace
