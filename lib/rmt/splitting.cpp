#include "rmt/splitting.h"

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <boost/math/distributions/students_t.hpp>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "curvature/inertia.h"
#include "parallel/parallel.h"

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
  std::int64_t accepted = 0, proposed = 0, evaluations = 0;
};

Run one_run(const Ensemble& ensemble, const SplittingOptions& o, std::uint64_t seed, std::uint64_t stream_base,
            std::uint64_t repetition) {
  const std::int64_t N = o.population;
  const auto Ns = static_cast<std::int64_t>(std::llround(static_cast<double>(N) * o.level_probability));
  const Eigen::Index m = ensemble.gaussian_dim();
  Eigen::MatrixXd states(m, N), next(m, N);
  std::vector<double> score(static_cast<std::size_t>(N)), next_score(static_cast<std::size_t>(N));
  Run run;
  // Level 0: iid draws.
#pragma omp parallel
  {
    Eigen::VectorXd z(m);
    Eigen::MatrixXd H;
#pragma omp for schedule(static)
    for (std::int64_t c = 0; c < N; ++c) {
      random::Rng rng(seed, stream_id({stream_base, repetition, 0, static_cast<std::uint64_t>(c)}));
      ensemble.draw_gaussian(rng, z);
      states.col(c) = z;
      ensemble.matrix(z, H);
      score[static_cast<std::size_t>(c)] = lambda_min(H);
    }
  }
  run.evaluations += N;
  double step = o.initial_step;
  std::vector<std::int64_t> order(static_cast<std::size_t>(N));
  for (int level = 1;; ++level) {
    std::iota(order.begin(), order.end(), 0);
    // Descending score; ties (probability 0) broken by index so the order is a function of the data.
    std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
      const double sa = score[static_cast<std::size_t>(a)], sb = score[static_cast<std::size_t>(b)];
      return sa != sb ? sa > sb : a < b;
    });
    const auto positive = std::count_if(score.begin(), score.end(), [](double s) { return s > 0.0; });
    if (positive >= Ns) {
      run.log_p += std::log(static_cast<double>(positive) / static_cast<double>(N));
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
    run.log_p += std::log(static_cast<double>(Ns) / static_cast<double>(N));
    const double rho = std::sqrt(std::max(0.0, 1.0 - step * step));
    std::vector<std::int64_t> accepted(static_cast<std::size_t>(Ns), 0), evaluations(static_cast<std::size_t>(Ns), 0);
    // Chain j (a kept state) fills slots j, j + Ns, j + 2Ns, … < N.
#pragma omp parallel
    {
      Eigen::VectorXd z(m), proposal(m);
      Eigen::MatrixXd H, work;
#pragma omp for schedule(dynamic, 4)
      for (std::int64_t j = 0; j < Ns; ++j) {
        random::Rng rng(seed, stream_id({stream_base, repetition, static_cast<std::uint64_t>(level),
                                         static_cast<std::uint64_t>(j)}));
        const std::int64_t src = order[static_cast<std::size_t>(j)];
        z = states.col(src);
        double s = score[static_cast<std::size_t>(src)];
        for (std::int64_t slot = j; slot < N; slot += Ns) {
          for (int move = 0; move < o.moves_per_state; ++move) {
            for (Eigen::Index i = 0; i < m; ++i) proposal[i] = rho * z[i] + step * rng.normal();
            ensemble.matrix(proposal, H);
            ++evaluations[static_cast<std::size_t>(j)];
            // Cheap rejection first: λ_min > L ⇔ H − L·I positive definite (Cholesky, early exit).
            work = H;
            if (!curvature::is_positive_definite_in_place(work, threshold)) continue;
            z = proposal;
            s = lambda_min(H);
            ++accepted[static_cast<std::size_t>(j)];
          }
          next.col(slot) = z;
          next_score[static_cast<std::size_t>(slot)] = s;
        }
      }
    }
    std::int64_t acc = 0, ev = 0;
    for (std::int64_t j = 0; j < Ns; ++j) {
      acc += accepted[static_cast<std::size_t>(j)];
      ev += evaluations[static_cast<std::size_t>(j)];
    }
    run.accepted += acc;
    run.proposed += ev;
    run.evaluations += ev;
    states.swap(next);
    score.swap(next_score);
    // Aim at an acceptance rate near 0.3 (a common target for random-walk-type proposals).
    const double rate = static_cast<double>(acc) / static_cast<double>(std::max<std::int64_t>(ev, 1));
    step = std::clamp(step * std::exp(2.0 * (rate - 0.3)), 1e-4, 1.0);
  }
}


// Subset simulation on the GOE eigenvalues themselves. The event depends on H only through its
// eigenvalues, whose joint law (β = 1, weight e^{−λ²/2}) is the Coulomb gas
//   p(λ) ∝ Π_{i<j} |λ_i − λ_j| Π_i e^{−λ_i²/2}.
// A sweep proposes λ_i' = λ_i + σξ for each i in turn and accepts with the Metropolis ratio
// p(λ')/p(λ), restricted to λ_min' above the level: reversible w.r.t. p conditioned on the level, in
// k dimensions instead of k(k+1)/2, which mixes where the matrix-space pCN chains freeze (observed:
// pCN at k ≥ 17 gave estimates many orders of magnitude low). H = sH₀ + μI maps scores affinely.
Run one_run_eigenvalues(const Ensemble& ensemble, const SplittingOptions& o, std::uint64_t seed,
                        std::uint64_t stream_base, std::uint64_t repetition) {
  const std::int64_t N = o.population;
  const auto Ns = static_cast<std::int64_t>(std::llround(static_cast<double>(N) * o.level_probability));
  const Eigen::Index k = ensemble.k();
  const double s = ensemble.options().scale, mu = ensemble.options().shift;
  Eigen::MatrixXd states(k, N), next(k, N);  // base-scale eigenvalues (H₀ = (A + Aᵀ)/2)
  std::vector<double> score(static_cast<std::size_t>(N)), next_score(static_cast<std::size_t>(N));
  Run run;
  EnsembleOptions base = ensemble.options();
  base.scale = 1.0;
  base.shift = 0.0;
  const Ensemble base_ensemble(base, k);
#pragma omp parallel
  {
    Eigen::VectorXd z;
    Eigen::MatrixXd H;
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(k);
#pragma omp for schedule(static)
    for (std::int64_t c = 0; c < N; ++c) {
      random::Rng rng(seed, stream_id({stream_base, repetition, 0, static_cast<std::uint64_t>(c)}));
      base_ensemble.draw_gaussian(rng, z);
      base_ensemble.matrix(z, H);
      solver.compute(H, Eigen::EigenvaluesOnly);
      states.col(c) = solver.eigenvalues();
      score[static_cast<std::size_t>(c)] = s * solver.eigenvalues()(0) + mu;
    }
  }
  run.evaluations += N;
  double step = o.initial_step;
  std::vector<std::int64_t> order(static_cast<std::size_t>(N));
  for (int level = 1;; ++level) {
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
      const double sa = score[static_cast<std::size_t>(a)], sb = score[static_cast<std::size_t>(b)];
      return sa != sb ? sa > sb : a < b;
    });
    const auto positive = std::count_if(score.begin(), score.end(), [](double v) { return v > 0.0; });
    if (positive >= Ns) {
      run.log_p += std::log(static_cast<double>(positive) / static_cast<double>(N));
      run.levels = level - 1;
      return run;
    }
    if (level > o.max_levels) {
      run.converged = false;
      run.levels = level - 1;
      return run;
    }
    const double threshold = 0.5 * (score[static_cast<std::size_t>(order[static_cast<std::size_t>(Ns - 1)])] +
                                    score[static_cast<std::size_t>(order[static_cast<std::size_t>(Ns)])]);
    const double floor = (threshold - mu) / s;  // λ₀ > floor ⇔ sλ₀ + μ > threshold
    run.log_p += std::log(static_cast<double>(Ns) / static_cast<double>(N));
    std::vector<std::int64_t> accepted(static_cast<std::size_t>(Ns), 0), proposed(static_cast<std::size_t>(Ns), 0);
#pragma omp parallel
    {
      Eigen::VectorXd lam(k);
#pragma omp for schedule(dynamic, 4)
      for (std::int64_t j = 0; j < Ns; ++j) {
        random::Rng rng(seed, stream_id({stream_base, repetition, static_cast<std::uint64_t>(level),
                                         static_cast<std::uint64_t>(j)}));
        lam = states.col(order[static_cast<std::size_t>(j)]);
        for (std::int64_t slot = j; slot < N; slot += Ns) {
          for (int sweep = 0; sweep < o.moves_per_state; ++sweep) {
            for (Eigen::Index i = 0; i < k; ++i) {
              const double old = lam[i], proposal = old + step * rng.normal();
              const double u = rng.uniform_open_zero();  // drawn every time: the stream does not depend on branches
              ++proposed[static_cast<std::size_t>(j)];
              if (!(proposal > floor)) continue;
              double log_ratio = -0.5 * (proposal * proposal - old * old);
              for (Eigen::Index m = 0; m < k; ++m)
                if (m != i) log_ratio += std::log(std::abs(proposal - lam[m]) / std::abs(old - lam[m]));
              if (std::log(u) < log_ratio) {
                lam[i] = proposal;
                ++accepted[static_cast<std::size_t>(j)];
              }
            }
          }
          next.col(slot) = lam;
          next_score[static_cast<std::size_t>(slot)] = s * lam.minCoeff() + mu;
        }
      }
    }
    std::int64_t acc = 0, prop = 0;
    for (std::int64_t j = 0; j < Ns; ++j) {
      acc += accepted[static_cast<std::size_t>(j)];
      prop += proposed[static_cast<std::size_t>(j)];
    }
    run.accepted += acc;
    run.proposed += prop;
    run.evaluations += prop / std::max<Eigen::Index>(k, 1);  // one sweep ≈ one matrix's worth of work
    states.swap(next);
    score.swap(next_score);
    const double rate = static_cast<double>(acc) / static_cast<double>(std::max<std::int64_t>(prop, 1));
    step = std::clamp(step * std::exp(2.0 * (rate - 0.4)), 1e-6, 10.0);
  }
}

}  // namespace

SplittingResult subset_simulation(const Ensemble& ensemble, const SplittingOptions& options, std::uint64_t seed,
                                  std::uint64_t stream_base, const Progress& progress) {
  std::string why;
  if (!options.IsValid(&why)) throw std::invalid_argument(why);
  SplittingResult r;
  std::int64_t accepted = 0, proposed = 0;
  const bool gas = options.moves == SplittingMoves::kEigenvalueGas ||
                   (options.moves == SplittingMoves::kAuto && ensemble.has_tridiagonal_model());
  if (options.moves == SplittingMoves::kEigenvalueGas && !ensemble.has_tridiagonal_model())
    throw std::invalid_argument("splitting moves 'eigenvalues' need ensemble goe or goe-shift");
  r.moves_used = gas ? SplittingMoves::kEigenvalueGas : SplittingMoves::kMatrixPcn;
  // Repetitions are work items: under MPI each rank runs the ones it owns (each from its own streams),
  // then every rank gets every run and combines them in repetition order.
  std::vector<std::vector<double>> records(static_cast<std::size_t>(options.repetitions));
  for (int rep = 0; rep < options.repetitions; ++rep) {
    if (!parallel::owns_item(rep)) continue;
    const Run run = gas ? one_run_eigenvalues(ensemble, options, seed, stream_base, static_cast<std::uint64_t>(rep))
                        : one_run(ensemble, options, seed, stream_base, static_cast<std::uint64_t>(rep));
    records[static_cast<std::size_t>(rep)] = {run.log_p, static_cast<double>(run.levels), run.converged ? 1.0 : 0.0,
                                              static_cast<double>(run.accepted), static_cast<double>(run.proposed),
                                              static_cast<double>(run.evaluations)};
    if (progress) progress(rep + 1, options.repetitions);
  }
  parallel::share_items(records);
  for (const std::vector<double>& run : records) {
    if (run.at(2) == 0.0) r.status = SplittingStatus::kMaxLevels;
    r.run_estimates.push_back(std::exp(run[0]));
    r.run_log_estimates.push_back(run[0]);
    r.run_levels.push_back(static_cast<int>(run[1]));
    accepted += static_cast<std::int64_t>(run[3]);
    proposed += static_cast<std::int64_t>(run[4]);
    r.matrix_evaluations += static_cast<std::int64_t>(run[5]);
  }
  const double R = options.repetitions;
  // Mean and spread on estimates scaled by the largest run, so nothing underflows: log_p stays right
  // even where p itself is below the smallest double (GOE beyond k ≈ 45).
  const double top = *std::max_element(r.run_log_estimates.begin(), r.run_log_estimates.end());
  double mean = 0;
  for (double l : r.run_log_estimates) mean += std::exp(l - top) / R;
  double var = 0;
  for (double l : r.run_log_estimates) var += (std::exp(l - top) - mean) * (std::exp(l - top) - mean) / (R - 1);
  r.log_p = top + std::log(mean);
  r.p = std::exp(r.log_p);
  r.relative_error = std::sqrt(var / R) / mean;
  const double t = boost::math::quantile(boost::math::students_t_distribution<double>(R - 1),
                                         0.5 + options.confidence / 2);
  r.ci_low = r.p * std::exp(-t * r.relative_error);
  r.ci_high = r.p * std::exp(t * r.relative_error);
  r.mean_acceptance = proposed > 0 ? static_cast<double>(accepted) / static_cast<double>(proposed) : 0.0;
  return r;
}

}  // namespace saddlescope::rmt
