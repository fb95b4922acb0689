#include "parallel/data_parallel.h"

#include <stdexcept>
#include <string>

namespace saddlescope::parallel {

DataParallelObjective::DataParallelObjective(std::unique_ptr<objective::Objective> local, io::RowShard shard,
                                             std::int64_t total_samples)
    : local_(std::move(local)), shard_(shard), total_samples_(total_samples) {
  if (!local_) throw std::invalid_argument("DataParallelObjective: no local objective");
  if (shard_.parts < 1 || shard_.part < 0 || shard_.part >= shard_.parts)
    throw std::invalid_argument("DataParallelObjective: shard " + shard_.describe() + " is not a part in [0, parts)");
  if (total_samples_ < shard_.parts)
    throw std::invalid_argument("DataParallelObjective: " + std::to_string(total_samples_) + " samples cannot be split into " +
                                std::to_string(shard_.parts) + " non-empty shards");
  first_ = shard_.begin(total_samples_);
  const std::int64_t rows = shard_.end(total_samples_) - first_;
  if (local_->sample_count() != rows)
    throw std::invalid_argument("DataParallelObjective: the local objective has " + std::to_string(local_->sample_count()) +
                                " samples, shard " + shard_.describe() + " of " + std::to_string(total_samples_) +
                                " has " + std::to_string(rows));
  weight_ = static_cast<double>(rows) / static_cast<double>(total_samples_);
}

void DataParallelObjective::reduce_block(Matrix& M, double weight) const {
  M *= weight;
  sum_in_place(std::span<double>(M.data(), static_cast<std::size_t>(M.size())));
}

double DataParallelObjective::value(const Vector& x) const {
  double v = weight_ * local_->value(x);
  sum_in_place(std::span<double>(&v, 1));
  return v;
}

double DataParallelObjective::gradient(const Vector& x, Vector& gradient) const {
  // The value rides in the same reduction as the gradient: one message per call.
  Vector buffer(dim() + 1);
  Vector g;
  buffer(dim()) = local_->gradient(x, g);
  buffer.head(dim()) = g;
  buffer *= weight_;
  sum_in_place(std::span<double>(buffer.data(), static_cast<std::size_t>(buffer.size())));
  gradient = buffer.head(dim());
  return buffer(dim());
}

void DataParallelObjective::hessian_vector_product(const Vector& x, const Matrix& V, Matrix& HV) const {
  local_->hessian_vector_product(x, V, HV);
  reduce_block(HV, weight_);
}

void DataParallelObjective::gauss_newton_vector_product(const Vector& x, const Matrix& V, Matrix& GV) const {
  local_->gauss_newton_vector_product(x, V, GV);
  reduce_block(GV, weight_);
}

void DataParallelObjective::fisher_vector_product(const Vector& x, const Matrix& V, Matrix& FV) const {
  local_->fisher_vector_product(x, V, FV);
  reduce_block(FV, weight_);
}

double DataParallelObjective::local_batch(Batch batch, std::vector<std::int64_t>& local) const {
  if (batch.empty()) throw std::invalid_argument("a mini-batch must hold at least one sample");
  local.clear();
  const std::int64_t end = shard_.end(total_samples_);
  for (std::int64_t i : batch) {
    if (i < 0 || i >= total_samples_)
      throw std::invalid_argument("sample index " + std::to_string(i) + " is outside [0, " +
                                  std::to_string(total_samples_) + ")");
    if (i >= first_ && i < end) local.push_back(i - first_);
  }
  return static_cast<double>(local.size()) / static_cast<double>(batch.size());
}

double DataParallelObjective::batch_value(const Vector& x, Batch batch) const {
  std::vector<std::int64_t> local;
  const double w = local_batch(batch, local);
  double v = local.empty() ? 0.0 : w * local_->batch_value(x, local);
  sum_in_place(std::span<double>(&v, 1));
  return v;
}

double DataParallelObjective::batch_gradient(const Vector& x, Batch batch, Vector& gradient) const {
  std::vector<std::int64_t> local;
  const double w = local_batch(batch, local);
  Vector buffer = Vector::Zero(dim() + 1);
  if (!local.empty()) {
    Vector g;
    buffer(dim()) = local_->batch_gradient(x, local, g);
    buffer.head(dim()) = g;
    buffer *= w;
  }
  sum_in_place(std::span<double>(buffer.data(), static_cast<std::size_t>(buffer.size())));
  gradient = buffer.head(dim());
  return buffer(dim());
}

void DataParallelObjective::batch_hessian_vector_product(const Vector& x, Batch batch, const Matrix& V,
                                                         Matrix& HV) const {
  std::vector<std::int64_t> local;
  const double w = local_batch(batch, local);
  if (local.empty()) {
    HV.setZero(dim(), V.cols());
  } else {
    local_->batch_hessian_vector_product(x, local, V, HV);
  }
  reduce_block(HV, w);
}

}  // namespace saddlescope::parallel
