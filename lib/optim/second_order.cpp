#include "optim/second_order.h"

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <cmath>
#include <deque>
#include <limits>
#include <stdexcept>
#include <vector>

#include "curvature/block_lanczos.h"
#include "curvature/dense.h"
#include "curvature/operator.h"

// L-BFGS follows torch/optim/lbfgs.py operation by operation; this file is compiled with
// -ffp-contract=off (lib/CMakeLists.txt) so that no compiler fuses them.

namespace saddlescope::optim {
namespace {

const objective::Objective& need_objective(const StepInput& in, const char* who) {
  if (in.objective == nullptr) throw std::invalid_argument(std::string(who) + " needs the objective in its StepInput");
  return *in.objective;
}

// Damped Newton: x ← x − lr·(H + damping·I)⁻¹∇f. Near a saddle the undamped step is attracted to
// it (it rescales each eigendirection by 1/λ, which flips the sign of descent along negative λ):
// the textbook reason for saddle-free Newton.
class Newton final : public Optimizer {
 public:
  explicit Newton(OptimizerConfig c) : Optimizer(std::move(c)) {}
  StepReport step(Vector& x, const StepInput& in) override {
    const auto& f = need_objective(in, "newton");
    Matrix H = curvature::dense_hessian(f, x);
    H.diagonal().array() += config_.damping;
    // LDLᵀ with pivoting handles indefinite H + δI.
    const Vector direction = H.ldlt().solve(*in.gradient);
    x -= in.lr * direction;
    ++steps_;
    StepReport r;
    r.hvp_count = f.has_analytic_hessian() ? 0 : x.size();
    r.loss_after = std::numeric_limits<double>::quiet_NaN();
    return r;
  }

 protected:
  void save_buffers(std::map<std::string, Vector>&) const override {}
  void load_buffers(const std::map<std::string, Vector>&) override {}
};

// Saddle-free Newton (Dauphin et al. 2014, arXiv:1406.2572): Δ = −lr·(|H| + δI)⁻¹g with
// |H| = Σ|λᵢ|vᵢvᵢᵀ (their Eq. 9).
//
// Dense: the full eigen-decomposition of H, fixed damping δ = `damping`.
//
// Krylov: the paper's Algorithm 1 ("approximate saddle-free Newton"), one outer iteration per step:
//   V ← k Lanczos vectors of H at x (started at g, so g ∈ span V: the step is exact on K_k(H, g));
//   Ĥ ← VᵀHV (formed from the k products HV, symmetrised), Ĥ = U Λ Uᵀ, |Ĥ| = U|Λ|Uᵀ;
//   m = `krylov_inner_steps` times, with V and |Ĥ| kept fixed:
//     ĝ ← Vᵀ∇f(x) (the step's gradient first, then the gradient at the new point),
//     λ ← argmin over a grid of f(x − lr·V(|Ĥ| + λI)⁻¹ĝ)  (the paper's line search on λ),
//     x ← x − lr·V(|Ĥ| + λI)⁻¹ĝ.
// The grid (`krylov_damping_grid` = G values) is λ = δ and λ = δ + σ·10⁻ʲ, j = 0..G−2, with σ = max|Λ|:
// from the undamped saddle-free step (λ = δ) to a gradient-like step of length ≈ ‖ĝ‖/σ. A step that
// lowers f at no grid point is not taken (note "no decrease"). G = 1 is the plain step with λ = δ and
// no function evaluations: with k ≥ n (or k ≥ dim K(H, g)) it equals the dense step.
class SaddleFreeNewton final : public Optimizer {
 public:
  explicit SaddleFreeNewton(OptimizerConfig c) : Optimizer(std::move(c)) {}
  StepReport step(Vector& x, const StepInput& in) override {
    const auto& f = need_objective(in, "saddle_free_newton");
    const Vector& g = *in.gradient;
    StepReport r;
    r.loss_after = std::numeric_limits<double>::quiet_NaN();
    if (config_.subspace == SubspaceMethod::dense) {
      const curvature::DenseSpectrum s = curvature::dense_spectrum(curvature::dense_hessian(f, x), true);
      const Vector coefficients = s.eigenvectors.transpose() * g;
      const Vector scaled = coefficients.array() / (s.eigenvalues.array().abs() + config_.damping);
      x -= in.lr * (s.eigenvectors * scaled);
      r.hvp_count = f.has_analytic_hessian() ? 0 : x.size();
    } else {
      krylov_step(f, x, g, in.lr, r);
    }
    ++steps_;
    return r;
  }

 protected:
  void save_buffers(std::map<std::string, Vector>&) const override {}
  void load_buffers(const std::map<std::string, Vector>&) override {}

 private:
  void krylov_step(const objective::Objective& f, Vector& x, const Vector& g0, double lr, StepReport& r) const {
    if (!(g0.norm() > 0.0)) return;  // a critical point (or a zero mini-batch gradient): Krylov space empty
    Matrix V, T, HV;
    lanczos_basis(f, x, g0, std::min<Index>(config_.krylov_dim, x.size()), V, T, r.hvp_count, &HV);
    const Matrix projected = V.transpose() * HV;
    Eigen::SelfAdjointEigenSolver<Matrix> eig(0.5 * (projected + projected.transpose()));
    const Matrix& U = eig.eigenvectors();
    const Vector magnitude = eig.eigenvalues().cwiseAbs();
    std::vector<double> grid{config_.damping};
    const double sigma = magnitude.maxCoeff();
    for (std::int64_t j = 0; j + 1 < config_.krylov_damping_grid; ++j)
      grid.push_back(config_.damping + sigma * std::pow(10.0, -static_cast<double>(j)));
    const bool search = grid.size() > 1;

    Vector g = g0, trial, best;
    double fx = 0.0;
    if (search) {
      fx = f.value(x);
      ++r.function_evaluations;
    }
    for (std::int64_t inner = 0; inner < config_.krylov_inner_steps; ++inner) {
      if (inner > 0) {
        fx = f.gradient(x, g);
        ++r.function_evaluations;
        if (!std::isfinite(fx) || !g.allFinite()) break;
      }
      const Vector coefficients = U.transpose() * (V.transpose() * g);  // Uᵀĝ
      double best_value = std::numeric_limits<double>::infinity();
      for (const double lambda : grid) {
        const Vector alpha = U * (coefficients.array() / (magnitude.array() + lambda)).matrix();
        trial = x - lr * (V * alpha);
        if (!search) {
          best = trial;
          break;
        }
        const double value = f.value(trial);
        ++r.function_evaluations;
        if (value < best_value) best_value = value, best = trial;
      }
      if (search && !(best_value < fx)) {
        r.note = "saddle_free_newton: no decrease on the damping grid (step not taken)";
        break;
      }
      x = best;
      r.loss_after = search ? best_value : std::numeric_limits<double>::quiet_NaN();
    }
  }
};

// ---- L-BFGS (torch/optim/lbfgs.py, torch 1.13) ----------------------------------------------------

double cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2, bool has_bounds,
                         double lo, double hi) {
  double xmin_bound, xmax_bound;
  if (has_bounds) {
    xmin_bound = lo;
    xmax_bound = hi;
  } else if (x1 <= x2) {
    xmin_bound = x1;
    xmax_bound = x2;
  } else {
    xmin_bound = x2;
    xmax_bound = x1;
  }
  const double d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
  const double d2_square = d1 * d1 - g1 * g2;
  if (d2_square >= 0) {
    const double d2 = std::sqrt(d2_square);
    double min_pos;
    if (x1 <= x2) {
      min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2));
    } else {
      min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
    }
    return std::min(std::max(min_pos, xmin_bound), xmax_bound);
  }
  return (xmin_bound + xmax_bound) / 2.;
}

struct LineSearchResult {
  double f;
  Vector g;
  double t;
  std::int64_t evals;
};

// torch's _strong_wolfe (c1 = 1e-4, c2 = 0.9, max_ls = 25).
LineSearchResult strong_wolfe(const objective::Objective& obj, const Vector& x, double t, const Vector& d, double f,
                              const Vector& g, double gtd, double tolerance_change) {
  const double c1 = 1e-4, c2 = 0.9;
  const int max_ls = 25;
  const double d_norm = d.cwiseAbs().maxCoeff();
  auto evaluate = [&](double step, Vector& grad) {
    Vector trial = x;
    for (Index i = 0; i < x.size(); ++i) trial(i) = trial(i) + step * d(i);
    return obj.gradient(trial, grad);
  };
  Vector g_new;
  double f_new = evaluate(t, g_new);
  std::int64_t evals = 1;
  double gtd_new = g_new.dot(d);
  double t_prev = 0, f_prev = f, gtd_prev = gtd;
  Vector g_prev = g;
  bool done = false;
  int ls_iter = 0;
  double bracket[2] = {0, 0}, bracket_f[2] = {0, 0}, bracket_gtd[2] = {0, 0};
  Vector bracket_g[2];
  int bracket_size = 0;
  // torch brackets [t_prev, t] in two places (sufficient decrease fails, or the slope turns positive).
  auto bracket_previous_and_current = [&] {
    bracket[0] = t_prev, bracket[1] = t;
    bracket_f[0] = f_prev, bracket_f[1] = f_new;
    bracket_g[0] = g_prev, bracket_g[1] = g_new;
    bracket_gtd[0] = gtd_prev, bracket_gtd[1] = gtd_new;
    bracket_size = 2;
  };
  while (ls_iter < max_ls) {
    if (f_new > (f + c1 * t * gtd) || (ls_iter > 1 && f_new >= f_prev)) {
      bracket_previous_and_current();
      break;
    }
    if (std::abs(gtd_new) <= -c2 * gtd) {
      bracket[0] = t, bracket_f[0] = f_new, bracket_g[0] = g_new;
      bracket_size = 1;
      done = true;
      break;
    }
    if (gtd_new >= 0) {
      bracket_previous_and_current();
      break;
    }
    const double min_step = t + 0.01 * (t - t_prev);
    const double max_step = t * 10;
    const double tmp = t;
    t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, true, min_step, max_step);
    t_prev = tmp;
    f_prev = f_new;
    g_prev = g_new;
    gtd_prev = gtd_new;
    f_new = evaluate(t, g_new);
    ++evals;
    gtd_new = g_new.dot(d);
    ++ls_iter;
  }
  if (ls_iter == max_ls) {
    bracket[0] = 0, bracket[1] = t;
    bracket_f[0] = f, bracket_f[1] = f_new;
    bracket_g[0] = g, bracket_g[1] = g_new;
    bracket_size = 2;
  }
  bool insuf_progress = false;
  int low_pos = 0, high_pos = 0;
  if (bracket_size == 2) {
    low_pos = bracket_f[0] <= bracket_f[1] ? 0 : 1;
    high_pos = 1 - low_pos;
  }
  while (!done && ls_iter < max_ls) {
    if (std::abs(bracket[1] - bracket[0]) * d_norm < tolerance_change) break;
    t = cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1], false,
                          0, 0);
    const double bmax = std::max(bracket[0], bracket[1]), bmin = std::min(bracket[0], bracket[1]);
    const double eps = 0.1 * (bmax - bmin);
    if (std::min(bmax - t, t - bmin) < eps) {
      if (insuf_progress || t >= bmax || t <= bmin) {
        t = std::abs(t - bmax) < std::abs(t - bmin) ? bmax - eps : bmin + eps;
        insuf_progress = false;
      } else {
        insuf_progress = true;
      }
    } else {
      insuf_progress = false;
    }
    f_new = evaluate(t, g_new);
    ++evals;
    gtd_new = g_new.dot(d);
    ++ls_iter;
    if (f_new > (f + c1 * t * gtd) || f_new >= bracket_f[low_pos]) {
      bracket[high_pos] = t;
      bracket_f[high_pos] = f_new;
      bracket_g[high_pos] = g_new;
      bracket_gtd[high_pos] = gtd_new;
      low_pos = bracket_f[0] <= bracket_f[1] ? 0 : 1;
      high_pos = 1 - low_pos;
    } else {
      if (std::abs(gtd_new) <= -c2 * gtd) {
        done = true;
      } else if (gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0) {
        bracket[high_pos] = bracket[low_pos];
        bracket_f[high_pos] = bracket_f[low_pos];
        bracket_g[high_pos] = bracket_g[low_pos];
        bracket_gtd[high_pos] = bracket_gtd[low_pos];
      }
      bracket[low_pos] = t;
      bracket_f[low_pos] = f_new;
      bracket_g[low_pos] = g_new;
      bracket_gtd[low_pos] = gtd_new;
    }
  }
  return {bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], evals};
}

class Lbfgs final : public Optimizer {
 public:
  explicit Lbfgs(OptimizerConfig c) : Optimizer(std::move(c)) {}
  // One torch LBFGS.step(closure): up to max_iter inner iterations. `in.loss`/`in.gradient` are the
  // closure's first evaluation at x (full batch).
  StepReport step(Vector& x, const StepInput& in) override {
    const auto& f = need_objective(in, "lbfgs");
    const OptimizerConfig& c = config_;
    const std::int64_t max_eval = c.max_eval == 0 ? c.max_iter * 5 / 4 : c.max_eval;
    StepReport report;
    double loss = in.loss;
    Vector flat_grad = *in.gradient;
    std::int64_t current_evals = 1;
    ++steps_;
    report.loss_after = loss;
    if (flat_grad.cwiseAbs().maxCoeff() <= c.tolerance_grad) {
      report.note = "lbfgs: gradient below tolerance_grad";
      return report;
    }
    std::int64_t n_iter = 0;
    while (n_iter < c.max_iter) {
      ++n_iter;
      ++total_iterations_;
      if (total_iterations_ == 1) {
        d_ = -flat_grad;
        old_dirs_.clear();
        old_stps_.clear();
        ro_.clear();
        h_diag_ = 1;
      } else {
        const Vector y = flat_grad - prev_flat_grad_;
        const Vector s = d_ * t_;
        const double ys = y.dot(s);
        if (ys > 1e-10) {
          if (static_cast<std::int64_t>(old_dirs_.size()) == c.history_size) {
            old_dirs_.pop_front();
            old_stps_.pop_front();
            ro_.pop_front();
          }
          old_dirs_.push_back(y);
          old_stps_.push_back(s);
          ro_.push_back(1. / ys);
          h_diag_ = ys / y.dot(y);
        }
        const std::size_t num_old = old_dirs_.size();
        std::vector<double> al(num_old);
        Vector q = -flat_grad;
        for (std::size_t k = num_old; k-- > 0;) {
          al[k] = old_stps_[k].dot(q) * ro_[k];
          for (Index i = 0; i < q.size(); ++i) q(i) = q(i) + (-al[k]) * old_dirs_[k](i);
        }
        d_ = q * h_diag_;
        for (std::size_t k = 0; k < num_old; ++k) {
          const double be_i = old_dirs_[k].dot(d_) * ro_[k];
          const double a = al[k] - be_i;
          for (Index i = 0; i < d_.size(); ++i) d_(i) = d_(i) + a * old_stps_[k](i);
        }
      }
      prev_flat_grad_ = flat_grad;
      const double prev_loss = loss;
      t_ = total_iterations_ == 1 ? std::min(1., 1. / flat_grad.cwiseAbs().sum()) * in.lr : in.lr;
      const double gtd = flat_grad.dot(d_);
      if (gtd > -c.tolerance_change) {
        report.note = "lbfgs: no descent direction (gtd > -tolerance_change)";
        break;
      }
      std::int64_t ls_evals = 0;
      bool opt_cond = false;
      if (!c.line_search_fn.empty()) {
        LineSearchResult ls = strong_wolfe(f, x, t_, d_, loss, flat_grad, gtd, c.tolerance_change);
        loss = ls.f;
        flat_grad = std::move(ls.g);
        t_ = ls.t;
        ls_evals = ls.evals;
        for (Index i = 0; i < x.size(); ++i) x(i) = x(i) + t_ * d_(i);
        opt_cond = flat_grad.cwiseAbs().maxCoeff() <= c.tolerance_grad;
      } else {
        for (Index i = 0; i < x.size(); ++i) x(i) = x(i) + t_ * d_(i);
        if (n_iter != c.max_iter) {
          loss = f.gradient(x, flat_grad);
          opt_cond = flat_grad.cwiseAbs().maxCoeff() <= c.tolerance_grad;
          ls_evals = 1;
        }
      }
      current_evals += ls_evals;
      report.function_evaluations += ls_evals;
      report.loss_after = loss;
      if (n_iter == c.max_iter) break;
      if (current_evals >= max_eval) break;
      if (opt_cond) {
        report.note = "lbfgs: gradient below tolerance_grad";
        break;
      }
      if ((d_ * t_).cwiseAbs().maxCoeff() <= c.tolerance_change) {
        report.note = "lbfgs: step below tolerance_change";
        break;
      }
      if (std::abs(loss - prev_loss) < c.tolerance_change) {
        report.note = "lbfgs: loss change below tolerance_change";
        break;
      }
    }
    // Without a line search torch does not evaluate after the last inner iteration.
    if (c.line_search_fn.empty() && n_iter == c.max_iter) report.loss_after = std::numeric_limits<double>::quiet_NaN();
    return report;
  }

 protected:
  void save_buffers(std::map<std::string, Vector>& b) const override {
    if (d_.size() > 0) {
      b["d"] = d_;
      b["prev_flat_grad"] = prev_flat_grad_;
      b["t_h_diag_iterations"] = Vector{{t_, h_diag_, static_cast<double>(total_iterations_)}};
      for (std::size_t k = 0; k < old_dirs_.size(); ++k) {
        b["old_dirs_" + std::to_string(k)] = old_dirs_[k];
        b["old_stps_" + std::to_string(k)] = old_stps_[k];
      }
    }
  }
  // d, prev_flat_grad (n each) and the scalars t, H_diag, n_iter (3) together, plus k ≤ history_size
  // pairs old_dirs_i / old_stps_i (n each, i = 0..k−1) with a finite 1/(yᵀs).
  void check_buffers(const std::map<std::string, Vector>& b, Index n) const override {
    if (b.empty()) return;
    if (n < 0 && b.count("d") != 0) n = b.at("d").size();  // the parameter count, when not given
    std::size_t pairs = 0;
    while (b.count("old_dirs_" + std::to_string(pairs)) != 0) ++pairs;
    for (const auto& [name, buffer] : b) {
      Index expected = n;
      if (name == "t_h_diag_iterations") {
        expected = 3;
      } else if (name != "d" && name != "prev_flat_grad") {
        const bool pair_name = name.rfind("old_dirs_", 0) == 0 || name.rfind("old_stps_", 0) == 0;
        const std::string index = pair_name ? name.substr(9) : std::string();
        if (!pair_name || index.empty() || index.find_first_not_of("0123456789") != std::string::npos ||
            std::stoull(index.substr(0, 18)) >= pairs)
          throw std::invalid_argument("buffer '" + name + "' is not a buffer of lbfgs");
      }
      if (buffer.size() != expected)
        throw std::invalid_argument("buffer '" + name + "' has " + std::to_string(buffer.size()) + " entries, expected " +
                                    std::to_string(expected));
    }
    for (const char* name : {"d", "prev_flat_grad", "t_h_diag_iterations"})
      if (b.count(name) == 0) throw std::invalid_argument(std::string("buffer '") + name + "' is missing");
    const Vector& s = b.at("t_h_diag_iterations");
    if (s(2) < 0 || s(2) != std::floor(s(2)))
      throw std::invalid_argument("buffer 't_h_diag_iterations': the iteration count must be an integer >= 0");
    if (static_cast<std::int64_t>(pairs) > config_.history_size)
      throw std::invalid_argument("buffer 'old_dirs_*': " + std::to_string(pairs) + " pairs exceed history_size " +
                                  std::to_string(config_.history_size));
    for (std::size_t k = 0; k < pairs; ++k) {
      const auto stps = b.find("old_stps_" + std::to_string(k));
      if (stps == b.end()) throw std::invalid_argument("buffer 'old_stps_" + std::to_string(k) + "' is missing");
      if (!std::isfinite(1. / b.at("old_dirs_" + std::to_string(k)).dot(stps->second)))
        throw std::invalid_argument("buffers 'old_dirs_" + std::to_string(k) + "', 'old_stps_" + std::to_string(k) +
                                    "': y's = 0, not a curvature pair");
    }
  }
  void load_buffers(const std::map<std::string, Vector>& b) override {
    auto it = b.find("d");
    if (it == b.end()) return;
    d_ = it->second;
    prev_flat_grad_ = b.at("prev_flat_grad");
    const Vector& s = b.at("t_h_diag_iterations");
    t_ = s(0), h_diag_ = s(1), total_iterations_ = static_cast<std::int64_t>(s(2));
    old_dirs_.clear(), old_stps_.clear(), ro_.clear();
    for (std::size_t k = 0; b.count("old_dirs_" + std::to_string(k)) > 0; ++k) {
      old_dirs_.push_back(b.at("old_dirs_" + std::to_string(k)));
      old_stps_.push_back(b.at("old_stps_" + std::to_string(k)));
      ro_.push_back(1. / old_dirs_.back().dot(old_stps_.back()));
    }
  }

 private:
  Vector d_, prev_flat_grad_;
  double t_ = 0, h_diag_ = 1;
  std::int64_t total_iterations_ = 0;  // torch's state['n_iter']
  std::deque<Vector> old_dirs_, old_stps_;
  std::deque<double> ro_;
};

}  // namespace

void lanczos_basis(const objective::Objective& f, const Vector& x, const Vector& start, Index k, Matrix& Q, Matrix& T,
                   std::int64_t& hvp_count, Matrix* HQ) {
  const Index n = x.size();
  k = std::max<Index>(1, std::min(k, n));
  // The library's one Lanczos kernel (curvature/block_lanczos.h), b = 1, stopping when the Krylov space
  // becomes invariant; the products are kept for V^T(HV).
  const curvature::ObjectiveOperator H(f, x, curvature::Curvature::hessian);
  curvature::BlockLanczos lanczos(n, k, 1, curvature::BlockLanczos::Breakdown::stop);
  random::Rng rng(0, 0);  // a stopping recurrence never draws; start() needs one for a zero start
  lanczos.start(start, rng);
  if (HQ != nullptr) HQ->resize(n, k);
  Matrix hv;
  Index m = 0;
  for (bool more = true; more;) {
    H.apply(lanczos.pending(), hv);
    if (HQ != nullptr) HQ->col(m) = hv.col(0);
    ++m;
    more = lanczos.extend(hv, rng);
  }
  hvp_count += m;
  Q = lanczos.basis().leftCols(m);
  T = lanczos.projected().topLeftCorner(m, m);
  if (HQ != nullptr) HQ->conservativeResize(n, m);
}

std::unique_ptr<Optimizer> make_second_order_optimizer(const OptimizerConfig& config) {
  switch (config.kind) {
    case OptimizerKind::newton: return std::make_unique<Newton>(config);
    case OptimizerKind::saddle_free_newton: return std::make_unique<SaddleFreeNewton>(config);
    case OptimizerKind::lbfgs: return std::make_unique<Lbfgs>(config);
    default: throw std::invalid_argument("not a second-order optimizer: " + to_string(config.kind));
  }
}

}  // namespace saddlescope::optim
