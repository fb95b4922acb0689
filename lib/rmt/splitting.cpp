#include "rmt/splitting.h"

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <boost/math/distributions/students_t.hpp>
#include <cmath>
#include <limits>
#include <numbers>
#include <numeric>
#include <stdexcept>

#include "curvature/inertia.h"
#include "parallel/parallel.h"
#include "rmt/autocorrelation.h"
#include "rmt/coulomb_gas.h"

namespace saddlescope::rmt {

bool SplittingOptions::IsValid(std::string* why) const {
  auto fail = [&](const std::string& m) {
    if (why) *why = m;
    return false;
  };
  if (population < 10) return fail("'population' must be >= 10, got " + std::to_string(population));
  if (!(level_probability > 0 && level_probability <= 0.5))
    return fail("'level_probability' must be in (0, 0.5], got " + std::to_string(level_probability));
  if (static_cast<double>(population) * level_probability < 1.0)
    return fail("'population' * 'level_probability' must be >= 1, got " +
                std::to_string(static_cast<double>(population) * level_probability));
  if (moves_per_state < 1) return fail("'moves_per_state' must be >= 1, got " + std::to_string(moves_per_state));
  if (repetitions < 2) return fail("'repetitions' must be >= 2, got " + std::to_string(repetitions));
  if (!(initial_step > 0 && initial_step <= 1)) return fail("'initial_step' must be in (0, 1], got " + std::to_string(initial_step));
  if (max_levels < 1) return fail("'max_levels' must be >= 1, got " + std::to_string(max_levels));
  if (!(confidence > 0 && confidence < 1)) return fail("'confidence' must be in (0, 1), got " + std::to_string(confidence));
  if (diagnostic_moves < 0 || diagnostic_moves > 1000000)
    return fail("'diagnostic_moves' must be in [0, 1000000], got " + std::to_string(diagnostic_moves));
  return true;
}

double lambda_min(const Eigen::MatrixXd& H) {
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(H, Eigen::EigenvaluesOnly);
  return solver.eigenvalues()(0);
}

namespace {

struct Run {
  double log_p = 0;
  int levels = 0;
  bool converged = true;
  bool stalled = false;  // with converged = false: the thresholds stopped rising (SplittingStatus::kStalled)
  std::int64_t accepted = 0, proposed = 0, evaluations = 0;
  std::vector<double> level_probabilities;  // conditional probability of each level, the last one included
  std::vector<double> level_acceptance;     // acceptance of the moves that refilled each level
  std::vector<double> level_tau_int;        // τ_int of the diagnostic chain at each refilled level
};

// The move kernels of the one level loop below. A kernel owns the meaning of a state (a column of
// dim() doubles), draws it iid from the ensemble (`draw`, returning its score λ_min(H)), moves a chain
// with the law conditioned on {score > threshold} invariant (`move`), and adapts its step between
// levels from the last level's counts (a deterministic function of the run).

// A state of the Gaussian-coordinate kernels: z drawn iid N(0, I) into `state`, its score λ_min(H(z)).
double draw_gaussian_state(const Ensemble& ensemble, random::Rng& rng, Eigen::Ref<Eigen::VectorXd> state,
                           Eigen::VectorXd& z, Eigen::MatrixXd& H) {
  ensemble.draw_gaussian(rng, z);
  state = z;
  ensemble.matrix(z, H);
  return lambda_min(H);
}

// Whether λ_min(H(z)) > threshold, leaving H(z) in H. Cheap: λ_min > L ⇔ H − L·I positive definite
// (Cholesky with early exit, on the copy `work`).
bool in_level(const Ensemble& ensemble, const Eigen::VectorXd& z, double threshold, Eigen::MatrixXd& H,
              Eigen::MatrixXd& work) {
  ensemble.matrix(z, H);
  work = H;
  return curvature::is_positive_definite_in_place(work, threshold);
}

// What the kernels on the Gaussian coordinates z of H share: the state is z, drawn iid N(0, I), and the
// cost is one matrix evaluation per proposal.
class GaussianCoordinateKernel {
 public:
  explicit GaussianCoordinateKernel(const Ensemble& ensemble) : ensemble_(ensemble) {}
  struct Workspace {
    Eigen::VectorXd z, nu, proposal;
    Eigen::MatrixXd H, work;
  };
  Eigen::Index dim() const { return ensemble_.gaussian_dim(); }
  double draw(random::Rng& rng, Eigen::Ref<Eigen::VectorXd> state, Workspace& w) const {
    return draw_gaussian_state(ensemble_, rng, state, w.z, w.H);
  }
  std::int64_t evaluations(const GasCounts& counts) const { return counts.proposed[0]; }

 protected:
  const Ensemble& ensemble_;
};

// pCN on the Gaussian coordinates z of H (any ensemble; splitting.h).
class MatrixPcnKernel : public GaussianCoordinateKernel {
 public:
  MatrixPcnKernel(const Ensemble& ensemble, double initial_step) : GaussianCoordinateKernel(ensemble), step_(initial_step) {}
  void move(Eigen::VectorXd& z, double& score, double threshold, int moves, random::Rng& rng, Workspace& w,
            GasCounts& counts) const {
    const double rho = std::sqrt(std::max(0.0, 1.0 - step_ * step_));
    w.proposal.resize(z.size());
    for (int move = 0; move < moves; ++move) {
      for (Eigen::Index i = 0; i < z.size(); ++i) w.proposal[i] = rho * z[i] + step_ * rng.normal();
      ++counts.proposed[0];
      if (!in_level(ensemble_, w.proposal, threshold, w.H, w.work)) continue;
      z = w.proposal;
      score = lambda_min(w.H);
      ++counts.accepted[0];
    }
  }
  // Aim at an acceptance rate near 0.3 (a common target for random-walk-type proposals).
  void adapt(const GasCounts& level) { step_ = std::clamp(step_ * std::exp(2.0 * (level.rate(0) - 0.3)), 1e-4, 1.0); }

 private:
  double step_;
};

// One elliptical slice move (Murray, Adams & MacKay 2010, Fig. 2) on the `count` coordinates of z from
// `first` on, the others held fixed, restricted to the level. With an indicator likelihood the slice height
// is irrelevant: every point of the ellipse inside the level is on the slice, so the move is the paper's
// shrinking-bracket loop with "inside the level" as its test. The bracket always contains θ = 0, the current
// state (inside), so the loop ends with probability 1; a bracket narrower than 1e-12 rad (the state's own
// rounding neighbourhood — never seen) leaves the state where it is rather than loop on. Returns whether
// the state moved; then w.H holds its matrix. One matrix evaluation per proposal (counts.proposed[0]).
bool elliptical_slice_move(const Ensemble& ensemble, Eigen::VectorXd& z, Eigen::Index first, Eigen::Index count,
                           double threshold, random::Rng& rng, GaussianCoordinateKernel::Workspace& w,
                           GasCounts& counts) {
  constexpr double kTwoPi = 2.0 * std::numbers::pi;
  w.nu.resize(count);
  for (Eigen::Index i = 0; i < count; ++i) w.nu[i] = rng.normal();
  double theta = kTwoPi * rng.uniform();
  double low = theta - kTwoPi, high = theta;
  w.proposal = z;
  for (;;) {
    w.proposal.segment(first, count) = std::cos(theta) * z.segment(first, count) + std::sin(theta) * w.nu;
    ++counts.proposed[0];
    if (in_level(ensemble, w.proposal, threshold, w.H, w.work)) {
      z.segment(first, count) = w.proposal.segment(first, count);
      return true;
    }
    (theta < 0 ? low : high) = theta;
    if (high - low < 1e-12) return false;
    theta = low + (high - low) * rng.uniform();
  }
}

// Elliptical slice sampling on all the Gaussian coordinates z of H (any ensemble; splitting.h).
class EllipticalSliceKernel : public GaussianCoordinateKernel {
 public:
  explicit EllipticalSliceKernel(const Ensemble& ensemble) : GaussianCoordinateKernel(ensemble) {}
  void move(Eigen::VectorXd& z, double& score, double threshold, int moves, random::Rng& rng, Workspace& w,
            GasCounts& counts) const {
    for (int move = 0; move < moves; ++move) {
      if (!elliptical_slice_move(ensemble_, z, 0, z.size(), threshold, rng, w, counts)) continue;
      score = lambda_min(w.H);
      ++counts.accepted[0];
    }
  }
  void adapt(const GasCounts&) {}  // nothing to tune
};

// Row moves for the hessian ensemble (splitting.h, kRows). With A = O diag(d) Oᵀ the Hessian at x and
// Y = OᵀG (the directions' Gaussian matrix in A's eigenbasis: again iid N(0, 1), G's law being rotation
// invariant), the level {s·λ_min(QᵀAQ) + μ > L} is {M ≻ 0}, M = Yᵀ diag(a) Y = Σ_i a_i y_i y_iᵀ,
// a_i = d_i − τ, τ = (L − μ)/s (Sylvester: QᵀAQ − τI = R⁻ᵀ Gᵀ(A − τI) G R⁻¹ for G = QR). One move updates
// each row y_i in turn by an elliptical slice step solved exactly: ν ~ N(0, I_k), y(θ) = y cos θ + ν sin θ,
// θ uniform on the whole set of angles where M(θ) = M − a_i y yᵀ + a_i y(θ)y(θ)ᵀ stays positive definite.
// That set is known in closed form: by the matrix determinant lemma F(θ) = det M(θ)/det M is
//     F(θ) = cos²θ + 2b cos θ sin θ + E sin²θ,   b = a s_yν,  E = (1 − a s_yy)(1 + a s_νν) + b²,
// with s_uv = uᵀM⁻¹v, and M(θ) ≻ 0 ⇔ F(θ) > 0 (M(θ) differs from the positive definite M by rank-one terms
// of one sign each, so by interlacing at most its smallest eigenvalue can change sign). F = C₀ + C₁ cos 2θ
// + C₂ sin 2θ: every angle when C₀ > R = |(C₁, C₂)|, else two opposite arcs of half-width acos(−C₀/R)/2.
// Uniform θ on the exact feasible set is the limit of the paper's shrinking bracket (Murray, Adams &
// MacKay 2010): the rotation of (y, ν) preserves N(0, I) × N(0, I) and maps the feasible set onto itself,
// so each row update leaves the conditioned law invariant, and it never rejects. The factor of M is
// carried through the rows by rank-one updates (the positive term first, so it stays positive definite)
// and rebuilt at each sweep. z_x: for a constant Hessian the event does not depend on it, so it is
// redrawn (exact Gibbs); otherwise one elliptical slice move on z_x alone (G fixed) precedes each sweep and
// A is re-decomposed. The score is evaluated once per call, after the last sweep, the usual way (QR and
// λ_min); a state that a rounding error left on the wrong side of the level (never seen) is dropped for
// the state the call began from. Cost per sweep: about 4nk² flops for the rows, n²k twice for the basis
// change, against 2nk² + n²k for one matrix evaluation; counted: one evaluation per call (plus the slice
// proposals and one per decomposition when A depends on x).
class RowSliceKernel : public GaussianCoordinateKernel {
 public:
  explicit RowSliceKernel(const Ensemble& ensemble)
      : GaussianCoordinateKernel(ensemble),
        n_(ensemble.objective_dim()),
        k_(ensemble.k()),
        constant_(ensemble.objective_hessian_is_constant()) {
    if (constant_) {
      Eigen::MatrixXd A;
      ensemble.objective_hessian(Eigen::VectorXd::Zero(ensemble.gaussian_dim()), A);
      decompose(A, basis_, spectrum_);
    }
  }
  struct Workspace : GaussianCoordinateKernel::Workspace {
    Eigen::MatrixXd A, basis, Y, M;
    Eigen::VectorXd spectrum, a, y, y_new, nu_row, p, r, start;
    Eigen::LLT<Eigen::MatrixXd> llt;
  };
  void move(Eigen::VectorXd& z, double& score, double threshold, int moves, random::Rng& rng, Workspace& w,
            GasCounts& counts) const {
    const EnsembleOptions& o = ensemble_.options();
    const double tau = (threshold - o.shift) / o.scale;  // s·λ + μ > L ⇔ λ > τ (s > 0)
    w.start = z;
    Eigen::Map<Eigen::MatrixXd> G(z.data() + n_, n_, k_);
    bool ok = true;
    if (constant_) {
      for (Eigen::Index i = 0; i < n_; ++i) z[i] = rng.normal();
      w.Y.noalias() = basis_.transpose() * G;
      w.a = spectrum_.array() - tau;
      for (int move = 0; move < moves && ok; ++move) ok = row_sweep(w, rng);
      G.noalias() = basis_ * w.Y;
    } else {
      for (int move = 0; move < moves && ok; ++move) {
        elliptical_slice_move(ensemble_, z, 0, n_, threshold, rng, w, counts);  // z_x alone, G fixed
        ensemble_.objective_hessian(z, w.A);
        decompose(w.A, w.basis, w.spectrum);
        ++counts.proposed[0];
        w.Y.noalias() = w.basis.transpose() * G;
        w.a = w.spectrum.array() - tau;
        ok = row_sweep(w, rng);
        G.noalias() = w.basis * w.Y;
      }
    }
    double s = score;
    if (ok) {
      ensemble_.matrix(z, w.H);
      s = lambda_min(w.H);
      ++counts.proposed[0];
    }
    if (ok && s > threshold) {
      score = s;
      counts.accepted[0] += moves;
    } else {
      z = w.start;
    }
  }
  void adapt(const GasCounts&) {}  // nothing to tune

 private:
  // Eigen's solver, not curvature::dense_spectrum: that one runs on OpenBLAS, whose bits may change with its
  // thread count, and this runs inside the OpenMP chains whose results must not (splitting.h).
  static void decompose(const Eigen::MatrixXd& A, Eigen::MatrixXd& basis, Eigen::VectorXd& spectrum) {
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(A);
    basis = solver.eigenvectors();
    spectrum = solver.eigenvalues();
  }
  // One sweep over the rows of w.Y with weights w.a (above). False when the factor of M fails (rounding at
  // the edge of the level; the caller then keeps its starting state).
  bool row_sweep(Workspace& w, random::Rng& rng) const {
    constexpr double kPi = std::numbers::pi;
    w.M.noalias() = w.Y.transpose() * w.a.asDiagonal() * w.Y;
    w.llt.compute(w.M);
    if (w.llt.info() != Eigen::Success) return false;
    w.nu_row.resize(k_);
    for (Eigen::Index i = 0; i < n_; ++i) {
      const double a = w.a[i];
      w.y = w.Y.row(i).transpose();
      for (Eigen::Index j = 0; j < k_; ++j) w.nu_row[j] = rng.normal();
      double theta;
      if (a == 0.0) {
        theta = 2.0 * kPi * rng.uniform();  // the row does not enter M
      } else {
        w.p = w.y;
        w.llt.matrixL().solveInPlace(w.p);
        w.r = w.nu_row;
        w.llt.matrixL().solveInPlace(w.r);
        const double syy = w.p.squaredNorm(), syn = w.p.dot(w.r), snn = w.r.squaredNorm();
        const double b = a * syn;
        const double E = (1.0 - a * syy) * (1.0 + a * snn) + b * b;
        const double C0 = 0.5 * (1.0 + E), C1 = 0.5 * (1.0 - E), C2 = b;
        const double R = std::hypot(C1, C2);
        const double u = rng.uniform(), side = rng.uniform();
        if (!(C0 < R)) {
          theta = 2.0 * kPi * u;  // F > 0 on the whole circle
        } else {
          const double half = std::acos(std::clamp(-C0 / R, -1.0, 1.0));
          const double phi = std::atan2(C2, C1) + half * (2.0 * u - 1.0);  // 2θ, inside the arc around 0
          theta = 0.5 * phi + (side < 0.5 ? 0.0 : kPi);
        }
      }
      w.y_new = std::cos(theta) * w.y + std::sin(theta) * w.nu_row;
      if (a > 0) {
        w.llt.rankUpdate(w.y_new, a);
        w.llt.rankUpdate(w.y, -a);
      } else if (a < 0) {
        w.llt.rankUpdate(w.y, -a);
        w.llt.rankUpdate(w.y_new, a);
      }
      if (w.llt.info() != Eigen::Success) return false;
      w.Y.row(i) = w.y_new.transpose();
    }
    return true;
  }

  Eigen::Index n_, k_;
  bool constant_;
  Eigen::MatrixXd basis_;   // O, when constant_
  Eigen::VectorXd spectrum_;  // d, when constant_
};

// The GOE eigenvalues as a Coulomb gas (rmt/coulomb_gas.h): single-eigenvalue, translation and dilation
// moves conditioned on the level, in k dimensions instead of k(k+1)/2, which mixes where the matrix-space
// pCN chains freeze (observed: pCN at k ≥ 17 gave estimates many orders of magnitude low). The state holds
// the base eigenvalues (H₀ = (A + Aᵀ)/2); H = sH₀ + μI maps scores affinely.
class EigenvalueGasKernel {
 public:
  explicit EigenvalueGasKernel(const Ensemble& ensemble)
      : k_(ensemble.k()), scale_(ensemble.options().scale), shift_(ensemble.options().shift) {
    steps_.single = 1.0 / std::sqrt(static_cast<double>(k_));  // of the order of the level spacing
  }
  struct Workspace {};
  Eigen::Index dim() const { return k_; }
  double draw(random::Rng& rng, Eigen::Ref<Eigen::VectorXd> state, Workspace&) const {
    state = draw_goe_eigenvalues(k_, rng);
    return scale_ * state.minCoeff() + shift_;
  }
  void move(Eigen::VectorXd& lambda, double& score, double threshold, int sweeps, random::Rng& rng, Workspace&,
            GasCounts& counts) const {
    const double wall = (threshold - shift_) / scale_;  // λ₀ > wall ⇔ sλ₀ + μ > threshold
    for (int sweep = 0; sweep < sweeps; ++sweep) gas_sweep(lambda, wall, steps_, rng, counts);
    score = scale_ * lambda.minCoeff() + shift_;
  }
  // One sweep (k + 2 proposals) costs about one matrix's worth of work.
  std::int64_t evaluations(const GasCounts& counts) const { return counts.proposed[1]; }
  void adapt(const GasCounts& level) { adapt_gas_steps(level, steps_); }

 private:
  Eigen::Index k_;
  double scale_, shift_;
  GasSteps steps_;
};

// Subset simulation (splitting.h) with the moves of `kernel`: the one level loop.
template <class Kernel>
Run level_loop(Kernel& kernel, const SplittingOptions& o, std::uint64_t seed, std::uint64_t stream_base,
               std::uint64_t repetition) {
  const std::int64_t N = o.population;
  const auto Ns = static_cast<std::int64_t>(std::llround(static_cast<double>(N) * o.level_probability));
  const Eigen::Index m = kernel.dim();
  Eigen::MatrixXd states(m, N), next(m, N);
  std::vector<double> score(static_cast<std::size_t>(N)), next_score(static_cast<std::size_t>(N));
  Run run;
  // Level 0: iid draws.
#pragma omp parallel
  {
    typename Kernel::Workspace workspace;
#pragma omp for schedule(static)
    for (std::int64_t c = 0; c < N; ++c) {
      random::Rng rng(seed, stream_id({stream_base, repetition, 0, static_cast<std::uint64_t>(c)}));
      score[static_cast<std::size_t>(c)] = kernel.draw(rng, states.col(c), workspace);
    }
  }
  run.evaluations += N;
  std::vector<std::int64_t> order(static_cast<std::size_t>(N));
  double previous_threshold = -std::numeric_limits<double>::infinity();
  int flat_levels = 0;  // consecutive levels whose threshold rose by less than 1e-12·(1 + |threshold|)
  for (int level = 1;; ++level) {
    std::iota(order.begin(), order.end(), 0);
    // Descending score; ties (probability 0) broken by index so the order is a function of the data.
    std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
      const double sa = score[static_cast<std::size_t>(a)], sb = score[static_cast<std::size_t>(b)];
      return sa != sb ? sa > sb : a < b;
    });
    const auto positive = std::count_if(score.begin(), score.end(), [](double s) { return s > 0.0; });
    if (positive >= Ns) {
      const double last = static_cast<double>(positive) / static_cast<double>(N);
      run.log_p += std::log(last);
      run.level_probabilities.push_back(last);
      run.levels = level - 1;
      return run;
    }
    if (level > o.max_levels) {
      run.converged = false;
      run.levels = level - 1;
      return run;
    }
    const double threshold =
        0.5 * (score[static_cast<std::size_t>(order[static_cast<std::size_t>(Ns - 1)])] +
               score[static_cast<std::size_t>(order[static_cast<std::size_t>(Ns)])]);
    // Every refilled state scores above the previous threshold, so a threshold that no longer rises means
    // the scores have gathered at their supremum, below 0: stop instead of running to max_levels.
    flat_levels = threshold - previous_threshold < 1e-12 * (1.0 + std::abs(threshold)) ? flat_levels + 1 : 0;
    previous_threshold = threshold;
    if (flat_levels >= kStallLevels) {
      run.converged = false;
      run.stalled = true;
      run.levels = level - 1;
      return run;
    }
    run.log_p += std::log(static_cast<double>(Ns) / static_cast<double>(N));
    run.level_probabilities.push_back(static_cast<double>(Ns) / static_cast<double>(N));
    if (o.diagnostic_moves > 0) {
      // Stream index N: no refilling chain has it (they are 0 … Ns − 1).
      random::Rng rng(seed, stream_id({stream_base, repetition, static_cast<std::uint64_t>(level), static_cast<std::uint64_t>(N)}));
      const auto pick = std::min<std::int64_t>(Ns - 1, static_cast<std::int64_t>(rng.uniform() * static_cast<double>(Ns)));
      const std::int64_t src = order[static_cast<std::size_t>(pick)];
      Eigen::VectorXd state = states.col(src);
      double s = score[static_cast<std::size_t>(src)];
      typename Kernel::Workspace workspace;
      GasCounts ignored;
      std::vector<double> series(static_cast<std::size_t>(o.diagnostic_moves));
      for (double& value : series) {
        kernel.move(state, s, threshold, 1, rng, workspace, ignored);
        value = s;
      }
      run.level_tau_int.push_back(integrated_autocorrelation(series).tau_int);
    }
    std::vector<GasCounts> counts(static_cast<std::size_t>(Ns));
    // Chain j (a kept state) fills slots j, j + Ns, j + 2Ns, … < N.
#pragma omp parallel
    {
      typename Kernel::Workspace workspace;
      Eigen::VectorXd state(m);
#pragma omp for schedule(dynamic, 4)
      for (std::int64_t j = 0; j < Ns; ++j) {
        random::Rng rng(seed, stream_id({stream_base, repetition, static_cast<std::uint64_t>(level),
                                         static_cast<std::uint64_t>(j)}));
        const std::int64_t src = order[static_cast<std::size_t>(j)];
        state = states.col(src);
        double s = score[static_cast<std::size_t>(src)];
        for (std::int64_t slot = j; slot < N; slot += Ns) {
          kernel.move(state, s, threshold, o.moves_per_state, rng, workspace, counts[static_cast<std::size_t>(j)]);
          next.col(slot) = state;
          next_score[static_cast<std::size_t>(slot)] = s;
        }
      }
    }
    GasCounts total;  // reduced in chain order
    for (const GasCounts& c : counts)
      for (int type = 0; type < 3; ++type) {
        total.proposed[type] += c.proposed[type];
        total.accepted[type] += c.accepted[type];
      }
    const std::int64_t proposed = total.proposed[0] + total.proposed[1] + total.proposed[2];
    const std::int64_t accepted = total.accepted[0] + total.accepted[1] + total.accepted[2];
    run.accepted += accepted;
    run.proposed += proposed;
    run.evaluations += kernel.evaluations(total);
    run.level_acceptance.push_back(static_cast<double>(accepted) / static_cast<double>(std::max<std::int64_t>(proposed, 1)));
    states.swap(next);
    score.swap(next_score);
    kernel.adapt(total);
  }
}

}  // namespace

namespace {

// The calibrated depths (splitting.h), from the study tables in docs/rmt.md ("Calibration: objective
// Hessians"): the deepest cell whose 20 intervals covered at least 18 times with a mean z² within the
// range a correct t₇ interval gives.
constexpr double kPcnCalibratedToLogP = -24.0;
constexpr double kSliceCalibratedToLogP = -43.0;
// Row moves (session 5): 18–20/20 in every cell from ln P = −15 to −291 but one (17/20 at −43, a 7.5% event
// for a correct interval; seeds 21–40 there: 19/20), runs combined in log space.
constexpr double kRowsCalibratedToLogP = -291.0;

// Which moves a run uses (splitting.h; never kAuto); throws for invalid options.
SplittingMoves moves_used(const Ensemble& ensemble, const SplittingOptions& options) {
  std::string why;
  if (!options.IsValid(&why)) throw std::invalid_argument(why);
  if (options.moves == SplittingMoves::kEigenvalueGas && !ensemble.has_tridiagonal_model())
    throw std::invalid_argument("splitting moves 'eigenvalues' need ensemble goe or goe-shift");
  if (options.moves == SplittingMoves::kRows && ensemble.options().kind != EnsembleKind::kHessian)
    throw std::invalid_argument("splitting moves 'rows' need ensemble hessian");
  if (options.moves != SplittingMoves::kAuto) return options.moves;
  if (ensemble.has_tridiagonal_model()) return SplittingMoves::kEigenvalueGas;
  // hessian: row moves where the Hessian is constant — calibrated far deeper than slice and pcn, at about
  // half the CPU time of slice (docs/rmt.md, "Calibration: objective Hessians"); where it depends on x, a row
  // sweep needs an n×n eigendecomposition per move (n³ against slice's few nk² evaluations), so slice stays.
  // The other ensembles keep pcn.
  if (ensemble.options().kind != EnsembleKind::kHessian) return SplittingMoves::kMatrixPcn;
  return ensemble.objective_hessian_is_constant() ? SplittingMoves::kRows : SplittingMoves::kEllipticalSlice;
}

}  // namespace

double splitting_calibrated_to_log_p(SplittingMoves moves) {
  switch (moves) {
    case SplittingMoves::kMatrixPcn:
      return kPcnCalibratedToLogP;
    case SplittingMoves::kEllipticalSlice:
      return kSliceCalibratedToLogP;
    case SplittingMoves::kRows:
      return kRowsCalibratedToLogP;
    case SplittingMoves::kEigenvalueGas:
      return std::numeric_limits<double>::quiet_NaN();
    case SplittingMoves::kAuto:
      break;
  }
  throw std::invalid_argument("splitting_calibrated_to_log_p: resolve 'auto' first");
}

std::int64_t subset_simulation_items(const SplittingOptions& options) { return options.repetitions; }

void subset_simulation_compute_items(const Ensemble& ensemble, const SplittingOptions& options, std::uint64_t seed,
                                     std::uint64_t stream_base, std::int64_t first_item, ItemRecords records,
                                     const Progress& progress) {
  const SplittingMoves moves = moves_used(ensemble, options);
  if (static_cast<std::int64_t>(records.size()) != subset_simulation_items(options))
    throw std::invalid_argument("subset_simulation_compute_items: " + std::to_string(records.size()) +
                                " records for " + std::to_string(options.repetitions) + " repetitions");
  // Repetitions are work items: under MPI each rank runs the ones it owns (each from its own streams).
  for (int rep = 0; rep < options.repetitions; ++rep) {
    if (!parallel::owns_item(first_item + rep)) continue;
    Run run;
    if (moves == SplittingMoves::kEigenvalueGas) {
      EigenvalueGasKernel kernel(ensemble);
      run = level_loop(kernel, options, seed, stream_base, static_cast<std::uint64_t>(rep));
    } else if (moves == SplittingMoves::kEllipticalSlice) {
      EllipticalSliceKernel kernel(ensemble);
      run = level_loop(kernel, options, seed, stream_base, static_cast<std::uint64_t>(rep));
    } else if (moves == SplittingMoves::kRows) {
      RowSliceKernel kernel(ensemble);
      run = level_loop(kernel, options, seed, stream_base, static_cast<std::uint64_t>(rep));
    } else {
      MatrixPcnKernel kernel(ensemble, options.initial_step);
      run = level_loop(kernel, options, seed, stream_base, static_cast<std::uint64_t>(rep));
    }
    // One record per repetition for share_items: six scalars, then the per-level probabilities and
    // acceptance rates, each preceded by its length.
    std::vector<double>& record = records[static_cast<std::size_t>(rep)];
    // The third scalar: 1 converged, 0 max_levels, 2 stalled.
    record = {run.log_p, static_cast<double>(run.levels), run.converged ? 1.0 : (run.stalled ? 2.0 : 0.0),
              static_cast<double>(run.accepted),
              static_cast<double>(run.proposed), static_cast<double>(run.evaluations)};
    record.push_back(static_cast<double>(run.level_probabilities.size()));
    record.insert(record.end(), run.level_probabilities.begin(), run.level_probabilities.end());
    record.push_back(static_cast<double>(run.level_acceptance.size()));
    record.insert(record.end(), run.level_acceptance.begin(), run.level_acceptance.end());
    record.push_back(static_cast<double>(run.level_tau_int.size()));
    record.insert(record.end(), run.level_tau_int.begin(), run.level_tau_int.end());
    if (progress) progress(rep + 1, options.repetitions);
  }
}

SplittingResult subset_simulation(const Ensemble& ensemble, const SplittingOptions& options, std::uint64_t seed,
                                  std::uint64_t stream_base, const Progress& progress) {
  moves_used(ensemble, options);  // validates
  // Every rank runs the repetitions it owns, then gets every run and combines them in repetition order.
  std::vector<std::vector<double>> records(static_cast<std::size_t>(subset_simulation_items(options)));
  subset_simulation_compute_items(ensemble, options, seed, stream_base, 0, records, progress);
  parallel::share_items(records);
  return subset_simulation_from_items(ensemble, options, records);
}

SplittingResult subset_simulation_from_items(const Ensemble& ensemble, const SplittingOptions& options,
                                             std::span<const std::vector<double>> records) {
  SplittingResult r;
  std::int64_t accepted = 0, proposed = 0;
  r.moves_used = moves_used(ensemble, options);
  if (static_cast<std::int64_t>(records.size()) != subset_simulation_items(options))
    throw std::invalid_argument("subset_simulation_from_items: " + std::to_string(records.size()) + " records for " +
                                std::to_string(options.repetitions) + " repetitions");
  for (const std::vector<double>& run : records) {
    if (run.at(2) == 0.0 && r.status == SplittingStatus::kConverged) r.status = SplittingStatus::kMaxLevels;
    if (run.at(2) == 2.0) r.status = SplittingStatus::kStalled;
    r.run_estimates.push_back(std::exp(run[0]));
    r.run_log_estimates.push_back(run[0]);
    r.run_levels.push_back(static_cast<int>(run[1]));
    accepted += static_cast<std::int64_t>(run[3]);
    proposed += static_cast<std::int64_t>(run[4]);
    r.matrix_evaluations += static_cast<std::int64_t>(run[5]);
    const auto probabilities = static_cast<std::size_t>(run.at(6));
    r.run_level_probabilities.emplace_back(run.begin() + 7, run.begin() + 7 + static_cast<std::ptrdiff_t>(probabilities));
    const std::size_t at = 7 + probabilities;
    const auto acceptance = static_cast<std::size_t>(run.at(at));
    r.run_level_acceptance.emplace_back(run.begin() + static_cast<std::ptrdiff_t>(at + 1),
                                        run.begin() + static_cast<std::ptrdiff_t>(at + 1 + acceptance));
    const std::size_t at_tau = at + 1 + acceptance;
    const auto taus = static_cast<std::size_t>(run.at(at_tau));
    r.run_level_tau_int.emplace_back(run.begin() + static_cast<std::ptrdiff_t>(at_tau + 1),
                                     run.begin() + static_cast<std::ptrdiff_t>(at_tau + 1 + taus));
  }
  const double R = options.repetitions;
  // The runs are combined in log space (splitting.h): each run's ln P̂ is unbiased for ln P to O(1/N) per
  // level, while P̂ itself is log-normal with E[P̂] = P·exp(σ²/2), σ² ≈ levels·(1 − p₀)/(p₀N) — a mean of
  // the runs' P̂ (this code before session 5) sat σ²/2 above ln P: +0.20 ± 0.05 measured at ln P = −146.
  double mean = 0;
  for (double l : r.run_log_estimates) mean += l / R;
  double var = 0;
  for (double l : r.run_log_estimates) var += (l - mean) * (l - mean) / (R - 1);
  r.relative_error = std::sqrt(var / R);  // standard error of ln P̂
  // The point estimate P̂ = exp(mean − s²/(2R)) removes the first-order bias of exponentiating the mean
  // (as rmt/integration.h); the interval is centred on the mean.
  r.log_p = mean - var / (2 * R);
  r.p = std::exp(r.log_p);
  const double t = boost::math::quantile(boost::math::students_t_distribution<double>(R - 1),
                                         0.5 + options.confidence / 2);
  r.log_ci_low = mean - t * r.relative_error;
  r.log_ci_high = mean + t * r.relative_error;
  if (r.status != SplittingStatus::kConverged)  // an upper bound only (splitting.h): nothing below it is excluded
    r.log_ci_low = -std::numeric_limits<double>::infinity();
  r.ci_low = std::exp(r.log_ci_low);
  r.ci_high = std::exp(r.log_ci_high);
  r.mean_acceptance = proposed > 0 ? static_cast<double>(accepted) / static_cast<double>(proposed) : 0.0;
  r.calibrated_to_log_p = splitting_calibrated_to_log_p(r.moves_used);
  r.within_calibration = r.log_p >= r.calibrated_to_log_p;  // false for NaN
  return r;
}

}  // namespace saddlescope::rmt
