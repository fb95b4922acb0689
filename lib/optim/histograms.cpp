#include "optim/histograms.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <stdexcept>

#include "text/format.h"

namespace saddlescope::optim {
namespace {

using Blocks = std::vector<objective::Objective::Block>;

// The extremes of the finite entries of v ({0, 0} when there are none: an update that overflowed must not
// make the edges NaN; its entries are counted as overflow or underflow).
std::pair<double, double> finite_extremes(const Eigen::Ref<const Eigen::VectorXd>& v) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (Eigen::Index i = 0; i < v.size(); ++i)
    if (std::isfinite(v(i))) lo = std::min(lo, v(i)), hi = std::max(hi, v(i));
  return lo <= hi ? std::pair{lo, hi} : std::pair{0.0, 0.0};
}

}  // namespace

Eigen::MatrixXd HistogramEdges::from_first_step(const Blocks& blocks, const Eigen::VectorXd& values, Eigen::Index bins,
                                                double widen) {
  const auto [whole_lo, whole_hi] = finite_extremes(values);
  const double whole = 0.5 * (whole_hi - whole_lo);
  Eigen::MatrixXd edges(static_cast<Eigen::Index>(blocks.size()), bins + 1);
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    const auto [lo0, hi0] = finite_extremes(values.segment(blocks[b].offset, blocks[b].size));
    const double centre = 0.5 * (lo0 + hi0);
    double h = 0.5 * (hi0 - lo0);
    if (h == 0.0) h = whole;
    if (h == 0.0) h = 1.0;
    // At least 1e-12·bins·|c|: the bins' width 2wh/bins then exceeds the spacing of doubles near c
    // (2.2e-16·|c|) by orders of magnitude, so the edges are distinct, increasing doubles.
    h = std::max(h, 1e-12 * static_cast<double>(bins) * std::abs(centre));
    const double lo = centre - widen * h, hi = centre + widen * h, width = hi - lo;
    const auto row = static_cast<Eigen::Index>(b);
    for (Eigen::Index i = 0; i < bins; ++i)
      edges(row, i) = lo + width * static_cast<double>(i) / static_cast<double>(bins);
    edges(row, bins) = hi;
  }
  return edges;
}

io::HistogramEdgeSet to_file(const HistogramEdges& edges) {
  io::HistogramEdgeSet stored;
  stored.blocks = edges.blocks;
  for (std::size_t q = 0; q < kHistogramQuantities; ++q)
    stored.edges.emplace(to_string(static_cast<HistogramQuantity>(q)), edges.edges[q]);
  return stored;
}

std::optional<HistogramEdges> from_file(const io::HistogramEdgeSet& stored,
                                        const std::vector<objective::Objective::Block>& blocks, Eigen::Index bins) {
  HistogramEdges edges;
  for (const auto& b : blocks) edges.blocks.push_back(b.name);
  if (stored.blocks != edges.blocks) return std::nullopt;
  for (std::size_t q = 0; q < kHistogramQuantities; ++q) {
    const auto it = stored.edges.find(to_string(static_cast<HistogramQuantity>(q)));
    if (it == stored.edges.end() || it->second.cols() != bins + 1 ||
        it->second.rows() != static_cast<Eigen::Index>(blocks.size()))
      return std::nullopt;
    edges.edges[q] = it->second;
  }
  return edges;
}

void count_histograms(const Blocks& blocks, const Eigen::VectorXd& values, const Eigen::MatrixXd& edges,
                      HistogramCounts& counts) {
  const Eigen::Index bins = edges.cols() - 1;
  counts.setZero(static_cast<Eigen::Index>(blocks.size()), bins + 2);
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    const auto row = static_cast<Eigen::Index>(b);
    const double first = edges(row, 0), last = edges(row, bins);
    const double scale = static_cast<double>(bins) / (last - first);
    for (Eigen::Index k = blocks[b].offset; k < blocks[b].offset + blocks[b].size; ++k) {
      const double v = values(k);
      if (v < first) {
        ++counts(row, 0);
      } else if (!(v <= last)) {  // above the range, or NaN
        ++counts(row, bins + 1);
      } else {
        // A first guess from the uniform spacing, then corrected against the stored edges themselves (as
        // numpy.histogram does), so the count is exactly "edge_i <= v < edge_{i+1}" whatever the rounding.
        auto i = static_cast<Eigen::Index>((v - first) * scale);
        i = std::clamp<Eigen::Index>(i, 0, bins - 1);
        while (i > 0 && v < edges(row, i)) --i;
        while (i < bins - 1 && v >= edges(row, i + 1)) ++i;
        ++counts(row, i + 1);
      }
    }
  }
}

bool HistogramOptions::IsValid(std::string* why) const {
  auto fail = [&](const std::string& field, const std::string& value, const std::string& rule) {
    if (why != nullptr) *why = "histograms: '" + field + "' = " + value + " " + rule;
    return false;
  };
  if (every < 0) return fail("every", std::to_string(every), "must be >= 0 (0: off)");
  if (bins < 1) return fail("bins", std::to_string(bins), "must be >= 1");
  // A row holds 3·L·(bins + 2) counts: 4096 bins keep a row of a 100-block model under 10 MB.
  if (bins > 4096) return fail("bins", std::to_string(bins), "must be <= 4096");
  if (!(std::isfinite(widen) && widen >= 1.0)) return fail("widen", text::format_number(widen), "must be finite and >= 1");
  if (edges && edges->bins() != bins)
    return fail("bins", std::to_string(bins), "must equal the given edges' " + std::to_string(edges->bins()));
  return true;
}

HistogramTaker::HistogramTaker(const HistogramOptions& options, std::vector<objective::Objective::Block> blocks)
    : options_(options), blocks_(std::move(blocks)) {
  for (const auto& b : blocks_) edges_.blocks.push_back(b.name);
  if (options_.edges) {
    if (options_.edges->blocks != edges_.blocks)
      throw std::invalid_argument("histograms: the given edges are for other parameter blocks");
    edges_ = *options_.edges;
    std::fill(std::begin(fixed_), std::end(fixed_), true);
  }
}

void HistogramTaker::count(HistogramQuantity q, const Eigen::VectorXd& values) {
  const auto index = static_cast<std::size_t>(q);
  if (!fixed_[index]) {
    edges_.edges[index] = HistogramEdges::from_first_step(blocks_, values, options_.bins, options_.widen);
    fixed_[index] = true;
  }
  count_histograms(blocks_, values, edges_.edges[index], row_.counts[index]);
}

void HistogramTaker::before(std::int64_t step, const Eigen::VectorXd& x, const Eigen::VectorXd& gradient) {
  row_.step = step;
  count(HistogramQuantity::weights, x);
  count(HistogramQuantity::gradients, gradient);
}

const LayerHistograms& HistogramTaker::after(const Eigen::VectorXd& x_before, const Eigen::VectorXd& x_after) {
  update_ = x_after - x_before;
  count(HistogramQuantity::updates, update_);
  return row_;
}

}  // namespace saddlescope::optim
