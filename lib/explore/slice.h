#pragma once
// Loss slices: f along one or two directions through a point, on a grid.
//
//   point(α, β) = c + α·d₁ + β·d₂                      (random or eigenvector directions, centre c)
//   point(α, β) = (1 − α)·θ_A + α·θ_B + β·d₂             (interpolation between two checkpoints)
// The interpolation is written as a convex combination, not θ_A + α(θ_B − θ_A), so that α = 0 and α = 1
// give θ_A and θ_B bit for bit. Grid coordinates are α_i = lo·(1 − t_i) + hi·t_i with t_i = i/(n − 1),
// which hits both ends of the range exactly.
//
// Random directions: standard normal entries from random::Rng(seed, kSliceStream + d) for direction d
// (0 or 1), then filter normalisation (Li, Xu, Taylor, Studer & Goldstein, NeurIPS 2018, "Visualizing the
// loss landscape of neural nets", Sec. 4): for each row of each weight matrix (a "filter": one output
// unit's incoming weights), d_row ← d_row·‖w_row‖/(‖d_row‖ + 1e-10); blocks without rows (biases, and
// the single block "x" of a test function) are set to zero (Li et al.'s choice for biases and batch-norm
// parameters) or, with zero_one_dimensional = false, normalised as one filter.
// Eigenvector directions: unit eigenvectors of ∇²f(c) from curvature::extreme_eigenpairs, each signed so
// that its entry of largest magnitude is positive (eigenvectors are defined up to sign).
#include <Eigen/Core>
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "critical/classify.h"
#include "explore/find_critical.h"
#include "objective/objective.h"
#include "text/names.h"

namespace saddlescope::explore {

// random: filter-normalised random directions; top / bottom: eigenvectors of the largest / smallest
// Hessian eigenvalues (1-D: the first; 2-D: the first two); extreme: d₁ = bottom, d₂ = top eigenvector
// (2-D only); interpolate: from θ_A (α = 0) to θ_B (α = 1), with a random d₂ in 2-D.
enum class SliceDirections { random, top, bottom, extreme, interpolate };
inline constexpr auto kSliceDirectionNames = text::make_name_table<SliceDirections>(
    "directions", {{SliceDirections::random, "random"},
                   {SliceDirections::top, "top"},
                   {SliceDirections::bottom, "bottom"},
                   {SliceDirections::extreme, "extreme"},
                   {SliceDirections::interpolate, "interpolate"}});
inline std::string to_string(SliceDirections d) { return std::string(kSliceDirectionNames.name(d)); }

enum class Normalization { filter, none };
inline constexpr auto kNormalizationNames = text::make_name_table<Normalization>(
    "normalization", {{Normalization::filter, "filter"}, {Normalization::none, "none"}});
inline std::string to_string(Normalization n) { return std::string(kNormalizationNames.name(n)); }

inline constexpr std::uint64_t kSliceStream = 0x511ce00;

struct SliceOptions {
  SliceDirections directions = SliceDirections::random;
  int dims = 1;                            // 1 or 2
  objective::Index points1 = 21, points2 = 21;  // grid sizes (≥ 1; points2 ignored in 1-D)
  double lo1 = -1.0, hi1 = 1.0, lo2 = -1.0, hi2 = 1.0;  // ranges of α and β (lo ≤ hi, finite)
  Normalization normalization = Normalization::filter;  // random directions only
  bool zero_one_dimensional = true;  // biases / 1-D blocks of random directions set to zero
  std::uint64_t seed = 0;
  // Per grid point λ_min and λ_max through critical::classify (its method, tolerances).
  bool curvature = false;
  critical::ClassifyOptions classify;
  // Eigenvector directions: extreme_eigenpairs options (k and which are set from `directions`/`dims`).
  curvature::EigenpairOptions eigen;
  // loss-slice --block: when not empty, every direction is zero outside these parameter blocks — random
  // directions are drawn and normalised as usual and then zeroed elsewhere; eigenvector directions are
  // the eigenvectors of the diagonal block H_bb (curvature/blocks.h) embedded in the full space. Not
  // with `interpolate` (the line θ_A → θ_B is what it is).
  std::vector<objective::Objective::Block> blocks;
  // Progress of evaluate_slice: ("points", done, total) as points finish (total = the points this run
  // computes). Calls are serialised but may come from any worker thread. May be empty.
  std::function<void(std::string_view, std::int64_t, std::int64_t)> progress;

  bool IsValid(std::string* why) const;
};

// Row length of each parameter block for filter normalisation (0 = no rows: a bias or 1-D block), in the
// order of parameter_blocks(). Weight blocks named "layer<l>.weight" of networks are [d_l, d_{l−1}]
// row-major (models/network.h), so their rows have d_{l−1} entries, read from the spec's widths/inputs.
std::vector<objective::Index> filter_row_lengths(const objective::Objective& f);

// Filter-normalises `d` in place against the weights `w` (see the header comment).
void filter_normalize(const objective::Objective& f, const objective::Vector& w, objective::Vector& d,
                      bool zero_one_dimensional);

struct SlicePlan {
  bool interpolate = false;
  objective::Vector origin;     // c, or θ_A for interpolation
  objective::Vector end;        // θ_B for interpolation, else empty
  objective::Vector d1, d2;     // d1 empty for interpolation (it is θ_B − θ_A implicitly); d2 empty in 1-D
  objective::Vector eigenvalues;// eigenvalues of the eigenvector directions (empty otherwise)
  objective::Vector alpha, beta;// grid coordinates (beta has one entry 0 in 1-D)
  objective::Index size() const { return alpha.size() * beta.size(); }
  // Grid point k = i·beta.size() + j (row-major, as the [n1, n2] loss dataset).
  objective::Vector point(objective::Index k) const;
};

// Builds the directions and the grid. `other` is θ_B (interpolation only, else nullptr). Throws
// std::invalid_argument for invalid options or sizes. Eigenvector directions that did not converge are
// a std::runtime_error naming the Lanczos message.
SlicePlan make_slice_plan(const objective::Objective& f, const objective::Vector& center,
                          const objective::Vector* other, const SliceOptions& options);

// Grid values, flat row-major; lambda_* empty unless curvature. done[k] = 1 once point k is computed.
struct SliceValues {
  objective::Vector loss, lambda_min, lambda_max;
  std::vector<std::int64_t> done;
  void resize(objective::Index size, bool curvature);
  objective::Index done_count() const;
};

// Under MPI, rank 0's plan and values on every rank: loss-slice --resume has rank 0 alone read the partial
// file (one writer, no HDF5 file locking between ranks; docs/distributed.md) and then hands the other
// ranks the directions, the grid and which points are done. Collective; a no-op with one rank.
void broadcast_slice(SlicePlan& plan, SliceValues& values);

// Computes the grid points not yet done, at most `max_new_points` of them (−1: all), in chunks of
// `chunk` points spread over `threads` workers; `flush()` is called from the calling thread after each
// chunk (the tools write the file there). Returns the number of points computed. Each point's numbers
// depend only on the point (classification seeds are fixed), so any thread count gives the same bits.
objective::Index evaluate_slice(const ObjectiveFactory& factory, const SlicePlan& plan, const SliceOptions& options,
                                int threads, objective::Index max_new_points, objective::Index chunk,
                                SliceValues& values, const std::function<void()>& flush);

}  // namespace saddlescope::explore
