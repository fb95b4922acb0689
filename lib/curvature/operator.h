#pragma once
// Symmetric curvature operators, matrix-free: the Hessian, the generalised Gauss–Newton matrix and the
// empirical Fisher of an Objective at a point, or an explicit symmetric matrix (tests, random matrix
// ensembles). Every algorithm of this module (Lanczos eigenpairs, SLQ density, trace and diagonal
// estimators, dense assembly) takes a `SymmetricOperator`, so `--curvature hessian|ggn|fisher` is one
// switch in the tools.
//
// Products are taken in blocks: `apply(V, AV)` for an n×m block V is one pass of the objective's block
// product, so callers batch their vectors. `product_count()` counts matrix-vector products (columns),
// not passes: a block of 8 columns counts 8. That is the unit every benchmark compares ("HVPs").
#include <Eigen/Core>
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "objective/objective.h"
#include "text/names.h"

namespace saddlescope::curvature {

enum class Curvature { hessian, ggn, fisher };
inline constexpr auto kCurvatureNames = text::make_name_table<Curvature>(
    "curvature", {{Curvature::hessian, "hessian"}, {Curvature::ggn, "ggn"}, {Curvature::fisher, "fisher"}});
inline std::string to_string(Curvature curvature) { return std::string(kCurvatureNames.name(curvature)); }

class SymmetricOperator {
 public:
  virtual ~SymmetricOperator() = default;
  virtual Eigen::Index rows() const = 0;
  // AV = A·V for an n×m block V (AV is resized to n×m). Counts V.cols() products.
  void apply(const Eigen::MatrixXd& V, Eigen::MatrixXd& AV) const {
    apply_block(V, AV);
    products_ += static_cast<std::int64_t>(V.cols());
    ++passes_;
  }
  std::int64_t product_count() const { return products_; }
  std::int64_t pass_count() const { return passes_; }
  void reset_counts() const { products_ = passes_ = 0; }
  // Adds products made by other MPI ranks for work items this process did not compute (SLQ probes), so
  // that the counts are the job's totals, the same for any number of ranks.
  void add_remote_counts(std::int64_t products, std::int64_t passes) const {
    products_ += products;
    passes_ += passes;
  }

  // The dense n×n matrix (symmetrised). The default assembles it from block products against the
  // identity, 64 columns at a time; subclasses with a closed form override it. Counted like apply().
  virtual Eigen::MatrixXd dense() const;

 protected:
  virtual void apply_block(const Eigen::MatrixXd& V, Eigen::MatrixXd& AV) const = 0;

 private:
  mutable std::int64_t products_ = 0;
  mutable std::int64_t passes_ = 0;
};

// The Hessian, GGN or empirical Fisher of `f` at `x`. Keeps references: `f` and `x` must outlive it
// (both are lvalues owned by the caller; the constructor refuses nothing else by deleting the
// rvalue overload for x).
class ObjectiveOperator final : public SymmetricOperator {
 public:
  // Throws std::invalid_argument when x has the wrong size, or when ggn/fisher is asked of an
  // objective without them (has_gauss_newton() false).
  ObjectiveOperator(const objective::Objective& f, const objective::Vector& x, Curvature curvature);
  ObjectiveOperator(const objective::Objective& f, objective::Vector&& x, Curvature curvature) = delete;
  Eigen::Index rows() const override { return f_.dim(); }
  Eigen::MatrixXd dense() const override;  // the analytic Hessian when the objective has one
  Curvature curvature() const { return curvature_; }

 protected:
  void apply_block(const Eigen::MatrixXd& V, Eigen::MatrixXd& AV) const override;

 private:
  const objective::Objective& f_;
  const objective::Vector& x_;
  Curvature curvature_;
};

// An explicit symmetric matrix, held by value (tests, dense cross-checks).
class MatrixOperator final : public SymmetricOperator {
 public:
  explicit MatrixOperator(Eigen::MatrixXd A);  // throws std::invalid_argument if not square
  Eigen::Index rows() const override { return A_.rows(); }
  Eigen::MatrixXd dense() const override { return A_; }
  const Eigen::MatrixXd& matrix() const { return A_; }

 protected:
  void apply_block(const Eigen::MatrixXd& V, Eigen::MatrixXd& AV) const override { AV.noalias() = A_ * V; }

 private:
  Eigen::MatrixXd A_;
};

// Spectra's operator concept (Scalar, rows, cols, perform_op) over any SymmetricOperator, one column
// per call. For Spectra's SymEigsSolver: `SpectraOperator op(A); SymEigsSolver<SpectraOperator> s(op, k, ncv);`.
// Spectra itself is single-vector; our own solver (lanczos.h) uses the block product.
class SpectraOperator {
 public:
  using Scalar = double;
  explicit SpectraOperator(const SymmetricOperator& A) : A_(A), in_(A.rows(), 1), out_(A.rows(), 1) {}
  SpectraOperator(SymmetricOperator&&) = delete;
  Eigen::Index rows() const { return A_.rows(); }
  Eigen::Index cols() const { return A_.rows(); }
  void perform_op(const Scalar* x_in, Scalar* y_out) const;

 private:
  const SymmetricOperator& A_;
  mutable Eigen::MatrixXd in_, out_;
};

}  // namespace saddlescope::curvature
