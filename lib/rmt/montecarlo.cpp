#include "rmt/montecarlo.h"

#include <boost/math/distributions/beta.hpp>
#include <cmath>
#include <stdexcept>

#include "curvature/inertia.h"
#include "parallel/parallel.h"

namespace saddlescope::rmt {

bool MonteCarloOptions::IsValid(std::string* why) const {
  auto fail = [&](const std::string& m) {
    if (why) *why = m;
    return false;
  };
  if (samples <= 0) return fail("'samples' must be > 0, got " + std::to_string(samples));
  if (block_size <= 0) return fail("'block_size' must be > 0, got " + std::to_string(block_size));
  if (!(confidence > 0 && confidence < 1)) return fail("'confidence' must be in (0, 1), got " + std::to_string(confidence));
  return true;
}

std::pair<double, double> clopper_pearson(std::int64_t hits, std::int64_t n, double confidence) {
  if (n <= 0 || hits < 0 || hits > n) throw std::invalid_argument("clopper_pearson: need 0 <= hits <= n, n > 0");
  const double alpha = 1.0 - confidence;
  const double x = static_cast<double>(hits), m = static_cast<double>(n);
  const double low = hits == 0 ? 0.0 : boost::math::quantile(boost::math::beta_distribution<double>(x, m - x + 1), alpha / 2);
  const double high =
      hits == n ? 1.0 : boost::math::quantile(boost::math::beta_distribution<double>(x + 1, m - x), 1 - alpha / 2);
  return {low, high};
}

std::uint64_t stream_id(std::initializer_list<std::uint64_t> parts) {
  std::uint64_t h = 0x243f6a8885a308d3ULL;  // digits of π: an arbitrary non-zero start
  for (std::uint64_t part : parts) {
    std::uint64_t z = h + part + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    h = z ^ (z >> 31);
  }
  return h;
}

namespace {

Sampler resolve_sampler(const Ensemble& ensemble, const MonteCarloOptions& options) {
  std::string why;
  if (!options.IsValid(&why)) throw std::invalid_argument(why);
  Sampler sampler = options.sampler;
  if (sampler == Sampler::kAuto) sampler = ensemble.has_tridiagonal_model() ? Sampler::kTridiagonal : Sampler::kDense;
  if (sampler == Sampler::kTridiagonal && !ensemble.has_tridiagonal_model())
    throw std::invalid_argument("sampler 'tridiagonal' needs ensemble goe or goe-shift, got " +
                                to_string(ensemble.options().kind));
  return sampler;
}

}  // namespace

std::int64_t monte_carlo_items(const MonteCarloOptions& options) {
  return options.samples > 0 && options.block_size > 0 ? (options.samples + options.block_size - 1) / options.block_size : 0;
}

void monte_carlo_compute_items(const Ensemble& ensemble, const MonteCarloOptions& options, std::uint64_t seed,
                               std::uint64_t stream_base, std::int64_t first_item, ItemRecords records,
                               const Progress& progress) {
  const Sampler sampler = resolve_sampler(ensemble, options);
  const Eigen::Index k = ensemble.k();
  const std::int64_t n = options.samples, bs = options.block_size;
  const std::int64_t blocks = monte_carlo_items(options);
  if (static_cast<std::int64_t>(records.size()) != blocks)
    throw std::invalid_argument("monte_carlo_compute_items: " + std::to_string(records.size()) + " records for " +
                                std::to_string(blocks) + " blocks");
  std::int64_t done = 0;
  // Blocks are independent; dynamic scheduling only changes who computes a block, not its stream.
#pragma omp parallel
  {
    Eigen::VectorXd z;
    Eigen::MatrixXd H;
    std::vector<double> diagonal, offdiagonal;
    std::vector<std::int64_t> histogram;
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t b = 0; b < blocks; ++b) {
      if (!parallel::owns_item(first_item + b)) continue;  // MPI: another rank draws this block
      random::Rng rng(seed, stream_id({stream_base, static_cast<std::uint64_t>(b)}));
      histogram.assign(static_cast<std::size_t>(k + 1), 0);
      std::int64_t hits = 0;
      const std::int64_t count = std::min(bs, n - b * bs);
      for (std::int64_t s = 0; s < count; ++s) {
        curvature::Inertia in;
        if (sampler == Sampler::kTridiagonal) {
          in = ensemble.sample_tridiagonal_inertia(rng, diagonal, offdiagonal);
        } else {
          ensemble.draw_gaussian(rng, z);
          ensemble.matrix(z, H);
          in = curvature::inertia_ldlt_in_place(H, 0.0);
        }
        ++histogram[static_cast<std::size_t>(in.negative)];
        if (in.negative == 0 && in.zero == 0) ++hits;
      }
      // The block's record: [hits, histogram[0..k]] (integer counts, exact as doubles).
      std::vector<double>& record = records[static_cast<std::size_t>(b)];
      record.assign(1, static_cast<double>(hits));
      for (std::int64_t h : histogram) record.push_back(static_cast<double>(h));
      if (progress) {
#pragma omp critical(rmt_progress)
        {
          done += count;
          progress(done, n);
        }
      }
    }
  }
}

MonteCarloResult monte_carlo_from_items(const Ensemble& ensemble, const MonteCarloOptions& options,
                                        std::span<const std::vector<double>> records) {
  const Sampler sampler = resolve_sampler(ensemble, options);
  const Eigen::Index k = ensemble.k();
  const std::int64_t n = options.samples;
  MonteCarloResult r;
  r.samples = n;
  r.sampler_used = sampler;
  r.index_histogram.assign(static_cast<std::size_t>(k + 1), 0);
  // In block order: integer sums, so the order only matters for readability.
  for (const std::vector<double>& record : records) {
    if (record.size() != r.index_histogram.size() + 1)
      throw std::invalid_argument("monte_carlo_from_items: a block record has " + std::to_string(record.size()) +
                                  " entries, expected " + std::to_string(r.index_histogram.size() + 1));
    r.hits += static_cast<std::int64_t>(record[0]);
    for (std::size_t j = 0; j < r.index_histogram.size(); ++j) r.index_histogram[j] += static_cast<std::int64_t>(record[j + 1]);
  }
  r.p = static_cast<double>(r.hits) / static_cast<double>(n);
  std::tie(r.ci_low, r.ci_high) = clopper_pearson(r.hits, n, options.confidence);
  double mean = 0, second = 0;
  for (std::size_t j = 0; j < r.index_histogram.size(); ++j) {
    const double w = static_cast<double>(r.index_histogram[j]) / static_cast<double>(n);
    mean += w * static_cast<double>(j);
    second += w * static_cast<double>(j) * static_cast<double>(j);
  }
  r.index_mean = mean;
  r.index_variance = second - mean * mean;
  return r;
}

MonteCarloResult monte_carlo(const Ensemble& ensemble, const MonteCarloOptions& options, std::uint64_t seed,
                             std::uint64_t stream_base, const Progress& progress) {
  resolve_sampler(ensemble, options);  // validates before anything is allocated
  // Blocks are work items: under MPI each rank draws the blocks it owns; share_items gives every rank
  // every block's tally, so the sums run in block order everywhere.
  std::vector<std::vector<double>> records(static_cast<std::size_t>(monte_carlo_items(options)));
  monte_carlo_compute_items(ensemble, options, seed, stream_base, 0, records, progress);
  parallel::share_items(records);
  return monte_carlo_from_items(ensemble, options, records);
}

}  // namespace saddlescope::rmt
