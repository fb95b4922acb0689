// run-optimizer --histogram-every (issue #16 item 3): per-layer histograms of weights, gradients and
// updates in the run log — counts at steps 0 and K against a direct count of the parameter values the
// run's own checkpoints and trajectory hold, the edges kept across a resume (the resumed run's rows equal
// the uninterrupted run's, bit for bit), and bad settings refused with exit 2 and one line.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "io/checkpoint.h"
#include "io/hdf5.h"
#include "problem/problem.h"
#include "support/process.h"
#include "support/tool_runs.h"

namespace sc = saddlescope;
using sc::testing::run_command;
namespace h5 = sc::io::h5;
using sc::testing::TempDir;

namespace {

const std::string kTool = sc::testing::tool_path("run-optimizer");

// A Xavier start of an iris MLP (blocks layer1.weight, layer1.bias, layer2.weight, layer2.bias).
std::string start_checkpoint(const TempDir& dir) {
  return sc::testing::iris_mlp_checkpoint(dir.file("start.h5"), "[4,8,3]", "0.01", "--seed 3");
}

struct LogHistograms {
  std::vector<std::int64_t> step;
  std::vector<std::string> blocks;
  Eigen::Index bins = 0;
  // Per quantity (weights, gradients, updates): edges [L, B + 1], counts [H, L·B], underflow / overflow [H, L].
  std::map<std::string, Eigen::MatrixXd> edges, counts, underflow, overflow;
};

LogHistograms read_log(const std::string& path, bool swmr_read = false) {
  h5::Handle f = h5::open_file(path, false, swmr_read);
  h5::Handle g = h5::open_group(f.get(), "histograms");
  LogHistograms h;
  h.step = h5::read_int_vector(g.get(), "step", 1u << 20);
  for (const auto& name : nlohmann::json::parse(h5::read_string_attribute(g.get(), "blocks")))
    h.blocks.push_back(name.get<std::string>());
  h.bins = h5::read_int_attribute(g.get(), "bins");
  for (const std::string q : {"weights", "gradients", "updates"}) {
    h5::Handle group = h5::open_group(g.get(), q);
    h.edges[q] = h5::read_matrix(group.get(), "edges", 1u << 20);
    h.counts[q] = h5::read_matrix(group.get(), "counts", 1u << 24);
    h.underflow[q] = h5::read_matrix(group.get(), "underflow", 1u << 20);
    h.overflow[q] = h5::read_matrix(group.get(), "overflow", 1u << 20);
  }
  return h;
}

// Counts one block's values directly from the definition (docs/architectures.md): bin i holds
// edge_i <= v < edge_{i+1}, the last bin also v = edge_B; returns [underflow, bins..., overflow].
std::vector<std::int64_t> direct_count(const Eigen::VectorXd& v, const Eigen::RowVectorXd& edges) {
  const Eigen::Index bins = edges.size() - 1;
  std::vector<std::int64_t> c(static_cast<std::size_t>(bins + 2), 0);
  for (const double value : v) {
    std::size_t where = static_cast<std::size_t>(bins + 1);
    if (value < edges(0)) where = 0;
    for (Eigen::Index i = 0; i < bins; ++i)
      if (edges(i) <= value && (value < edges(i + 1) || (i == bins - 1 && value == edges(bins))))
        where = static_cast<std::size_t>(i + 1);
    ++c[where];
  }
  return c;
}

// The log's row `row` of quantity q for block l, as [underflow, bins..., overflow].
std::vector<std::int64_t> logged(const LogHistograms& h, const std::string& q, Eigen::Index row, Eigen::Index l) {
  std::vector<std::int64_t> c;
  c.push_back(static_cast<std::int64_t>(h.underflow.at(q)(row, l)));
  for (Eigen::Index i = 0; i < h.bins; ++i) c.push_back(static_cast<std::int64_t>(h.counts.at(q)(row, l * h.bins + i)));
  c.push_back(static_cast<std::int64_t>(h.overflow.at(q)(row, l)));
  return c;
}

}  // namespace

// Steps 0 and K = 3 of an SGD-with-momentum run: the weights come from the run's checkpoints (the start
// and <out>.step3.h5), the gradients from the objective rebuilt from them, the updates from the checkpoints
// after steps 1 and 4 — every number recomputed outside the trainer and counted directly.
TEST(HistogramsTool, CountsAtStepsZeroAndKMatchADirectCountOfTheCheckpointedValues) {
  TempDir dir;
  const std::string start = start_checkpoint(dir), log = dir.file("run.h5"), out = dir.file("end.h5");
  const std::string settings = " --optimizer sgd --lr 0.1 --momentum 0.9 --histogram-every 3 --histogram-bins 16";
  auto r = run_command(kTool + " " + start + settings + " --steps 5 --checkpoint-every 1 --log " + log + " --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const LogHistograms h = read_log(log);
  ASSERT_EQ(h.step, (std::vector<std::int64_t>{0, 3}));
  ASSERT_EQ(h.blocks, (std::vector<std::string>{"layer1.weight", "layer1.bias", "layer2.weight", "layer2.bias"}));
  ASSERT_EQ(h.bins, 16);

  auto params_after = [&](int steps) {
    return sc::io::read_checkpoint(steps == 0 ? start : dir.file("end.step" + std::to_string(steps) + ".h5")).params;
  };
  const auto problem = sc::problem::load_checkpoint_problem(start);
  const auto blocks = problem.objective->parameter_blocks();
  for (Eigen::Index row = 0; row < 2; ++row) {
    const int t = static_cast<int>(h.step[static_cast<std::size_t>(row)]);
    const Eigen::VectorXd x = params_after(t), next = params_after(t + 1);
    Eigen::VectorXd g;
    problem.objective->gradient(x, g);
    const std::map<std::string, Eigen::VectorXd> values = {{"weights", x}, {"gradients", g}, {"updates", next - x}};
    for (const auto& [q, v] : values) {
      for (std::size_t b = 0; b < blocks.size(); ++b) {
        const auto l = static_cast<Eigen::Index>(b);
        const auto counts = logged(h, q, row, l);
        EXPECT_EQ(counts, direct_count(v.segment(blocks[b].offset, blocks[b].size), h.edges.at(q).row(l)))
            << q << " of " << blocks[b].name << " at step " << t;
        std::int64_t total = 0;
        for (const auto c : counts) total += c;
        EXPECT_EQ(total, blocks[b].size) << "nothing dropped";
      }
    }
  }
  // The edges: fixed at step 0 by the documented rule, here checked on its two ends for the weights
  // (c ± w·h with w = 2 from the block's extremes at the start).
  const Eigen::VectorXd x0 = params_after(0);
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    const Eigen::VectorXd v = x0.segment(blocks[b].offset, blocks[b].size);
    const double c = 0.5 * (v.minCoeff() + v.maxCoeff()), half = 0.5 * (v.maxCoeff() - v.minCoeff());
    if (half == 0.0) continue;  // zero biases take the whole vector's half range (tests/optim/histograms_test.cpp)
    EXPECT_EQ(h.edges.at("weights")(static_cast<Eigen::Index>(b), 0), c - 2.0 * half);
    EXPECT_EQ(h.edges.at("weights")(static_cast<Eigen::Index>(b), 16), c + 2.0 * half);
  }
  // The checkpoints carry the edges.
  const auto end = sc::io::read_checkpoint(out);
  ASSERT_TRUE(end.histogram_edges.has_value());
  EXPECT_EQ(end.histogram_edges->blocks, h.blocks);
  EXPECT_EQ(end.histogram_edges->edges.at("updates"), h.edges.at("updates"));
}

// 8 steps straight, against 4 steps + a resume from their checkpoint for 4 more: the resumed log's rows
// (numbered from the checkpoint's step, so steps 4 and 6; docs/optim.md) are the straight log's rows at
// steps 4 and 6, bit for bit, on the same edges.
TEST(HistogramsTool, AResumedRunContinuesTheSameHistogramsBitForBit) {
  TempDir dir;
  const std::string start = start_checkpoint(dir);
  const std::string settings = " --optimizer sgd --lr 0.1 --momentum 0.9 --histogram-every 2 --histogram-bins 12";
  ASSERT_EQ(run_command(kTool + " " + start + settings + " --steps 8 --log " + dir.file("straight.h5")).exit_code, 0);
  ASSERT_EQ(run_command(kTool + " " + start + settings + " --steps 4 --log " + dir.file("first.h5") + " --out " +
                        dir.file("half.h5")).exit_code, 0);
  const auto r = run_command(kTool + " " + dir.file("half.h5") + settings + " --steps 4 --log " + dir.file("resumed.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const LogHistograms straight = read_log(dir.file("straight.h5")), resumed = read_log(dir.file("resumed.h5"));
  ASSERT_EQ(straight.step, (std::vector<std::int64_t>{0, 2, 4, 6}));
  ASSERT_EQ(resumed.step, (std::vector<std::int64_t>{4, 6}));
  for (const std::string q : {"weights", "gradients", "updates"}) {
    EXPECT_TRUE(resumed.edges.at(q) == straight.edges.at(q)) << q;
    EXPECT_TRUE(resumed.counts.at(q) == straight.counts.at(q).bottomRows(2)) << q;
    EXPECT_TRUE(resumed.underflow.at(q) == straight.underflow.at(q).bottomRows(2)) << q;
    EXPECT_TRUE(resumed.overflow.at(q) == straight.overflow.at(q).bottomRows(2)) << q;
  }
  // The counts moved between rows (else "the same histograms" would be a weak statement).
  EXPECT_FALSE(straight.counts.at("weights").row(0) == straight.counts.at("weights").row(3));
  // Another bin count cannot continue the checkpoint's edges: new edges are fixed (and recorded so).
  const auto other = run_command(kTool + " " + dir.file("half.h5") + " --optimizer sgd --lr 0.1 --momentum 0.9 "
                                 "--histogram-every 2 --histogram-bins 5 --steps 2 --log " + dir.file("other.h5"));
  ASSERT_EQ(other.exit_code, 0) << other.err;
  EXPECT_EQ(read_log(dir.file("other.h5")).edges.at("weights").cols(), 6);
}

TEST(HistogramsTool, BadSettingsAreRefusedWithExitTwoAndOneLine) {
  TempDir dir;
  const std::string run = "--problem rosenbrock:n=4 --steps 1 ";
  const std::string log = " --log " + dir.file("x.h5");
  sc::testing::expect_error(kTool, run + "--histogram-every -1" + log, 2, "--histogram-every");
  sc::testing::expect_error(kTool, run + "--histogram-every 2.5" + log, 2, "--histogram-every");
  sc::testing::expect_error(kTool, run + "--histogram-bins 0" + log, 2, "--histogram-bins");
  sc::testing::expect_error(kTool, run + "--histogram-bins -3" + log, 2, "--histogram-bins");
  sc::testing::expect_error(kTool, run + "--histogram-bins 4097" + log, 2, "--histogram-bins");
  sc::testing::expect_error(kTool, run + "--histogram-widen 0.5" + log, 2, "'widen' = 0.5 must be finite and >= 1");
  sc::testing::expect_error(kTool, run + "--histogram-widen nan" + log, 2, "'widen' = nan must be finite and >= 1");
  sc::testing::expect_error(kTool, run + "--histogram-every 2", 2, "--histogram-every needs --log");
}

// Crash safety (io/run_log.h): a run killed with SIGKILL leaves every flushed histogram row readable, with
// its edges, as many rows as its flushed steps call for, and every row complete.
TEST(HistogramsTool, SigkillLeavesEveryFlushedHistogramRow) {
  TempDir dir;
  const std::string log = dir.file("killed.h5");
  const pid_t pid = sc::testing::spawn_discarding_output(
      kTool, {"--problem", "rosenbrock:n=4", "--optimizer", "sgd", "--lr", "1e-5", "--steps", "1000000000", "--log", log,
              "--flush-every", "97", "--flush-seconds", "0.01", "--histogram-every", "10", "--histogram-bins", "7"});
  ASSERT_GT(pid, 0);
  // Until at least 50 histogram rows are on disk (30 s at most).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::size_t rows = 0;
  while (rows < 50 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    try {
      rows = read_log(log, /*swmr_read=*/true).step.size();
    } catch (const std::exception&) {  // not created yet
    }
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ASSERT_GE(rows, 50u);

  const LogHistograms h = read_log(log, /*swmr_read=*/true);
  h5::Handle f = h5::open_file(log, false, true);
  const auto steps = h5::read_int_vector(h5::open_group(f.get(), "steps").get(), "step", 1u << 30);
  const auto H = static_cast<Eigen::Index>(h.step.size());
  EXPECT_EQ(H, (static_cast<Eigen::Index>(steps.size()) + 9) / 10) << "rows of steps 0, 10, 20, ... below the step count";
  for (Eigen::Index r = 0; r < H; ++r) EXPECT_EQ(h.step[static_cast<std::size_t>(r)], 10 * r);
  for (const std::string q : {"weights", "gradients", "updates"}) {
    EXPECT_TRUE(h.edges.at(q).allFinite()) << q;
    ASSERT_EQ(h.counts.at(q).rows(), H);
    for (Eigen::Index r = 0; r < H; ++r)
      EXPECT_EQ(h.counts.at(q).row(r).sum() + h.underflow.at(q)(r, 0) + h.overflow.at(q)(r, 0), 4.0) << q << " row " << r;
  }
}

// Bad input: a checkpoint whose /histogram_edges are not usable edges is an invalid input file (exit 3,
// one line naming the dataset), not a run on nonsense bins.
TEST(HistogramsTool, CheckpointWithBrokenHistogramEdgesIsRefusedWithExitThree) {
  TempDir dir;
  auto c = sc::io::read_checkpoint(start_checkpoint(dir));
  sc::io::HistogramEdgeSet edges;
  edges.blocks = {"layer1.weight", "layer1.bias", "layer2.weight", "layer2.bias"};
  Eigen::MatrixXd e(4, 3);
  e << 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 2, 1;  // the last row is not increasing
  for (const std::string q : {"weights", "gradients", "updates"}) edges.edges[q] = e;
  c.histogram_edges = edges;
  sc::io::write_checkpoint(dir.file("decreasing.h5"), c, c.provenance);
  sc::testing::expect_error(kTool, dir.file("decreasing.h5") + " --steps 1", 3,
                            "dataset '/histogram_edges/gradients' has a row that is not strictly increasing");
  for (const std::string q : {"weights", "gradients", "updates"}) edges.edges[q] = e.topRows(3);  // 3 rows, 4 blocks
  c.histogram_edges = edges;
  sc::io::write_checkpoint(dir.file("short.h5"), c, c.provenance);
  sc::testing::expect_error(kTool, dir.file("short.h5") + " --steps 1", 3, "'/histogram_edges/gradients' must be [4 blocks");
}
