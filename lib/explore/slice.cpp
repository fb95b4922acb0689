#include "explore/slice.h"

#include <atomic>
#include <cmath>
#include <stdexcept>
#include <mutex>
#include <thread>

#include "curvature/blocks.h"
#include "curvature/lanczos.h"
#include "models/graph/engine.h"
#include "parallel/parallel.h"
#include "random/random.h"
#include "text/refuse.h"

namespace saddlescope::explore {

using objective::Index;
using objective::Vector;

bool SliceOptions::IsValid(std::string* why) const {
  auto fail = [why](const std::string& field, double value, const std::string& rule) {
    return text::refuse(why, field, value, rule);
  };
  if (dims != 1 && dims != 2) return fail("dims", dims, "be 1 or 2");
  if (points1 < 1) return fail("points1", static_cast<double>(points1), "be >= 1");
  if (dims == 2 && points2 < 1) return fail("points2", static_cast<double>(points2), "be >= 1");
  // The grid's values (and the file's datasets) are allocated up front: bound the number of points
  // before that (#17 items 9, 19: --grid 1e8 ended in an uncaught allocation failure). 10^7 points is
  // 80 MB per stored quantity and far beyond any slice a plot can show.
  constexpr double kMaxGridPoints = 1e7;
  if (static_cast<double>(points1) * (dims == 2 ? static_cast<double>(points2) : 1.0) > kMaxGridPoints)
    return fail(dims == 2 ? "points1 * points2" : "points1",
                static_cast<double>(points1) * (dims == 2 ? static_cast<double>(points2) : 1.0), "be <= 1e7 grid points");
  if (!(std::isfinite(lo1) && std::isfinite(hi1) && lo1 <= hi1)) return fail("lo1", lo1, "be finite and <= hi1");
  if (dims == 2 && !(std::isfinite(lo2) && std::isfinite(hi2) && lo2 <= hi2))
    return fail("lo2", lo2, "be finite and <= hi2");
  if (directions == SliceDirections::extreme && dims != 2)
    return fail("dims", dims, "be 2 for directions 'extreme' (bottom and top eigenvector)");
  if (curvature && !classify.IsValid(why)) return false;
  return true;
}

std::vector<Index> filter_row_lengths(const objective::Objective& f) {
  const auto blocks = f.parameter_blocks();
  // A graph model knows each parameter's tensor shape: a filter is one slice along the first (output)
  // extent, as torch stores conv [out, in, kh, kw] and linear [out, in] weights (Li et al.'s
  // net_plotter.py normalises per output channel); rank ≤ 1 (biases, norm scales) is one-dimensional.
  if (const auto* graph = dynamic_cast<const models::graph::GraphObjective*>(&f)) {
    const auto& parameters = graph->ir().parameters;
    std::vector<Index> rows(blocks.size(), 0);
    for (std::size_t b = 0; b < blocks.size() && b < parameters.size(); ++b) {
      const auto& shape = parameters[b].value.shape;
      if (shape.size() >= 2 && shape[0] > 0) rows[b] = parameters[b].value.element_count() / shape[0];
    }
    return rows;
  }
  const nlohmann::json spec = f.spec();
  std::vector<Index> widths;
  if (spec.contains("widths")) widths = spec["widths"].get<std::vector<Index>>();
  else if (spec.contains("inputs")) widths = {spec["inputs"].get<Index>()};
  std::vector<Index> rows(blocks.size(), 0);
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    const std::string& name = blocks[b].name;
    const std::string prefix = "layer", suffix = ".weight";
    if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const Index layer = std::stol(name.substr(prefix.size(), name.size() - prefix.size() - suffix.size()));
    if (layer < 1 || layer > static_cast<Index>(widths.size())) continue;
    const Index row = widths[layer - 1];
    if (row > 0 && blocks[b].size % row == 0) rows[b] = row;
  }
  return rows;
}

void filter_normalize(const objective::Objective& f, const Vector& w, Vector& d, bool zero_one_dimensional) {
  const auto blocks = f.parameter_blocks();
  const auto rows = filter_row_lengths(f);
  // Li et al. (2018), Sec. 4: d ← d·‖w‖/‖d‖ per filter; the 1e-10 keeps an all-zero d finite.
  auto normalise = [&](Index offset, Index size) {
    const double scale = w.segment(offset, size).norm() / (d.segment(offset, size).norm() + 1e-10);
    d.segment(offset, size) *= scale;
  };
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    const auto& block = blocks[b];
    if (rows[b] > 0) {
      for (Index r = block.offset; r < block.offset + block.size; r += rows[b]) normalise(r, rows[b]);
    } else if (zero_one_dimensional) {
      d.segment(block.offset, block.size).setZero();
    } else {
      normalise(block.offset, block.size);
    }
  }
}

Vector SlicePlan::point(Index k) const {
  const Index i = k / beta.size(), j = k % beta.size();
  Vector x = interpolate ? Vector((1.0 - alpha(i)) * origin + alpha(i) * end) : Vector(origin + alpha(i) * d1);
  if (d2.size() > 0) x += beta(j) * d2;
  return x;
}

namespace {

Vector grid(Index points, double lo, double hi) {
  Vector g(points);
  for (Index i = 0; i < points; ++i) {
    const double t = points == 1 ? 0.0 : static_cast<double>(i) / static_cast<double>(points - 1);
    g(i) = lo * (1.0 - t) + hi * t;
  }
  return g;
}

Vector random_direction(const objective::Objective& f, const Vector& w, const SliceOptions& o, std::uint64_t which) {
  random::Rng rng(o.seed, kSliceStream + which);
  Vector d(f.dim());
  for (Index i = 0; i < d.size(); ++i) d(i) = rng.normal();
  if (o.normalization == Normalization::filter) filter_normalize(f, w, d, o.zero_one_dimensional);
  if (!o.blocks.empty()) {
    Vector kept = Vector::Zero(d.size());
    for (const auto& block : o.blocks) kept.segment(block.offset, block.size) = d.segment(block.offset, block.size);
    d = std::move(kept);
  }
  return d;
}

void fix_sign(Vector& v) {
  Index at = 0;
  v.cwiseAbs().maxCoeff(&at);
  if (v(at) < 0) v = -v;
}

}  // namespace

SlicePlan make_slice_plan(const objective::Objective& f, const Vector& center, const Vector* other,
                          const SliceOptions& o) {
  std::string why;
  if (!o.IsValid(&why)) throw std::invalid_argument(why);
  const Index n = f.dim();
  if (center.size() != n) throw std::invalid_argument("the centre has the wrong number of parameters");
  const bool interpolate = o.directions == SliceDirections::interpolate;
  if (interpolate != (other != nullptr))
    throw std::invalid_argument(interpolate ? "directions 'interpolate' needs a second point"
                                            : "a second point is only used by directions 'interpolate'");
  if (other != nullptr && other->size() != n)
    throw std::invalid_argument("the two points have different numbers of parameters (" + std::to_string(n) + " and " +
                                std::to_string(other->size()) + ")");
  if (interpolate && !o.blocks.empty())
    throw std::invalid_argument("parameter blocks cannot restrict directions 'interpolate' (the line between the two points "
                                "is fixed); use random or eigenvector directions");
  SlicePlan plan;
  plan.interpolate = interpolate;
  plan.origin = center;
  plan.alpha = grid(o.points1, o.lo1, o.hi1);
  plan.beta = o.dims == 2 ? grid(o.points2, o.lo2, o.hi2) : Vector::Zero(1);
  switch (o.directions) {
    case SliceDirections::random:
      plan.d1 = random_direction(f, center, o, 0);
      if (o.dims == 2) plan.d2 = random_direction(f, center, o, 1);
      break;
    case SliceDirections::interpolate:
      plan.end = *other;
      // The second direction is filter-normalised against the midpoint's weights.
      if (o.dims == 2) plan.d2 = random_direction(f, Vector(0.5 * (center + *other)), o, 1);
      break;
    case SliceDirections::top:
    case SliceDirections::bottom:
    case SliceDirections::extreme: {
      curvature::EigenpairOptions e = o.eigen;
      e.which = o.directions == SliceDirections::top      ? curvature::Which::largest
                : o.directions == SliceDirections::bottom ? curvature::Which::smallest
                                                          : curvature::Which::both_ends;
      e.k = o.directions == SliceDirections::extreme ? 1 : o.dims;
      curvature::EigenpairResult r;
      if (o.blocks.empty()) {
        r = curvature::extreme_eigenpairs(f, center, e);
      } else {
        const curvature::ObjectiveOperator hessian(f, center, curvature::Curvature::hessian);
        const curvature::RestrictedOperator block(hessian, o.blocks);
        r = curvature::extreme_eigenpairs(block, e);
        Eigen::MatrixXd embedded(n, r.eigenvectors.cols());
        for (Index j = 0; j < r.eigenvectors.cols(); ++j) embedded.col(j) = block.embed(r.eigenvectors.col(j));
        r.eigenvectors = std::move(embedded);
      }
      if (!r.converged) throw std::runtime_error("eigenvector directions: Lanczos did not converge: " + r.message);
      // Ascending order: for `top` the largest is the last column.
      Index first = 0, second = 1;
      if (o.directions == SliceDirections::top) {
        first = r.eigenvalues.size() - 1;
        second = first - 1;
      }
      plan.d1 = r.eigenvectors.col(first);
      fix_sign(plan.d1);
      plan.eigenvalues.resize(o.dims);
      plan.eigenvalues(0) = r.eigenvalues(first);
      if (o.dims == 2) {
        plan.d2 = r.eigenvectors.col(second);
        fix_sign(plan.d2);
        plan.eigenvalues(1) = r.eigenvalues(second);
      }
      break;
    }
  }
  return plan;
}

void SliceValues::resize(Index size, bool curvature) {
  loss = Vector::Constant(size, std::nan(""));
  lambda_min = curvature ? Vector::Constant(size, std::nan("")) : Vector();
  lambda_max = curvature ? Vector::Constant(size, std::nan("")) : Vector();
  done.assign(static_cast<std::size_t>(size), 0);
}

Index SliceValues::done_count() const {
  Index count = 0;
  for (auto d : done) count += d != 0;
  return count;
}

void broadcast_slice(SlicePlan& plan, SliceValues& values) {
  if (parallel::size() == 1) return;
  // Every vector as doubles, rank 0's length and bits (done flags are 0/1, exact as doubles).
  auto send = [](Vector& v) {
    std::vector<double> buffer(v.data(), v.data() + v.size());
    parallel::broadcast_from_root(buffer);
    v = Eigen::Map<const Vector>(buffer.data(), static_cast<Index>(buffer.size()));
  };
  for (Vector* v : {&plan.origin, &plan.end, &plan.d1, &plan.d2, &plan.eigenvalues, &plan.alpha, &plan.beta,
                    &values.loss, &values.lambda_min, &values.lambda_max})
    send(*v);
  std::vector<double> done(values.done.begin(), values.done.end());
  parallel::broadcast_from_root(done);
  values.done.assign(done.size(), 0);
  for (std::size_t k = 0; k < done.size(); ++k) values.done[k] = static_cast<std::int64_t>(done[k]);
}

namespace {

// Grid points are work items keyed by their grid index k: under MPI each rank evaluates the points of a
// chunk it owns, and this gives every rank every point's values (a no-op with one rank).
void share_chunk(const std::vector<Index>& pending, std::size_t begin, std::size_t end, bool curvature,
                 SliceValues& values) {
  if (parallel::work_ranks() == 1) return;
  // Items are numbered by grid index, so ownership does not depend on how the grid is chunked.
  const Index last = pending[end - 1];  // pending is ascending
  std::vector<std::vector<double>> records(static_cast<std::size_t>(last + 1));
  for (std::size_t p = begin; p < end; ++p) {
    const Index k = pending[p];
    if (!parallel::owns_item(k)) continue;
    records[static_cast<std::size_t>(k)] = {values.loss(k)};
    if (curvature) records[static_cast<std::size_t>(k)] = {values.loss(k), values.lambda_min(k), values.lambda_max(k)};
  }
  parallel::share_items(records);
  for (std::size_t p = begin; p < end; ++p) {
    const Index k = pending[p];
    const std::vector<double>& r = records[static_cast<std::size_t>(k)];
    values.loss(k) = r.at(0);
    if (curvature) {
      values.lambda_min(k) = r.at(1);
      values.lambda_max(k) = r.at(2);
    }
  }
}

}  // namespace

Index evaluate_slice(const ObjectiveFactory& factory, const SlicePlan& plan, const SliceOptions& o, int threads,
                     Index max_new_points, Index chunk, SliceValues& values, const std::function<void()>& flush) {
  if (threads < 1) throw std::invalid_argument("'threads' must be >= 1");
  if (chunk < 1) throw std::invalid_argument("'chunk' must be >= 1");
  if (static_cast<Index>(values.done.size()) != plan.size() || values.loss.size() != plan.size())
    throw std::invalid_argument("slice values do not match the grid");
  std::vector<Index> pending;
  for (Index k = 0; k < plan.size(); ++k)
    if (values.done[k] == 0) pending.push_back(k);
  if (max_new_points >= 0 && static_cast<Index>(pending.size()) > max_new_points) pending.resize(max_new_points);

  // One objective per worker for the whole run.
  const int workers = static_cast<int>(std::max<Index>(1, std::min<Index>(threads, static_cast<Index>(pending.size()))));
  std::vector<std::unique_ptr<objective::Objective>> objectives;
  for (int t = 0; t < workers; ++t) objectives.push_back(factory());
  Index computed = 0;
  std::mutex progress_mutex;
  std::int64_t points_done = 0;
  const auto points_total = static_cast<std::int64_t>(pending.size());
  for (std::size_t begin = 0; begin < pending.size(); begin += static_cast<std::size_t>(chunk)) {
    const std::size_t end = std::min(pending.size(), begin + static_cast<std::size_t>(chunk));
    std::atomic<std::size_t> next{begin};
    std::exception_ptr error;
    std::atomic<bool> failed{false};
    auto worker = [&](int t) {
      try {
        const objective::Objective& f = *objectives[t];
        for (std::size_t p = next++; p < end && !failed; p = next++) {
          const Index k = pending[p];
          if (!parallel::owns_item(k)) continue;
          const parallel::ItemScope item;  // nothing inside a point is dealt out over ranks again
          const Vector x = plan.point(k);
          values.loss(k) = f.value(x);
          if (o.curvature) {
            const critical::Classification c = critical::classify(f, x, o.classify);
            values.lambda_min(k) = c.lambda_min;
            values.lambda_max(k) = c.lambda_max;
          }
          if (o.progress) {
            const std::lock_guard<std::mutex> lock(progress_mutex);
            o.progress("points", ++points_done, points_total);
          }
        }
      } catch (...) {
        if (!failed.exchange(true)) error = std::current_exception();
      }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < workers; ++t) pool.emplace_back(worker, t);
    worker(0);
    for (auto& t : pool) t.join();
    if (error) std::rethrow_exception(error);
    share_chunk(pending, begin, end, o.curvature, values);
    for (std::size_t p = begin; p < end; ++p) values.done[pending[p]] = 1;
    computed += static_cast<Index>(end - begin);
    if (flush) flush();
  }
  return computed;
}

}  // namespace saddlescope::explore
