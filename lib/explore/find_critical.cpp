#include "explore/find_critical.h"

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <mutex>
#include <thread>

#include "parallel/parallel.h"
#include "random/random.h"
#include "text/refuse.h"

namespace saddlescope::explore {

using objective::Index;
using objective::Matrix;
using objective::Vector;

bool FindOptions::IsValid(std::string* why) const {
  auto fail = [why](const std::string& field, double value, const std::string& rule) {
    return text::refuse(why, field, value, rule);
  };
  if (starts < 1) return fail("starts", static_cast<double>(starts), "be >= 1");
  if (use_box && !(std::isfinite(box_lo) && std::isfinite(box_hi) && box_lo < box_hi))
    return fail("box_lo", box_lo, "be finite and below box_hi = " + std::to_string(box_hi));
  if (!use_box && !(std::isfinite(radius) && radius > 0)) return fail("radius", radius, "be finite and > 0");
  if (threads < 1) return fail("threads", threads, "be >= 1");
  if (!(grad_tol > 0)) return fail("grad_tol", grad_tol, "be > 0");
  if (max_iterations < 1) return fail("max_iterations", static_cast<double>(max_iterations), "be >= 1");
  if (!(damping_init > 0)) return fail("damping_init", damping_init, "be > 0");
  if (!(dedup_rtol >= 0 && dedup_rtol < 1)) return fail("dedup_rtol", dedup_rtol, "be in [0, 1)");
  if (!(divergence_norm > 0)) return fail("divergence_norm", divergence_norm, "be > 0");
  if (max_dim < 1) return fail("max_dim", static_cast<double>(max_dim), "be >= 1");
  return classify.IsValid(why);
}

StartOutcome solve_from(const objective::Objective& f, Vector& x, const FindOptions& o, std::int64_t* gradient_count,
                        std::int64_t* hessian_count) {
  StartOutcome out;
  const Index n = f.dim();
  Vector g(n), g_new(n), x_new(n), gt(n), p(n);
  Matrix H(n, n);
  Eigen::SelfAdjointEigenSolver<Matrix> eig;
  std::int64_t gradients = 0, hessians = 0;
  auto finish = [&](StartStatus status) {
    out.status = status;
    if (gradient_count != nullptr) *gradient_count += gradients;
    if (hessian_count != nullptr) *hessian_count += hessians;
    return out;
  };
  out.value = f.gradient(x, g);
  ++gradients;
  out.grad_norm = g.norm();
  if (!std::isfinite(out.value) || !std::isfinite(out.grad_norm)) return finish(StartStatus::diverged);
  auto decompose = [&] {
    f.hessian(x, H);
    ++hessians;
    eig.compute(H);
  };
  decompose();
  if (eig.info() != Eigen::Success || !eig.eigenvalues().allFinite()) return finish(StartStatus::diverged);
  double mu = o.damping_init * std::max(eig.eigenvalues().array().square().maxCoeff(), 1e-300);
  double nu = 2.0;
  for (out.iterations = 0; out.iterations < o.max_iterations; ++out.iterations) {
    if (out.grad_norm <= o.grad_tol) return finish(StartStatus::converged);
    const Vector& lam = eig.eigenvalues();
    const Matrix& Q = eig.eigenvectors();
    gt.noalias() = Q.transpose() * g;
    const Eigen::ArrayXd denom = lam.array().square() + mu;
    p.noalias() = -(Q * (lam.array() * gt.array() / denom).matrix());
    // Model of φ after the step: ‖g + Hp‖² = Σ (μ gt_i / (λ_i² + μ))².
    const double phi = 0.5 * g.squaredNorm();
    const double phi_model = 0.5 * (mu * gt.array() / denom).matrix().squaredNorm();
    const double predicted = phi - phi_model;
    if (!(predicted > 0) || p.norm() <= 1e-15 * (1.0 + x.norm())) return finish(StartStatus::stalled);
    x_new = x + p;
    const double value_new = f.gradient(x_new, g_new);
    ++gradients;
    const double phi_new = 0.5 * g_new.squaredNorm();
    const double rho = std::isfinite(value_new) && std::isfinite(phi_new) ? (phi - phi_new) / predicted : -1.0;
    if (rho > 0) {
      x.swap(x_new);
      g.swap(g_new);
      out.value = value_new;
      out.grad_norm = std::sqrt(2.0 * phi_new);
      if (x.norm() > o.divergence_norm) return finish(StartStatus::diverged);
      const double t = 2.0 * rho - 1.0;
      mu *= std::max(1.0 / 3.0, 1.0 - t * t * t);
      nu = 2.0;
      if (out.grad_norm > o.grad_tol) {
        decompose();
        if (eig.info() != Eigen::Success || !eig.eigenvalues().allFinite()) return finish(StartStatus::diverged);
      }
    } else {
      mu *= nu;
      nu *= 2.0;
      if (!std::isfinite(mu)) return finish(StartStatus::stalled);
    }
  }
  if (out.grad_norm <= o.grad_tol) return finish(StartStatus::converged);
  return finish(StartStatus::max_iterations);
}

namespace {

// Runs body(worker_objective, item) for item in [0, count) on `threads` threads; items are claimed from an
// atomic counter, but every item's result depends only on the item, so the order does not matter.
// After each item, progress(stage, items done, count) — serialised — when `progress` is set. With
// `dealt_out`, only the items this MPI rank owns are computed (parallel::owns_item).
template <class Body>
void parallel_for(const ObjectiveFactory& factory, int threads, std::int64_t count, bool dealt_out, Body body,
                  const FindOptions::Progress& progress, std::string_view stage) {
  std::atomic<std::int64_t> next{0};
  std::exception_ptr error;
  std::atomic<bool> failed{false};
  std::mutex progress_mutex;
  std::int64_t done = 0;
  auto worker = [&](int) {
    try {
      const std::unique_ptr<objective::Objective> f = factory();
      for (std::int64_t i = next++; i < count && !failed; i = next++) {
        if (dealt_out && !parallel::owns_item(i)) continue;
        {
          const parallel::ItemScope item;  // nothing inside an item is dealt out over ranks again
          body(*f, i);
        }
        if (progress) {
          const std::lock_guard<std::mutex> lock(progress_mutex);
          progress(stage, ++done, count);
        }
      }
    } catch (...) {
      if (!failed.exchange(true)) error = std::current_exception();
    }
  };
  const int used = static_cast<int>(std::min<std::int64_t>(threads, count));
  std::vector<std::thread> pool;
  for (int t = 1; t < used; ++t) pool.emplace_back(worker, t);
  worker(0);
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

// Every start's outcome on every rank (a no-op with one rank). Record: status, iterations, value,
// grad_norm, the two counts, then the final iterate.
void share_start_outcomes(std::vector<StartOutcome>& starts, std::vector<Vector>& finals,
                          std::vector<std::int64_t>& gradient_counts, std::vector<std::int64_t>& hessian_counts) {
  if (parallel::work_ranks() == 1) return;
  std::vector<std::vector<double>> records(starts.size());
  for (std::size_t s = 0; s < starts.size(); ++s) {
    if (!parallel::owns_item(static_cast<std::int64_t>(s))) continue;
    const StartOutcome& start = starts[s];
    records[s] = {static_cast<double>(start.status), static_cast<double>(start.iterations), start.value,
                  start.grad_norm, static_cast<double>(gradient_counts[s]), static_cast<double>(hessian_counts[s])};
    records[s].insert(records[s].end(), finals[s].data(), finals[s].data() + finals[s].size());
  }
  parallel::share_items(records);
  for (std::size_t s = 0; s < starts.size(); ++s) {
    const std::vector<double>& r = records[s];
    starts[s].status = static_cast<StartStatus>(static_cast<int>(r[0]));
    starts[s].iterations = static_cast<std::int64_t>(r[1]);
    starts[s].value = r[2];
    starts[s].grad_norm = r[3];
    gradient_counts[s] = static_cast<std::int64_t>(r[4]);
    hessian_counts[s] = static_cast<std::int64_t>(r[5]);
    finals[s] = Eigen::Map<const Vector>(r.data() + 6, static_cast<Index>(r.size() - 6));
  }
}

}  // namespace

FindSummary find_critical_points(const ObjectiveFactory& factory, const FindOptions& o) {
  std::string why;
  if (!o.IsValid(&why)) throw std::invalid_argument(why);
  const std::unique_ptr<objective::Objective> probe = factory();
  const Index n = probe->dim();
  if (n > o.max_dim)
    throw std::invalid_argument("the objective has n = " + std::to_string(n) + " parameters; find-critical's dense "
                                "Newton solver handles n <= max_dim = " + std::to_string(o.max_dim));
  if (!o.use_box && o.center.size() != n)
    throw std::invalid_argument("'center' has " + std::to_string(o.center.size()) + " entries, the objective " +
                                std::to_string(n));

  FindSummary summary;
  summary.starts.resize(static_cast<std::size_t>(o.starts));
  std::vector<Vector> finals(static_cast<std::size_t>(o.starts));
  std::vector<std::int64_t> gradient_counts(o.starts, 0), hessian_counts(o.starts, 0);
  // Starts are work items: under MPI each rank solves the starts it owns (parallel::owns_item), and
  // share_items hands every rank every start's outcome, so the merge below sees the same inputs for any
  // number of ranks. Points are then classified on every rank (few, and cheap next to the starts).
  parallel_for(factory, o.threads, o.starts, true, [&](const objective::Objective& f, std::int64_t s) {
    random::Rng rng(o.seed, kStartStream + static_cast<std::uint64_t>(s));
    Vector x(n);
    for (Index i = 0; i < n; ++i)
      x(i) = o.use_box ? o.box_lo + (o.box_hi - o.box_lo) * rng.uniform() : o.center(i) + o.radius * rng.normal();
    summary.starts[s] = solve_from(f, x, o, &gradient_counts[s], &hessian_counts[s]);
    finals[s] = std::move(x);
  }, o.progress, "starts");

  share_start_outcomes(summary.starts, finals, gradient_counts, hessian_counts);

  // Merge duplicates in start order (deterministic whatever the threads did).
  for (std::int64_t s = 0; s < o.starts; ++s) {
    StartOutcome& start = summary.starts[s];
    summary.function_evaluations += gradient_counts[s];
    summary.hessian_evaluations += hessian_counts[s];
    switch (start.status) {
      case StartStatus::converged: ++summary.converged; break;
      case StartStatus::stalled: ++summary.stalled; continue;
      case StartStatus::max_iterations: ++summary.max_iterations; continue;
      case StartStatus::diverged: ++summary.diverged; continue;
    }
    const Vector& x = finals[s];
    for (std::size_t k = 0; k < summary.points.size(); ++k) {
      const Vector& y = summary.points[k].x;
      if ((x - y).norm() <= o.dedup_rtol * std::max({1.0, x.norm(), y.norm()})) {
        start.point = static_cast<std::int64_t>(k);
        break;
      }
    }
    if (start.point < 0) {
      start.point = static_cast<std::int64_t>(summary.points.size());
      CriticalPoint point;
      point.x = x;
      point.first_start = s;
      summary.points.push_back(std::move(point));
    } else {
      ++summary.duplicates;
    }
    ++summary.points[start.point].start_count;
  }

  parallel_for(factory, o.threads, static_cast<std::int64_t>(summary.points.size()), false,
               [&](const objective::Objective& f, std::int64_t k) {
                 CriticalPoint& point = summary.points[k];
                 point.classification = critical::classify(f, point.x, o.classify);
               }, o.progress, "classify");
  return summary;
}

namespace {

std::vector<double> average_ranks(const std::vector<double>& v) {
  std::vector<std::size_t> order(v.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return v[a] < v[b]; });
  std::vector<double> rank(v.size());
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    const double average = 0.5 * static_cast<double>(i + j) + 1.0;
    for (std::size_t k = i; k <= j; ++k) rank[order[k]] = average;
    i = j + 1;
  }
  return rank;
}

}  // namespace

double spearman_correlation(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) throw std::invalid_argument("spearman_correlation: sizes differ");
  if (a.size() < 2) return std::nan("");
  const std::vector<double> ra = average_ranks(a), rb = average_ranks(b);
  const double m = 0.5 * static_cast<double>(a.size() + 1);
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    sab += (ra[i] - m) * (rb[i] - m);
    saa += (ra[i] - m) * (ra[i] - m);
    sbb += (rb[i] - m) * (rb[i] - m);
  }
  if (saa == 0 || sbb == 0) return std::nan("");
  return sab / std::sqrt(saa * sbb);
}

}  // namespace saddlescope::explore
