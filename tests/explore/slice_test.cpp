// Loss slices: filter normalisation, grid geometry, interpolation end points, eigenvector directions.
#include <gtest/gtest.h>

#include <cmath>
#include <string_view>
#include <vector>

#include "explore/slice.h"
#include "models/spec.h"
#include "problem/problem.h"
#include "random/random.h"
#include "support/options.h"

namespace sc = saddlescope;
using sc::objective::Vector;

namespace {

std::unique_ptr<sc::objective::Objective> small_mlp() {
  sc::io::DataArrays data;
  sc::random::Rng rng(11, 0);
  data.X.resize(12, 4);
  data.y.resize(12, 1);
  for (int i = 0; i < 12; ++i) {
    for (int j = 0; j < 4; ++j) data.X(i, j) = rng.normal();
    data.y(i, 0) = i % 3;
  }
  return sc::models::make_network(
      {{"kind", "mlp"}, {"widths", {4, 5, 3}}, {"activation", "tanh"}, {"loss", "cross_entropy"}}, data);
}

Vector random_vector(sc::objective::Index n, std::uint64_t seed) {
  sc::random::Rng rng(seed, 0);
  Vector v(n);
  for (auto i = 0; i < n; ++i) v(i) = rng.normal();
  return v;
}

TEST(FilterNormalization, EachRowHasTheWeightRowsNorm) {
  const auto f = small_mlp();
  // Layer 1: W [5, 4] then b [5]; layer 2: W [3, 5] then b [3] (models/network.h layout).
  const auto rows = sc::explore::filter_row_lengths(*f);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0], 4);
  EXPECT_EQ(rows[1], 0);
  EXPECT_EQ(rows[2], 5);
  EXPECT_EQ(rows[3], 0);
  const Vector w = random_vector(f->dim(), 1);
  Vector d = random_vector(f->dim(), 2);
  sc::explore::filter_normalize(*f, w, d, true);
  const auto blocks = f->parameter_blocks();
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    if (rows[b] == 0) {
      EXPECT_TRUE(d.segment(blocks[b].offset, blocks[b].size).isZero(0.0)) << blocks[b].name;
      continue;
    }
    for (auto r = blocks[b].offset; r < blocks[b].offset + blocks[b].size; r += rows[b]) {
      // ‖d_row‖·‖w_row‖/(‖d_row‖ + 1e-10) differs from ‖w_row‖ by a relative 1e-10/‖d_row‖ ≈ 5e-11 (‖d_row‖
      // ≈ 2 for 4–5 standard normal entries), plus rounding: 1e-9 relative.
      EXPECT_NEAR(d.segment(r, rows[b]).norm(), w.segment(r, rows[b]).norm(), 1e-9 * w.segment(r, rows[b]).norm());
    }
  }
  // Keeping 1-D blocks normalises each as one filter.
  Vector e = random_vector(f->dim(), 2);
  sc::explore::filter_normalize(*f, w, e, false);
  EXPECT_NEAR(e.segment(blocks[1].offset, 5).norm(), w.segment(blocks[1].offset, 5).norm(), 1e-9);
}

TEST(SlicePlan, GridHitsTheRangeEndsAndPointsFollowTheFormula) {
  const auto f = sc::problem::make_objective({{"kind", "function"}, {"function", "himmelblau"}}, nullptr);
  sc::explore::SliceOptions o;
  o.dims = 2;
  o.points1 = 7;
  o.points2 = 4;
  o.lo1 = -0.3;
  o.hi1 = 0.7;
  o.lo2 = -1.1;
  o.hi2 = 0.9;
  o.normalization = sc::explore::Normalization::none;
  const Vector c = Vector::Constant(2, 0.25);
  const auto plan = sc::explore::make_slice_plan(*f, c, nullptr, o);
  EXPECT_EQ(plan.alpha(0), -0.3);
  EXPECT_EQ(plan.alpha(6), 0.7);
  EXPECT_EQ(plan.beta(0), -1.1);
  EXPECT_EQ(plan.beta(3), 0.9);
  ASSERT_EQ(plan.size(), 28);
  // Row-major: k = i·n2 + j; the point is c + α_i d1 + β_j d2 (to rounding of two axpys).
  const Vector x = plan.point(2 * 4 + 3);
  EXPECT_TRUE(x.isApprox(c + plan.alpha(2) * plan.d1 + plan.beta(3) * plan.d2, 1e-15));
}

TEST(SlicePlan, InterpolationHitsBothEndsExactly) {
  const auto f = small_mlp();
  const Vector a = random_vector(f->dim(), 3), b = random_vector(f->dim(), 4);
  sc::explore::SliceOptions o;
  o.directions = sc::explore::SliceDirections::interpolate;
  o.points1 = 11;
  o.lo1 = 0.0;
  o.hi1 = 1.0;
  const auto unit = sc::explore::make_slice_plan(*f, a, &b, o);
  EXPECT_EQ(unit.alpha(0), 0.0);
  EXPECT_EQ(unit.alpha(10), 1.0);
  EXPECT_EQ(unit.point(0), a);   // (1 − 0)·a + 0·b, bit for bit
  EXPECT_EQ(unit.point(10), b);  // 0·a + 1·b, bit for bit
}

TEST(SlicePlan, EigenvectorDirectionsAreHessianEigenvectors) {
  const auto f = sc::problem::make_objective({{"kind", "function"}, {"function", "quadratic:n=8,kappa=10,negative=2,seed=1"}},
                                             nullptr);
  sc::explore::SliceOptions o;
  o.directions = sc::explore::SliceDirections::extreme;
  o.dims = 2;
  o.points1 = 3;
  o.points2 = 3;
  const Vector c = Vector::Zero(8);
  const auto plan = sc::explore::make_slice_plan(*f, c, nullptr, o);
  sc::objective::Matrix H;
  f->hessian(c, H);
  // Spectrum by construction: |λ| = 10^{j/7}, the two smallest negated → λ_min = −10^{1/7}, λ_max = 10.
  EXPECT_NEAR(plan.eigenvalues(0), -std::pow(10.0, 1.0 / 7.0), 1e-7);
  EXPECT_NEAR(plan.eigenvalues(1), 10.0, 1e-7);
  // Residuals ‖Hv − λv‖ at the Lanczos tolerance 1e-8·‖H‖ = 1e-7.
  EXPECT_LT((H * plan.d1 - plan.eigenvalues(0) * plan.d1).norm(), 1e-6);
  EXPECT_LT((H * plan.d2 - plan.eigenvalues(1) * plan.d2).norm(), 1e-6);
  // Along an eigenvector of a quadratic, f(c + αv) = ½λα² exactly (to rounding).
  sc::explore::SliceValues values;
  values.resize(plan.size(), false);
  auto factory = [] {
    return sc::problem::make_objective({{"kind", "function"}, {"function", "quadratic:n=8,kappa=10,negative=2,seed=1"}},
                                       nullptr);
  };
  sc::explore::evaluate_slice(factory, plan, o, 2, -1, 4, values, nullptr);
  EXPECT_NEAR(values.loss(0 * 3 + 1), 0.5 * plan.eigenvalues(0), 1e-6);  // α = −1, β = 0
  EXPECT_NEAR(values.loss(1 * 3 + 2), 0.5 * plan.eigenvalues(1), 1e-6);  // α = 0, β = 1
}

TEST(EvaluateSlice, ProgressCountsThePointsOfThisRun) {
  // The progress hook counts the points this run computes (not those done before, as in a resumed
  // file), one serialised call per point, up to the total.
  sc::explore::SliceOptions o;
  o.points1 = 7;
  const auto factory = [] { return sc::problem::make_objective({{"kind", "function"}, {"function", "himmelblau"}}, nullptr); };
  const auto f = factory();
  const sc::explore::SlicePlan plan = sc::explore::make_slice_plan(*f, sc::objective::Vector::Zero(2), nullptr, o);
  sc::explore::SliceValues values;
  values.resize(plan.size(), false);
  values.done[0] = 1;  // as if resumed with one point done
  std::vector<std::int64_t> seen;
  o.progress = [&](std::string_view stage, std::int64_t done, std::int64_t total) {
    EXPECT_EQ(stage, "points");
    EXPECT_EQ(total, 6);
    seen.push_back(done);
  };
  EXPECT_EQ(sc::explore::evaluate_slice(factory, plan, o, 2, -1, 4, values, nullptr), 6);
  EXPECT_EQ(seen, (std::vector<std::int64_t>{1, 2, 3, 4, 5, 6}));
}

TEST(SliceOptions, InvalidNameTheField) {
  sc::explore::SliceOptions o;
  o.dims = 3;
  sc::testing::expect_invalid(o, "dims");
  o = {};
  o.lo1 = 2;
  o.hi1 = 1;
  sc::testing::expect_invalid(o, "lo1");
  o = {};
  o.directions = sc::explore::SliceDirections::extreme;
  EXPECT_FALSE(o.IsValid(nullptr));
}

}  // namespace
