#include "curvature/blocks.h"

#include <fnmatch.h>

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <stdexcept>

#include "curvature/trace.h"

namespace saddlescope::curvature {

std::vector<std::string> split_block_patterns(const std::string& list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = list.find(',', start);
    const std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.empty()) throw std::invalid_argument("block list '" + list + "' has an empty item");
    out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::vector<ParameterBlock> select_blocks(const std::vector<ParameterBlock>& blocks, const std::vector<std::string>& patterns) {
  std::vector<char> chosen(blocks.size(), 0);
  for (const auto& pattern : patterns) {
    bool matched = false;
    for (std::size_t b = 0; b < blocks.size(); ++b)
      if (fnmatch(pattern.c_str(), blocks[b].name.c_str(), 0) == 0) chosen[b] = matched = true;
    if (!matched) {
      std::string names;
      for (std::size_t b = 0; b < blocks.size() && b < 12; ++b) names += (b ? ", " : "") + blocks[b].name;
      if (blocks.size() > 12) names += ", … (" + std::to_string(blocks.size()) + " blocks)";
      throw std::invalid_argument("block pattern '" + pattern + "' matches no parameter block; the blocks are: " + names);
    }
  }
  std::vector<ParameterBlock> out;
  for (std::size_t b = 0; b < blocks.size(); ++b)
    if (chosen[b]) out.push_back(blocks[b]);
  return out;
}

RestrictedOperator::RestrictedOperator(const SymmetricOperator& A, std::vector<ParameterBlock> blocks)
    : A_(A), blocks_(std::move(blocks)) {
  if (blocks_.empty()) throw std::invalid_argument("restriction to an empty set of parameter blocks");
  std::vector<ParameterBlock> sorted = blocks_;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.offset < b.offset; });
  for (std::size_t b = 0; b < sorted.size(); ++b) {
    const auto& block = sorted[b];
    if (block.size < 1 || block.offset < 0 || block.offset + block.size > A.rows())
      throw std::invalid_argument("parameter block '" + block.name + "' lies outside [0, " + std::to_string(A.rows()) + ")");
    if (b > 0 && sorted[b - 1].offset + sorted[b - 1].size > block.offset)
      throw std::invalid_argument("parameter blocks '" + sorted[b - 1].name + "' and '" + block.name + "' overlap");
    size_ += block.size;
  }
}

Eigen::VectorXd RestrictedOperator::embed(const Eigen::VectorXd& v) const {
  Eigen::VectorXd full = Eigen::VectorXd::Zero(A_.rows());
  Eigen::Index at = 0;
  for (const auto& block : blocks_) {
    full.segment(block.offset, block.size) = v.segment(at, block.size);
    at += block.size;
  }
  return full;
}

Eigen::VectorXd RestrictedOperator::restrict(const Eigen::VectorXd& v) const {
  Eigen::VectorXd out(size_);
  Eigen::Index at = 0;
  for (const auto& block : blocks_) {
    out.segment(at, block.size) = v.segment(block.offset, block.size);
    at += block.size;
  }
  return out;
}

void RestrictedOperator::apply_block(const Eigen::MatrixXd& V, Eigen::MatrixXd& AV) const {
  Eigen::MatrixXd full = Eigen::MatrixXd::Zero(A_.rows(), V.cols()), product;
  Eigen::Index at = 0;
  for (const auto& block : blocks_) {
    full.middleRows(block.offset, block.size) = V.middleRows(at, block.size);
    at += block.size;
  }
  A_.apply(full, product);
  AV.resize(size_, V.cols());
  at = 0;
  for (const auto& block : blocks_) {
    AV.middleRows(at, block.size) = product.middleRows(block.offset, block.size);
    at += block.size;
  }
}

bool LayerTableOptions::IsValid(std::string* why) const {
  auto fail = [&](const std::string& m) {
    if (why) *why = m;
    return false;
  };
  if (dense_threshold < 0) return fail("'dense_threshold' = " + std::to_string(dense_threshold) + " must be >= 0");
  if (trace_samples < 1) return fail("'trace_samples' = " + std::to_string(trace_samples) + " must be >= 1");
  return true;
}

std::vector<BlockGroup> one_group_per_block(const std::vector<ParameterBlock>& blocks) {
  std::vector<BlockGroup> groups;
  for (const auto& block : blocks) groups.push_back({block.name, {block}});
  return groups;
}

std::vector<BlockGroup> group_by_layer(const std::vector<ParameterBlock>& blocks) {
  std::vector<BlockGroup> groups;
  for (const auto& block : blocks) {
    const std::size_t dot = block.name.rfind('.');
    const std::string layer = dot == std::string::npos ? block.name : block.name.substr(0, dot);
    auto it = std::find_if(groups.begin(), groups.end(), [&](const BlockGroup& g) { return g.name == layer; });
    if (it == groups.end()) groups.push_back({layer, {block}});
    else it->blocks.push_back(block);
  }
  return groups;
}

std::vector<LayerCurvature> layer_table(const SymmetricOperator& A, const std::vector<BlockGroup>& groups,
                                        const LayerTableOptions& options) {
  std::string why;
  if (!options.IsValid(&why)) throw std::invalid_argument(why);
  std::vector<LayerCurvature> rows;
  for (std::size_t b = 0; b < groups.size(); ++b) {
    const RestrictedOperator block(A, groups[b].blocks);
    LayerCurvature row;
    row.name = groups[b].name;
    row.size = block.rows();
    if (row.size <= options.dense_threshold) {
      const Eigen::MatrixXd dense = block.dense();
      const Eigen::VectorXd e = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(dense, Eigen::EigenvaluesOnly).eigenvalues();
      row.lambda_min = e(0);
      row.lambda_max = e(e.size() - 1);
      row.trace = dense.trace();
      row.exact = true;
    } else {
      EigenpairOptions lanczos = options.lanczos;
      lanczos.k = 1;
      lanczos.which = Which::both_ends;
      lanczos.seed = options.seed + 1000003 * b;  // a distinct start block per row, fixed by (seed, b)
      const EigenpairResult ends = extreme_eigenpairs(block, lanczos);
      row.lambda_min = ends.eigenvalues(0);
      row.lambda_max = ends.eigenvalues(ends.eigenvalues.size() - 1);
      row.converged = ends.converged;
      const HutchinsonResult trace = hutchinson(block, options.trace_samples, lanczos.seed);
      row.trace = trace.trace.trace;
      row.trace_stderr = trace.trace.stderr_;
    }
    row.hvp_count = block.product_count();
    rows.push_back(row);
  }
  return rows;
}

SpectrumReport analyze_block_spectrum(const SymmetricOperator& A, const std::vector<ParameterBlock>& blocks,
                                      const SpectrumOptions& options) {
  const RestrictedOperator restricted(A, blocks);
  SpectrumReport report = analyze_spectrum(restricted, options);
  for (Eigen::MatrixXd* vectors : {&report.bottom_eigenvectors, &report.top_eigenvectors}) {
    if (vectors->size() == 0) continue;
    Eigen::MatrixXd full(A.rows(), vectors->cols());
    for (Eigen::Index j = 0; j < vectors->cols(); ++j) full.col(j) = restricted.embed(vectors->col(j));
    *vectors = std::move(full);
  }
  return report;
}

}  // namespace saddlescope::curvature
