// Per-layer histograms (optim/histograms.h): the counting rule against a naive count over the stated
// definition, the edge rule, and the Trainer's rows against values recomputed from the run itself.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "objective/test_functions.h"
#include "optim/histograms.h"
#include "optim/trainer.h"

namespace sc = saddlescope;
using sc::optim::HistogramCounts;
using Blocks = std::vector<sc::objective::Objective::Block>;

namespace {

// The definition in histograms.h, evaluated literally: bin i holds edge_i <= v < edge_{i+1} (the last bin
// also v = edge_B); below edge_0 underflow; everything else (above edge_B, NaN) overflow.
HistogramCounts naive_count(const Blocks& blocks, const Eigen::VectorXd& v, const Eigen::MatrixXd& edges) {
  const Eigen::Index bins = edges.cols() - 1;
  HistogramCounts c = HistogramCounts::Zero(static_cast<Eigen::Index>(blocks.size()), bins + 2);
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    const auto r = static_cast<Eigen::Index>(b);
    for (Eigen::Index k = blocks[b].offset; k < blocks[b].offset + blocks[b].size; ++k) {
      Eigen::Index where = bins + 1;
      if (v(k) < edges(r, 0)) where = 0;
      for (Eigen::Index i = 0; i < bins; ++i) {
        const bool last = i == bins - 1;
        if (edges(r, i) <= v(k) && (v(k) < edges(r, i + 1) || (last && v(k) == edges(r, i + 1)))) where = i + 1;
      }
      ++c(r, where);
    }
  }
  return c;
}

}  // namespace

TEST(Histograms, CountsFollowTheStatedRuleOnEdgesInfinitiesAndNaN) {
  const Blocks blocks = {{"a", 0, 9}, {"b", 9, 3}};
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  Eigen::VectorXd v(12);
  // Block a: exactly on every edge of [0, 1] in 4 bins (0, .25, .5, .75, 1), just outside, ±inf, NaN.
  v << 0.0, 0.25, 0.5, 0.75, 1.0, -1e-300, std::nextafter(1.0, 2.0), -inf, nan,
      // Block b: inside, +inf and a value equal to its first edge.
      3.0, inf, -5.0;
  Eigen::MatrixXd edges(2, 5);
  edges << 0.0, 0.25, 0.5, 0.75, 1.0,  //
      -5.0, -2.5, 0.0, 2.5, 5.0;
  HistogramCounts counts;
  sc::optim::count_histograms(blocks, v, edges, counts);
  EXPECT_EQ(counts, naive_count(blocks, v, edges));
  // By hand from the rule: a = [underflow 2 (−1e-300, −inf), 1, 1, 1, 2 (0.75 and 1.0), overflow 2 (next
  // above 1, NaN)]; b = [0, 1 (−5), 0, 0, 1 (3), overflow 1 (+inf)].
  HistogramCounts expected(2, 6);
  expected << 2, 1, 1, 1, 2, 2,  //
      0, 1, 0, 0, 1, 1;
  EXPECT_EQ(counts, expected);
}

TEST(Histograms, CountsAgreeWithANaiveCountOnRandomValues) {
  const Blocks blocks = {{"w", 0, 500}, {"b", 500, 30}};
  sc::random::Rng rng(5, 0);
  Eigen::VectorXd v(530);
  for (Eigen::Index i = 0; i < v.size(); ++i) v(i) = rng.normal() * (i < 500 ? 1.0 : 1e-3);
  // Edges from the first half's range: the second half's values fall outside as well as inside.
  const Eigen::MatrixXd edges = sc::optim::HistogramEdges::from_first_step(blocks, v * 0.5, 37, 1.5);
  HistogramCounts counts;
  sc::optim::count_histograms(blocks, v, edges, counts);
  EXPECT_EQ(counts, naive_count(blocks, v, edges));
  EXPECT_EQ(counts.row(0).sum(), 500);
  EXPECT_EQ(counts.row(1).sum(), 30);
  EXPECT_GT(counts(0, 0) + counts(0, 38), 0);  // the test reaches underflow or overflow
}

TEST(Histograms, EdgesFollowTheDocumentedRule) {
  const Blocks blocks = {{"w", 0, 3}, {"zero", 3, 2}};
  Eigen::VectorXd v(5);
  v << -1.0, 3.0, 0.5, 0.0, 0.0;
  const Eigen::MatrixXd e = sc::optim::HistogramEdges::from_first_step(blocks, v, 4, 2.0);
  // w: c = 1, h = 2, w·h = 4: [−3, 5] in 4 bins of width 2 (exact in binary).
  EXPECT_EQ(e.row(0), (Eigen::RowVectorXd(5) << -3.0, -1.0, 1.0, 3.0, 5.0).finished());
  // zero: all values equal, so h is the whole vector's half range, 2: [−4, 4].
  EXPECT_EQ(e.row(1), (Eigen::RowVectorXd(5) << -4.0, -2.0, 0.0, 2.0, 4.0).finished());
  // All values equal everywhere: h = 1.
  const Eigen::MatrixXd ones = sc::optim::HistogramEdges::from_first_step(blocks, Eigen::VectorXd::Ones(5), 2, 1.0);
  EXPECT_EQ(ones.row(0), (Eigen::RowVectorXd(3) << 0.0, 1.0, 2.0).finished());
}

TEST(Histograms, OptionsNameTheFieldTheValueAndTheRule) {
  sc::optim::HistogramOptions o;
  std::string why;
  o.every = -1;
  EXPECT_FALSE(o.IsValid(&why));
  EXPECT_EQ(why, "histograms: 'every' = -1 must be >= 0 (0: off)");
  o = {};
  o.bins = 0;
  EXPECT_FALSE(o.IsValid(&why));
  EXPECT_EQ(why, "histograms: 'bins' = 0 must be >= 1");
  o = {};
  o.widen = 0.5;
  EXPECT_FALSE(o.IsValid(&why));
  EXPECT_EQ(why, "histograms: 'widen' = 0.5 must be finite and >= 1");
}

// The Trainer's rows at steps 0 and K hold the counts of x_t, ∇f(x_t) and x_{t+1} − x_t, recomputed here
// from the recorded trajectory and the objective.
TEST(Histograms, TrainerRowsCountTheWeightsGradientsAndUpdatesOfTheirStep) {
  const auto f = sc::objective::make_test_function("rosenbrock:n=6");
  sc::optim::OptimizerConfig config = sc::optim::OptimizerConfig::defaults(sc::optim::OptimizerKind::sgd);
  config.lr = 1e-3;
  config.momentum = 0.9;
  auto optimizer = sc::optim::make_optimizer(config);
  sc::optim::TrainerOptions o;
  o.steps = 5;
  o.trajectory_every = 1;
  o.histograms.every = 2;
  o.histograms.bins = 8;
  Eigen::VectorXd x = Eigen::VectorXd::LinSpaced(6, -1.0, 1.5);
  sc::optim::MemoryRecorder memory;
  sc::optim::train(*f, x, *optimizer, o, {&memory});
  ASSERT_EQ(memory.histograms.size(), 3u);  // steps 0, 2, 4
  ASSERT_EQ(memory.trajectory.size(), 6u);  // x_0 … x_4, and the final x_5
  const Blocks blocks = f->parameter_blocks();
  for (std::size_t h = 0; h < 3; ++h) {
    const auto& row = memory.histograms[h];
    const auto t = static_cast<std::size_t>(row.step);
    EXPECT_EQ(row.step, static_cast<std::int64_t>(2 * h));
    const Eigen::VectorXd& xt = memory.trajectory[t].second;
    Eigen::VectorXd g;
    f->gradient(xt, g);
    const Eigen::VectorXd update = memory.trajectory[t + 1].second - xt;
    const auto& edges = memory.histogram_edges.edges;
    EXPECT_EQ(row.counts[0], naive_count(blocks, xt, edges[0])) << "weights at step " << t;
    EXPECT_EQ(row.counts[1], naive_count(blocks, g, edges[1])) << "gradients at step " << t;
    EXPECT_EQ(row.counts[2], naive_count(blocks, update, edges[2])) << "updates at step " << t;
  }
  // The edges were fixed at step 0 from x_0 (rule of EdgesFollowTheDocumentedRule).
  EXPECT_EQ(memory.histogram_edges.edges[0],
            sc::optim::HistogramEdges::from_first_step(blocks, memory.trajectory[0].second, 8, 2.0));
}
