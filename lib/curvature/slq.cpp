#include "curvature/slq.h"

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <vector>

#include "curvature/block_lanczos.h"
#include "parallel/parallel.h"
#include "random/random.h"
#include "text/format.h"

namespace saddlescope::curvature {
namespace {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;

std::string number(double value) { return text::format_number(value, 3, text::Notation::scientific); }

struct MeanStderr {
  double mean = 0.0, stderr_ = 0.0;
};
MeanStderr mean_stderr(const std::vector<double>& x) {
  MeanStderr out;
  const double m = static_cast<double>(x.size());
  for (double v : x) out.mean += v;
  out.mean /= m;
  if (x.size() < 2) {
    out.stderr_ = std::numeric_limits<double>::quiet_NaN();
    return out;
  }
  double ss = 0.0;
  for (double v : x) ss += (v - out.mean) * (v - out.mean);
  out.stderr_ = std::sqrt(ss / (m - 1.0) / m);
  return out;
}

// Every probe's quadrature on every rank (a no-op with one rank). Record: the nodes, then the weights,
// of the steps the probe took.
void share_probes(SlqResult& r) {
  if (parallel::work_ranks() == 1) return;
  const Index probes = r.nodes.cols();
  std::vector<std::vector<double>> records(static_cast<std::size_t>(probes));
  for (Index j = 0; j < probes; ++j) {
    if (!parallel::owns_item(j)) continue;
    const Index m = r.steps_taken(j);
    std::vector<double>& record = records[static_cast<std::size_t>(j)];
    record.assign(r.nodes.col(j).data(), r.nodes.col(j).data() + m);
    record.insert(record.end(), r.weights.col(j).data(), r.weights.col(j).data() + m);
  }
  parallel::share_items(records);
  for (Index j = 0; j < probes; ++j) {
    const std::vector<double>& record = records[static_cast<std::size_t>(j)];
    const auto m = static_cast<Index>(record.size() / 2);
    r.steps_taken(j) = static_cast<int>(m);
    r.nodes.col(j).head(m) = Eigen::Map<const VectorXd>(record.data(), m);
    r.weights.col(j).head(m) = Eigen::Map<const VectorXd>(record.data() + m, m);
  }
}

}  // namespace

bool SlqOptions::IsValid(std::string* why) const {
  auto fail = [&](const std::string& message) {
    if (why != nullptr) *why = message;
    return false;
  };
  if (probes < 1) return fail("'probes' must be >= 1, got " + std::to_string(probes));
  if (steps < 1) return fail("'steps' must be >= 1, got " + std::to_string(steps));
  if (probe_block < 0) return fail("'probe_block' must be 0 (automatic) or >= 1, got " + std::to_string(probe_block));
  if (!(memory_budget_bytes > 0.0)) return fail("'memory_budget_bytes' must be > 0, got " + number(memory_budget_bytes));
  if (!(sigma > 0.0 && sigma < 1.0)) return fail("'sigma' must satisfy 0 < sigma < 1, got " + number(sigma));
  if (grid_points < 2) return fail("'grid_points' must be >= 2, got " + std::to_string(grid_points));
  if (!(zero_rtol >= 0.0 && zero_rtol < 1.0))
    return fail("'zero_rtol' must satisfy 0 <= zero_rtol < 1, got " + number(zero_rtol));
  return true;
}

SlqResult stochastic_lanczos_quadrature(const SymmetricOperator& A, const SlqOptions& o) {
  std::string why;
  if (!o.IsValid(&why)) throw std::invalid_argument(why);
  const Index n = A.rows();
  if (n < 1) throw std::invalid_argument("stochastic_lanczos_quadrature: the operator has dimension 0");
  const Index steps = std::min(o.steps, n);  // a Krylov space has at most n dimensions
  const std::int64_t before = A.product_count(), passes_before = A.pass_count();
  Index group = o.probe_block;
  const double per_probe = 8.0 * static_cast<double>(steps + 2) * static_cast<double>(n);
  if (group == 0) group = std::clamp<Index>(static_cast<Index>(o.memory_budget_bytes / per_probe), 1, o.probes);
  group = std::min(group, o.probes);
  // The budget is a limit, not a hint: before, one probe was always run, whatever it needed, and a
  // large n ended in a bare "out of memory" after minutes (issue #17, item 19).
  if (static_cast<double>(group) * per_probe > o.memory_budget_bytes)
    throw std::invalid_argument("'memory_budget_bytes' = " + number(o.memory_budget_bytes) + " is less than " +
                                std::to_string(group) + " probe(s) of " + std::to_string(steps) +
                                " Lanczos steps at n = " + std::to_string(n) + " need: " +
                                std::to_string(static_cast<long long>(static_cast<double>(group) * per_probe)) +
                                " bytes ((steps + 2) * n * 8 per probe); raise it or lower 'steps'");

  SlqResult r;
  r.probe_block = group;
  r.nodes = MatrixXd::Constant(steps, o.probes, std::numeric_limits<double>::quiet_NaN());
  r.weights = MatrixXd::Zero(steps, o.probes);
  r.steps_taken = Eigen::VectorXi::Zero(o.probes);
  const double inv_sqrt_n = 1.0 / std::sqrt(static_cast<double>(n));

  // Probes are work items: under MPI each rank runs the probes it owns (parallel::owns_item), grouped
  // `group` at a time, and share_items gives every rank every probe's quadrature. A probe's result
  // depends only on its stream and the operator (each recurrence has its own breakdown test), so the
  // raw quadrature and all that follows are the same for any number of ranks.
  std::vector<Index> mine;
  for (Index j = 0; j < o.probes; ++j)
    if (parallel::owns_item(j)) mine.push_back(j);
  const auto owned = static_cast<Index>(mine.size());
  // One Lanczos recurrence per probe of a group (the library's one kernel, block_lanczos.h, b = 1,
  // stopping at breakdown), sharing each block product; the bases (steps·n doubles each) are allocated
  // once and restarted for every group.
  std::vector<BlockLanczos> recurrences;
  recurrences.reserve(static_cast<std::size_t>(group));
  for (Index j = 0; j < group; ++j) recurrences.emplace_back(n, steps, 1, BlockLanczos::Breakdown::stop);
  MatrixXd start(n, 1), V, W, w(n, 1);
  std::vector<Index> live;
  Eigen::SelfAdjointEigenSolver<MatrixXd> eig;
  for (Index first = 0; first < owned; first += group) {
    const Index p = std::min(group, owned - first);
    auto probe = [&](Index j) { return mine[static_cast<std::size_t>(first + j)]; };
    std::vector<random::Rng> rngs;
    for (Index j = 0; j < p; ++j) {
      rngs.emplace_back(o.seed, 0x51c0000 + static_cast<std::uint64_t>(probe(j)));
      for (Index i = 0; i < n; ++i) start(i, 0) = rngs.back().rademacher() * inv_sqrt_n;
      recurrences[static_cast<std::size_t>(j)].start(start, rngs.back());
    }
    std::vector<bool> active(static_cast<std::size_t>(p), true);
    for (Index step = 0; step < steps; ++step) {
      // Gather the active probes' next vectors into one block.
      live.clear();
      for (Index j = 0; j < p; ++j)
        if (active[static_cast<std::size_t>(j)]) live.push_back(j);
      if (live.empty()) break;
      V.resize(n, static_cast<Index>(live.size()));
      for (std::size_t c = 0; c < live.size(); ++c)
        V.col(static_cast<Index>(c)) = recurrences[static_cast<std::size_t>(live[c])].pending().col(0);
      A.apply(V, W);
      for (std::size_t c = 0; c < live.size(); ++c) {
        const auto j = static_cast<std::size_t>(live[c]);
        w.col(0) = W.col(static_cast<Index>(c));
        r.steps_taken(probe(live[c])) = static_cast<int>(step + 1);
        // False at the last step, or at a breakdown (β ≈ 0: the Krylov space is invariant and the
        // quadrature exact with step+1 nodes).
        if (!recurrences[j].extend(w, rngs[j])) active[j] = false;
      }
    }
    // Gauss quadrature from each tridiagonal T.
    for (Index j = 0; j < p; ++j) {
      const BlockLanczos& rec = recurrences[static_cast<std::size_t>(j)];
      const Index m = r.steps_taken(probe(j));
      const auto T = rec.projected().topLeftCorner(m, m);
      const VectorXd diag = T.diagonal();
      const VectorXd off = m > 1 ? VectorXd(T.diagonal(-1)) : VectorXd();
      eig.computeFromTridiagonal(diag, off, Eigen::ComputeEigenvectors);
      if (eig.info() != Eigen::Success) throw std::runtime_error("stochastic_lanczos_quadrature: tridiagonal eigensolver failed");
      r.nodes.col(probe(j)).head(m) = eig.eigenvalues();
      r.weights.col(probe(j)).head(m) = eig.eigenvectors().row(0).transpose().array().square();
    }
    if (o.progress) o.progress(first + p, A.product_count() - before);
  }
  share_probes(r);
  if (parallel::work_ranks() > 1) {  // count the other ranks' products too: the job's total
    const std::int64_t mine = A.product_count() - before, passes = A.pass_count() - passes_before;
    A.add_remote_counts(static_cast<std::int64_t>(parallel::work_sum(static_cast<double>(mine))) - mine,
                        static_cast<std::int64_t>(parallel::work_sum(static_cast<double>(passes))) - passes);
  }

  // Moments, trace and index from the raw quadrature.
  double low = std::numeric_limits<double>::infinity(), high = -low, max_abs = 0.0;
  for (Index j = 0; j < o.probes; ++j)
    for (Index i = 0; i < r.steps_taken(j); ++i) {
      low = std::min(low, r.nodes(i, j));
      high = std::max(high, r.nodes(i, j));
      max_abs = std::max(max_abs, std::abs(r.nodes(i, j)));
    }
  r.lambda_low = low;
  r.lambda_high = high;
  const double zero = o.zero_rtol * max_abs;
  std::vector<double> first_moment, second_moment, negative;
  double resolution = 0.0;
  for (Index j = 0; j < o.probes; ++j) {
    double m1 = 0.0, m2 = 0.0, neg = 0.0, below = 0.0, above = 0.0;
    for (Index i = 0; i < r.steps_taken(j); ++i) {
      const double t = r.nodes(i, j), w = r.weights(i, j);
      m1 += w * t;
      m2 += w * t * t;
      if (t < -zero) {
        neg += w;
        below = w;  // nodes ascend: the last one below zero is adjacent to it
      } else if (above == 0.0) {
        above = w;
      }
    }
    resolution += std::max(below, above) / static_cast<double>(o.probes);
    first_moment.push_back(m1);
    second_moment.push_back(m2);
    negative.push_back(neg);
  }
  const MeanStderr t = mean_stderr(first_moment), s = mean_stderr(second_moment), q = mean_stderr(negative);
  r.trace = static_cast<double>(n) * t.mean;
  r.trace_stderr = static_cast<double>(n) * t.stderr_;
  r.second_moment = s.mean;
  r.second_moment_stderr = s.stderr_;
  r.index_fraction = q.mean;
  r.index_fraction_stderr = q.stderr_;
  r.index_fraction_resolution = resolution;

  // Gaussian broadening on the grid.
  const double range = high - low;
  r.sigma_absolute = o.sigma * (range > 0.0 ? range : std::max(max_abs, 1.0));
  const double sg = r.sigma_absolute;
  r.grid = VectorXd::LinSpaced(o.grid_points, low - 6.0 * sg, high + 6.0 * sg);
  r.density = VectorXd::Zero(o.grid_points);
  const double norm = 1.0 / (std::sqrt(2.0 * std::numbers::pi) * sg * static_cast<double>(o.probes));
  for (Index j = 0; j < o.probes; ++j)
    for (Index i = 0; i < r.steps_taken(j); ++i) {
      const double c = r.nodes(i, j), w = r.weights(i, j) * norm;
      r.density += (w * (-0.5 * ((r.grid.array() - c) / sg).square()).exp()).matrix();
    }
  r.hvp_count = A.product_count() - before;
  r.message = std::to_string(o.probes) + " probes x " + std::to_string(steps) + " Lanczos steps (" +
              std::to_string(r.hvp_count) + " products, " + std::to_string(group) + " probes per block)";
  return r;
}

}  // namespace saddlescope::curvature
