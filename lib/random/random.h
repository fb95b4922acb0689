#pragma once
// Reproducible random streams. A stream is named by (seed, stream id) — never by a thread id — so a
// computation split into blocks with their own streams gives the same bits for any number of threads
// (DESIGN.md, "Reproducibility and parallelism").
//
// Generator: xoshiro256** (Blackman & Vigna 2018), state seeded by SplitMix64 from (seed, stream).
// Normal variates: Box–Muller on two uniforms, both outputs used in turn. We do not use
// std::normal_distribution, whose algorithm differs between standard libraries.
#include <cstdint>
#include <limits>

namespace saddlescope::random {

class Rng {
 public:
  using result_type = std::uint64_t;
  Rng(std::uint64_t seed, std::uint64_t stream = 0);

  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }
  result_type operator()() { return next(); }

  std::uint64_t next();
  // Uniform on [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform on (0, 1]: safe under log().
  double uniform_open_zero() { return static_cast<double>((next() >> 11) + 1) * 0x1.0p-53; }
  // Standard normal N(0, 1).
  double normal();
  // Uniform integer in [0, bound), bound ≥ 1 (Lemire's unbiased multiply-and-reject).
  std::uint64_t below(std::uint64_t bound);
  // ±1 with probability ½ each (Rademacher).
  double rademacher() { return (next() >> 63) != 0 ? 1.0 : -1.0; }

 private:
  std::uint64_t state_[4];
  double spare_normal_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace saddlescope::random
