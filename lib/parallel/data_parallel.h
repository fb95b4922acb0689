#pragma once
// An objective over a data set split across MPI ranks (docs/distributed.md): each rank holds an
// objective over its shard (rows [⌊rN/P⌋, ⌊(r+1)N/P⌋) of N, io/shard.h), and this wrapper makes every
// rank see the objective over all N samples.
//
// ## Why a weighted sum is the full-data objective
// A data objective is the mean of a per-sample loss plus a regulariser R(θ) that does not depend on the
// data: f_r(θ) = (1/n_r) Σ_{i∈shard r} ℓ_i(θ) + R(θ) on a shard of n_r samples. With weights
// w_r = n_r/N (Σ_r w_r = 1),
//     Σ_r w_r f_r(θ) = (1/N) Σ_i ℓ_i(θ) + R(θ) = f(θ),
// so the regulariser is counted once, and the same holds term by term for the gradient, the Hessian,
// the Gauss–Newton matrix (whose λI is part of R) and the empirical Fisher (which has no R). Each call
// scales the local result by w_r and sums over ranks with one reduction (parallel::sum_in_place) of
// the result's doubles (n for a gradient, n·m for a block product, plus the value). The local objective
// is any Objective with sample_count() > 0: the MLP now, the graph engine when it lands.
//
// Mini-batches name global sample indices (the same list on every rank, from the same seed); each rank
// evaluates the batch's samples that fall in its shard with weight k_r/|B| (k_r of them), and a rank
// with none contributes zeros, so the batch mean is exact too.
//
// Rounding: the reduction adds P partial sums instead of one sum over N samples, so results agree with
// one process to rounding (the tests bound it by 1e-12 relative); every rank holds the same bits.
//
// Every method is a collective: all ranks must call it in the same order with the same arguments
// (replicated vectors, the same seeds), which is what running the same solver on every rank gives.
#include <cstdint>
#include <memory>

#include "io/shard.h"
#include "objective/objective.h"
#include "parallel/parallel.h"

namespace saddlescope::parallel {

class DataParallelObjective final : public objective::Objective {
 public:
  using Vector = objective::Vector;
  using Matrix = objective::Matrix;
  using Index = objective::Index;
  using Batch = objective::Batch;

  // `local` is the objective over this rank's shard `shard` of a data set of `total_samples` rows;
  // its sample_count() must equal the shard's size. Throws std::invalid_argument otherwise.
  DataParallelObjective(std::unique_ptr<objective::Objective> local, io::RowShard shard, std::int64_t total_samples);

  Index dim() const override { return local_->dim(); }
  double value(const Vector& x) const override;
  double gradient(const Vector& x, Vector& gradient) const override;
  void hessian_vector_product(const Vector& x, const Matrix& V, Matrix& HV) const override;
  Index hessian_block_columns() const override { return local_->hessian_block_columns(); }

  bool has_gauss_newton() const override { return local_->has_gauss_newton(); }
  void gauss_newton_vector_product(const Vector& x, const Matrix& V, Matrix& GV) const override;
  void fisher_vector_product(const Vector& x, const Matrix& V, Matrix& FV) const override;

  std::int64_t sample_count() const override { return total_samples_; }
  double batch_value(const Vector& x, Batch batch) const override;
  double batch_gradient(const Vector& x, Batch batch, Vector& gradient) const override;
  void batch_hessian_vector_product(const Vector& x, Batch batch, const Matrix& V, Matrix& HV) const override;

  std::vector<Block> parameter_blocks() const override { return local_->parameter_blocks(); }
  nlohmann::json spec() const override { return local_->spec(); }
  // The local objective's description: the same words as one process prints.
  std::string description() const override { return local_->description(); }

  const objective::Objective& local() const { return *local_; }
  const io::RowShard& shard() const { return shard_; }

 private:
  // The batch's samples in this shard, as local indices; returns their weight k_r/|B|.
  double local_batch(Batch batch, std::vector<std::int64_t>& local) const;
  void reduce_block(Matrix& M, double weight) const;

  std::unique_ptr<objective::Objective> local_;
  io::RowShard shard_;
  std::int64_t total_samples_ = 0;
  std::int64_t first_ = 0;  // first global row of the shard
  double weight_ = 0.0;     // n_r / N
  CollectiveScope collective_;
};

}  // namespace saddlescope::parallel
