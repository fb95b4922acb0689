#pragma once
// Per-layer histograms of weights, gradients and updates during training (issue #16 item 3: what
// TensorBoard users watch), taken by the Trainer every `every` steps and handed to its recorders
// (optim/trainer.h: Recorder::on_histograms); the run log stores them (io/run_log.h, /histograms).
//
// At a histogram step t, for every parameter block b (Objective::parameter_blocks(): an MLP's
// layer<k>.weight / .bias, a graph model's initializer names) and three quantities:
//   weights    x_t restricted to b;
//   gradients  the gradient the step's update was computed from (full or mini-batch, before clipping
//              and gradient noise — the one behind /steps/grad_norm);
//   updates    x_{t+1} − x_t (optimizer update and escape moves together — the one behind update_norm).
// A row is taken only for steps that take their update: t % every == 0 and the step neither diverged
// nor stopped on stop_grad_norm.
//
// Bin edges are fixed per block and quantity for the whole run, so a run's histograms share one axis
// and plot over time in one call. Rule (HistogramEdges::from_first_step), from the values at the first
// histogram step (t = 0 of a fresh run): with v_min, v_max the block's extremes, centre
// c = (v_min + v_max)/2 and half-width h = (v_max − v_min)/2, the range is [c − w·h, c + w·h] with the
// widening factor w = `widen` (default 2: weights may spread, gradients and updates mostly shrink);
// a block whose values are all equal (h = 0: biases and batch-norm shifts start at 0, scales at 1) takes
// h of the quantity over the whole parameter vector, and h = 1 when that is 0 too. The range is cut into
// `bins` equal bins: edge_i = lo + (hi − lo)·i/bins, edge_bins = hi exactly.
// A value v counts in bin i when edge_i ≤ v < edge_{i+1} (the last bin also takes v = hi) — the rule of
// numpy.histogram with the same edges; below edge_0 it is `underflow`, above edge_bins or NaN it is
// `overflow`, so underflow + Σ bins + overflow = the block's size: nothing is dropped silently.
// A run resumed from a checkpoint written with histograms keeps the checkpoint's edges (io::Checkpoint
// ::histogram_edges) when the block names and the bin count agree; otherwise it fixes new ones.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "io/checkpoint.h"
#include "objective/objective.h"
#include "text/names.h"

namespace saddlescope::optim {

enum class HistogramQuantity { weights, gradients, updates };
inline constexpr auto kHistogramQuantityNames = text::make_name_table<HistogramQuantity>(
    "histogram quantity", {{HistogramQuantity::weights, "weights"},
                           {HistogramQuantity::gradients, "gradients"},
                           {HistogramQuantity::updates, "updates"}});
inline constexpr std::size_t kHistogramQuantities = 3;
inline std::string to_string(HistogramQuantity q) { return std::string(kHistogramQuantityNames.name(q)); }

// Fixed bin edges: per quantity (index = HistogramQuantity) a [L, bins + 1] matrix, row b the edges of
// block b, strictly increasing.
struct HistogramEdges {
  std::vector<std::string> blocks;                             // block names, parameter_blocks() order
  std::array<Eigen::MatrixXd, kHistogramQuantities> edges;     // [L, bins + 1] each
  Eigen::Index bins() const { return edges[0].cols() - 1; }
  // The rule above for one quantity: `values` the whole vector at the first histogram step.
  static Eigen::MatrixXd from_first_step(const std::vector<objective::Objective::Block>& blocks,
                                         const Eigen::VectorXd& values, Eigen::Index bins, double widen);
};

// The edges' file form (a checkpoint's /histogram_edges) and back. from_file returns nothing when the
// stored edges are not for these block names (a different model) or this bin count.
io::HistogramEdgeSet to_file(const HistogramEdges& edges);
std::optional<HistogramEdges> from_file(const io::HistogramEdgeSet& stored,
                                        const std::vector<objective::Objective::Block>& blocks, Eigen::Index bins);

using HistogramCounts = Eigen::Matrix<std::int64_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// One histogram row: per quantity a [L, bins + 2] count matrix; column 0 the underflow, columns
// 1..bins the bins, column bins + 1 the overflow (each row sums to the block's size).
struct LayerHistograms {
  std::int64_t step = 0;
  std::array<HistogramCounts, kHistogramQuantities> counts;
};

// Counts `values` (the whole vector) per block into `counts` ([L, bins + 2], see above) with the rows
// of `edges` ([L, bins + 1]).
void count_histograms(const std::vector<objective::Objective::Block>& blocks, const Eigen::VectorXd& values,
                      const Eigen::MatrixXd& edges, HistogramCounts& counts);

struct HistogramOptions {
  std::int64_t every = 0;    // a histogram row every this many steps (0: off)
  std::int64_t bins = 64;    // equal bins per block and quantity (1 to 4096)
  double widen = 2.0;        // the edge rule's widening factor w (finite, ≥ 1)
  // Edges to continue (a resumed run: from_file of the checkpoint's); empty: fixed at the first step.
  std::optional<HistogramEdges> edges;
  bool IsValid(std::string* why) const;
};

// The Trainer's helper: decides the steps, fixes the edges at the first one, counts.
class HistogramTaker {
 public:
  HistogramTaker(const HistogramOptions& options, std::vector<objective::Objective::Block> blocks);
  bool due(std::int64_t step) const { return options_.every > 0 && step % options_.every == 0; }
  // Weights and gradients at x_t (before the update), then the update: after() returns the row.
  void before(std::int64_t step, const Eigen::VectorXd& x, const Eigen::VectorXd& gradient);
  const LayerHistograms& after(const Eigen::VectorXd& x_before, const Eigen::VectorXd& x_after);
  const HistogramEdges& edges() const { return edges_; }

 private:
  void count(HistogramQuantity q, const Eigen::VectorXd& values);
  HistogramOptions options_;
  std::vector<objective::Objective::Block> blocks_;
  HistogramEdges edges_;
  bool fixed_[kHistogramQuantities] = {false, false, false};
  LayerHistograms row_;
  Eigen::VectorXd update_;
};

}  // namespace saddlescope::optim
