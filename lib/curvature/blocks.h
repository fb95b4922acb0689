#pragma once
// Per-block curvature: the restriction of a curvature operator to the diagonal block A_bb of a set of
// named parameter blocks (objective.h's parameter_blocks(): "layer1.weight", "layer1.0.conv1.weight",
// …), and the per-layer table PyHessian's users ask for (its issues #10, per-layer eigenvalues, and #9,
// stage-wise trace): λ_max, λ_min and the trace of every block.
//
// A_bb is the principal submatrix on the selected coordinates S: A_bb = Pᵀ A P with P the n×|S| selection
// of the identity's columns. By Cauchy's interlacing theorem (Horn & Johnson, Matrix Analysis, Thm.
// 4.3.28) its eigenvalues lie in [λ_min(A), λ_max(A)] — the check the tests make. A product with A_bb
// costs one product with A (the vector is embedded with zeros), so a block's eigenpairs cost what the
// whole operator's do per product, and its trace is exact from |S| unit vectors when |S| is small.
#include <Eigen/Core>
#include <cstdint>
#include <string>
#include <vector>

#include "curvature/lanczos.h"
#include "curvature/operator.h"
#include "curvature/spectrum.h"
#include "objective/objective.h"

namespace saddlescope::curvature {

using ParameterBlock = objective::Objective::Block;

// The blocks whose name matches any of `patterns` (exact names or shell globs: `*`, `?`, `[...]`), in
// the objective's order, each once. A pattern that matches nothing throws std::invalid_argument naming
// it and listing the available names.
std::vector<ParameterBlock> select_blocks(const std::vector<ParameterBlock>& blocks, const std::vector<std::string>& patterns);

// Splits "a,b*,c" into patterns (empty items refused).
std::vector<std::string> split_block_patterns(const std::string& list);

class RestrictedOperator final : public SymmetricOperator {
 public:
  // Keeps a reference to A (an lvalue that must outlive this operator). Blocks must lie inside
  // [0, A.rows()) and not overlap (std::invalid_argument otherwise).
  RestrictedOperator(const SymmetricOperator& A, std::vector<ParameterBlock> blocks);
  RestrictedOperator(SymmetricOperator&&, std::vector<ParameterBlock>) = delete;
  Eigen::Index rows() const override { return size_; }
  const std::vector<ParameterBlock>& blocks() const { return blocks_; }
  // A vector of the block's coordinates placed into the full parameter space (zeros elsewhere), and back.
  Eigen::VectorXd embed(const Eigen::VectorXd& v) const;
  Eigen::VectorXd restrict(const Eigen::VectorXd& v) const;

 protected:
  void apply_block(const Eigen::MatrixXd& V, Eigen::MatrixXd& AV) const override;

 private:
  const SymmetricOperator& A_;
  std::vector<ParameterBlock> blocks_;
  Eigen::Index size_ = 0;
};

// analyze_spectrum on A_bb (hessian-spectrum --block): eigenvalues, density, trace and index are those of
// the block; eigenvectors (when kept) are embedded into the full parameter space (zeros outside the
// blocks, n rows), so they can be used as directions at the point; the diagonal stays over the blocks'
// coordinates, in the order of `blocks`. `report.n` is the block's size.
SpectrumReport analyze_block_spectrum(const SymmetricOperator& A, const std::vector<ParameterBlock>& blocks,
                                      const SpectrumOptions& options);

struct LayerTableOptions {
  // Lanczos settings for each block's λ_min and λ_max (k and which are set per block).
  EigenpairOptions lanczos;
  // Blocks of at most this many parameters are assembled densely: exact eigenvalues and trace.
  Eigen::Index dense_threshold = 256;
  // Larger blocks: trace by Hutchinson with this many Rademacher probes (curvature/trace.h).
  Eigen::Index trace_samples = 30;
  std::uint64_t seed = 0;  // block b uses streams derived from (seed, b)
  bool IsValid(std::string* why) const;
};

// A named set of blocks treated as one diagonal block (a layer's weight and bias together).
struct BlockGroup {
  std::string name;
  std::vector<ParameterBlock> blocks;
};
// One group per block, named as the block.
std::vector<BlockGroup> one_group_per_block(const std::vector<ParameterBlock>& blocks);
// Blocks grouped by the name before their last '.' ("layer1.weight" and "layer1.bias" → "layer1"), in
// order of first appearance; a name without '.' is its own group.
std::vector<BlockGroup> group_by_layer(const std::vector<ParameterBlock>& blocks);

struct LayerCurvature {
  std::string name;
  Eigen::Index size = 0;
  double lambda_min = 0.0, lambda_max = 0.0;
  double trace = 0.0;
  double trace_stderr = 0.0;  // 0 when exact
  bool exact = false;         // dense assembly (eigenvalues and trace exact to rounding)
  bool converged = true;      // Lanczos converged for both ends
  Eigen::Index hvp_count = 0;
};

// One row per group, in the order given.
std::vector<LayerCurvature> layer_table(const SymmetricOperator& A, const std::vector<BlockGroup>& groups,
                                        const LayerTableOptions& options);

}  // namespace saddlescope::curvature
