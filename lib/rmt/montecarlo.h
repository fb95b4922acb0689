#pragma once
// Plain Monte Carlo for P(all k eigenvalues > 0) and the index distribution, with exact
// Clopper–Pearson intervals. The work is split into blocks of `block_size` samples; block b draws from
// random::Rng(seed, stream_id(stream_base, b)) and the blocks are reduced in block order, so the result
// is the same bits for any number of OpenMP threads.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "rmt/ensemble.h"
#include "text/names.h"

namespace saddlescope::rmt {

// How a sample's inertia is computed. kAuto: tridiagonal for goe/goe-shift, dense otherwise.
enum class Sampler { kAuto, kDense, kTridiagonal };
inline constexpr auto kSamplerNames = text::make_name_table<Sampler>(
    "sampler", {{Sampler::kAuto, "auto"}, {Sampler::kDense, "dense"}, {Sampler::kTridiagonal, "tridiagonal"}});
inline std::string to_string(Sampler sampler) { return std::string(kSamplerNames.name(sampler)); }

struct MonteCarloOptions {
  std::int64_t samples = 100000;  // > 0
  std::int64_t block_size = 4096; // samples per random stream; part of the result's identity; > 0
  Sampler sampler = Sampler::kAuto;
  double confidence = 0.95;       // of the Clopper–Pearson interval, in (0, 1)
  bool IsValid(std::string* why) const;
};

struct MonteCarloResult {
  std::int64_t samples = 0;
  std::int64_t hits = 0;          // samples with every eigenvalue > 0 (index 0, no zero eigenvalue)
  double p = 0;                   // hits / samples
  double ci_low = 0, ci_high = 1; // exact (Clopper–Pearson) interval at `confidence`
  std::vector<std::int64_t> index_histogram;  // [k + 1]: samples with j negative eigenvalues
  double index_mean = 0, index_variance = 0;  // of the number of negative eigenvalues (variance /n)
  Sampler sampler_used = Sampler::kDense;
};

// Exact two-sided Clopper–Pearson interval for `hits` successes in `n` trials (Boost.Math beta
// quantiles): [B(α/2; x, n−x+1), B(1−α/2; x+1, n−x)], with 0 / 1 at the ends.
std::pair<double, double> clopper_pearson(std::int64_t hits, std::int64_t n, double confidence);

// A 64-bit stream id mixing the parts (SplitMix64 finaliser per part): distinct tuples give distinct
// streams except with probability ~2⁻⁶⁴ per pair.
std::uint64_t stream_id(std::initializer_list<std::uint64_t> parts);

// Called after each completed block with (samples done, samples total); may be empty.
using Progress = std::function<void(std::int64_t, std::int64_t)>;

// Work items under MPI (docs/distributed.md). Every estimator of this module (monte_carlo, subset_simulation,
// thermodynamic_integration) is a set of independent work items, each computed from its own stream and
// reduced in item order. For dealing the items of several calls out together (rmt-check deals every k's
// items at once, rmt/check.h), each estimator also comes as three steps:
//   <estimator>_items(options)             the number of items of one call;
//   <estimator>_compute_items(..., first_item, records, progress)
//                                          computes the items i this rank owns — parallel::owns_item(first_item
//                                          + i), so the caller numbers the items of all its calls in one sequence —
//                                          into records[i] (one vector of doubles each, exact for counts);
//   <estimator>_from_items(..., records)   the result from every item's record (after parallel::share_items).
// The one-call functions are these three steps with first_item = 0 and one share_items.
using ItemRecords = std::span<std::vector<double>>;

// Monte Carlo's items are its blocks of `block_size` samples.
std::int64_t monte_carlo_items(const MonteCarloOptions& options);
void monte_carlo_compute_items(const Ensemble& ensemble, const MonteCarloOptions& options, std::uint64_t seed,
                               std::uint64_t stream_base, std::int64_t first_item, ItemRecords records,
                               const Progress& progress = {});
MonteCarloResult monte_carlo_from_items(const Ensemble& ensemble, const MonteCarloOptions& options,
                                        std::span<const std::vector<double>> records);

// Throws std::invalid_argument for invalid options or a tridiagonal sampler on an ensemble without it.
MonteCarloResult monte_carlo(const Ensemble& ensemble, const MonteCarloOptions& options, std::uint64_t seed,
                             std::uint64_t stream_base, const Progress& progress = {});

}  // namespace saddlescope::rmt
