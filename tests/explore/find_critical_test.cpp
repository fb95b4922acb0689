// find_critical_points: every index found, duplicates merged, thread-count invariance, Spearman.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <tuple>
#include <vector>

#include "explore/find_critical.h"
#include "problem/problem.h"
#include "support/options.h"

namespace sc = saddlescope;
using sc::explore::FindOptions;
using sc::explore::FindSummary;

namespace {

sc::explore::ObjectiveFactory function(const std::string& spec) {
  return [spec] { return sc::problem::make_objective({{"kind", "function"}, {"function", spec}}, nullptr); };
}

FindOptions box_options(std::int64_t starts, std::uint64_t seed) {
  FindOptions o;
  o.starts = starts;
  o.box_lo = -5.0;
  o.box_hi = 5.0;
  o.seed = seed;
  o.grad_tol = 1e-9;
  o.classify.grad_tol = o.grad_tol;
  return o;
}

std::map<std::string, int> verdict_counts(const FindSummary& r) {
  std::map<std::string, int> counts;
  for (const auto& p : r.points) ++counts[std::string(sc::critical::to_string(p.classification.verdict))];
  return counts;
}

TEST(FindCritical, HimmelblauAllNinePoints) {
  const FindSummary r = sc::explore::find_critical_points(function("himmelblau"), box_options(80, 1));
  ASSERT_EQ(r.points.size(), 9u);
  // Himmelblau's function has 4 minima, 1 maximum and 4 saddles (the spec's documentation; e.g.
  // Himmelblau, "Applied Nonlinear Programming", 1972).
  const auto counts = verdict_counts(r);
  EXPECT_EQ(counts.at("local_minimum"), 4);
  EXPECT_EQ(counts.at("local_maximum"), 1);
  EXPECT_EQ(counts.at("strict_saddle"), 4);
  for (const auto& p : r.points) {
    const auto& c = p.classification;
    EXPECT_LE(c.grad_norm, 1e-9);
    // Every minimum is a zero of both squares, so f = 0 there; at grad ≤ 1e-9 with λ ≥ 8 the point is
    // within ~1e-10 of it and f within ~1e-19.
    if (c.verdict == sc::critical::Verdict::local_minimum) {
      EXPECT_LT(c.value, 1e-15);
    }
    if (c.verdict == sc::critical::Verdict::strict_saddle) {
      EXPECT_EQ(c.index, 1);
    }
    if (c.verdict == sc::critical::Verdict::local_maximum) {
      EXPECT_EQ(c.index, 2);
    }
  }
  // One minimum is known in closed form: (3, 2).
  bool found = false;
  for (const auto& p : r.points) found = found || (p.x - Eigen::Vector2d(3.0, 2.0)).norm() < 1e-9;
  EXPECT_TRUE(found);
}

TEST(FindCritical, DuplicatesMerged) {
  const FindSummary r = sc::explore::find_critical_points(function("himmelblau"), box_options(80, 1));
  std::int64_t merged = 0;
  for (const auto& p : r.points) merged += p.start_count;
  // Every converged start is attached to exactly one point; all but the first of each are duplicates.
  EXPECT_EQ(merged, r.converged);
  EXPECT_EQ(r.duplicates, r.converged - static_cast<std::int64_t>(r.points.size()));
  EXPECT_GT(r.duplicates, 0);
  EXPECT_EQ(r.converged + r.stalled + r.max_iterations + r.diverged, 80);
  // Distinct points are far apart (Himmelblau's nearest pair is > 1 apart), not copies within rounding.
  for (std::size_t a = 0; a < r.points.size(); ++a)
    for (std::size_t b = a + 1; b < r.points.size(); ++b) EXPECT_GT((r.points[a].x - r.points[b].x).norm(), 0.5);
  for (std::size_t s = 0; s < r.starts.size(); ++s)
    if (r.starts[s].status == sc::explore::StartStatus::converged) {
      ASSERT_GE(r.starts[s].point, 0);
      EXPECT_LE(r.points[r.starts[s].point].first_start, static_cast<std::int64_t>(s));
    } else {
      EXPECT_EQ(r.starts[s].point, -1);
    }
}

TEST(FindCritical, ConvergesToSaddlesOfEveryIndex) {
  // Styblinski–Tang in 3-D: each coordinate solves 2x³ − 16x + 2.5 = 0, with two roots where the
  // second derivative 6x² − 16 is positive and one where it is negative, so the 27 critical points have
  // index k for C(3,k)·2^(3−k) of them: 8, 12, 6, 1.
  const FindSummary r = sc::explore::find_critical_points(function("styblinski_tang:n=3"), box_options(400, 2));
  ASSERT_EQ(r.points.size(), 27u);
  std::map<long, int> by_index;
  for (const auto& p : r.points) {
    ++by_index[static_cast<long>(p.classification.index)];
    const auto v = p.classification.verdict;
    const long k = static_cast<long>(p.classification.index);
    EXPECT_EQ(v, k == 0   ? sc::critical::Verdict::local_minimum
                 : k == 3 ? sc::critical::Verdict::local_maximum
                          : sc::critical::Verdict::strict_saddle);
  }
  EXPECT_EQ(by_index[0], 8);
  EXPECT_EQ(by_index[1], 12);
  EXPECT_EQ(by_index[2], 6);
  EXPECT_EQ(by_index[3], 1);
  // Separable: the value is the sum of per-coordinate values, and the max-type root has the highest
  // per-coordinate value, so the index and the loss are perfectly rank-correlated up to ties: check > 0.9.
  std::vector<double> loss, index;
  for (const auto& p : r.points) {
    loss.push_back(p.classification.value);
    index.push_back(static_cast<double>(p.classification.index));
  }
  EXPECT_GT(sc::explore::spearman_correlation(loss, index), 0.9);
}

TEST(FindCritical, QuadraticSaddleIsTheOnlyPoint) {
  // ½xᵀAx with 3 negative eigenvalues out of 6: the origin is the only critical point, of index 3.
  // A minimiser would run off to −∞; Newton's step lands on it at once.
  const FindSummary r =
      sc::explore::find_critical_points(function("quadratic:n=6,kappa=10,negative=3,seed=4"), box_options(10, 3));
  ASSERT_EQ(r.points.size(), 1u);
  EXPECT_EQ(r.converged, 10);
  EXPECT_EQ(r.points[0].classification.verdict, sc::critical::Verdict::strict_saddle);
  EXPECT_EQ(r.points[0].classification.index, 3);
  EXPECT_LT(r.points[0].x.norm(), 1e-9);
}

TEST(FindCritical, SameBitsForAnyThreadCount) {
  FindOptions o = box_options(60, 5);
  o.threads = 1;
  const FindSummary a = sc::explore::find_critical_points(function("himmelblau"), o);
  o.threads = 3;
  const FindSummary b = sc::explore::find_critical_points(function("himmelblau"), o);
  ASSERT_EQ(a.points.size(), b.points.size());
  for (std::size_t k = 0; k < a.points.size(); ++k) {
    EXPECT_EQ(a.points[k].x, b.points[k].x);
    EXPECT_EQ(a.points[k].start_count, b.points[k].start_count);
    EXPECT_EQ(a.points[k].classification.lambda_min, b.points[k].classification.lambda_min);
  }
  for (std::size_t s = 0; s < a.starts.size(); ++s) {
    EXPECT_EQ(a.starts[s].status, b.starts[s].status);
    EXPECT_EQ(a.starts[s].iterations, b.starts[s].iterations);
    EXPECT_EQ(a.starts[s].value, b.starts[s].value);
  }
}

TEST(FindCritical, ProgressCountsEveryStartThenEveryPointOnce) {
  // The library's progress hook (what the tool's progress line draws): one call per finished start,
  // then one per classified point, counting up to the totals, whatever the threads. Calls are
  // serialised, so the counts seen are strictly increasing within a stage.
  FindOptions o = box_options(40, 5);
  o.threads = 3;
  std::vector<std::tuple<std::string, std::int64_t, std::int64_t>> calls;
  o.progress = [&](std::string_view stage, std::int64_t done, std::int64_t total) {
    calls.emplace_back(std::string(stage), done, total);
  };
  const FindSummary r = sc::explore::find_critical_points(function("himmelblau"), o);
  const auto points = static_cast<std::int64_t>(r.points.size());
  ASSERT_EQ(calls.size(), static_cast<std::size_t>(o.starts + points));
  for (std::int64_t i = 0; i < o.starts; ++i) EXPECT_EQ(calls[i], std::make_tuple(std::string("starts"), i + 1, o.starts));
  for (std::int64_t k = 0; k < points; ++k)
    EXPECT_EQ(calls[o.starts + k], std::make_tuple(std::string("classify"), k + 1, points));
}

TEST(FindCritical, NonConvergedStartsAreCounted) {
  // tanh has no critical point; its gradient sech²x drops below 1e-9 only for |x| > 10.7. Newton's step
  // on sech²x = 0 is 1/(2·tanh x) ≤ 0.52 for x ≥ 2 (damping only shortens it), so two steps from [2, 3]
  // end below x = 4.1, where the gradient is still ≈ 1e-3: every start must end not converged.
  FindOptions o = box_options(5, 1);
  o.box_lo = 2.0;
  o.box_hi = 3.0;
  o.max_iterations = 2;
  const FindSummary r = sc::explore::find_critical_points(function("tanh"), o);
  EXPECT_TRUE(r.points.empty());
  EXPECT_EQ(r.converged, 0);
  EXPECT_EQ(r.stalled + r.max_iterations + r.diverged, 5);
  for (const auto& s : r.starts) EXPECT_EQ(s.point, -1);
}

TEST(FindCritical, InvalidOptionsNameTheField) {
  FindOptions o = box_options(0, 1);
  sc::testing::expect_invalid(o, "starts");
  EXPECT_THROW(sc::explore::find_critical_points(function("himmelblau"), o), std::invalid_argument);
  o = box_options(5, 1);
  o.box_lo = 3;
  o.box_hi = 1;
  sc::testing::expect_invalid(o, "box_lo");
}

TEST(Spearman, KnownValues) {
  EXPECT_DOUBLE_EQ(sc::explore::spearman_correlation({1, 2, 3, 4}, {10, 20, 30, 40}), 1.0);
  EXPECT_DOUBLE_EQ(sc::explore::spearman_correlation({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  // Ties take the average rank: ranks (1,2,3,4) against (1.5,1.5,3.5,3.5) give 4/√(5·4) = 2/√5.
  EXPECT_NEAR(sc::explore::spearman_correlation({1, 2, 3, 4}, {1, 1, 2, 2}), 2.0 / std::sqrt(5.0), 1e-15);
  EXPECT_TRUE(std::isnan(sc::explore::spearman_correlation({1, 2, 3}, {5, 5, 5})));
  EXPECT_TRUE(std::isnan(sc::explore::spearman_correlation({1}, {2})));
}

}  // namespace
