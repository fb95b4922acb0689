#pragma once
// The one abstraction everything meets at (DESIGN.md): a twice-differentiable function of a parameter
// vector x ∈ R^n, with exact derivatives.
//
// Threading: an Objective may keep mutable workspaces to avoid allocating in its hot paths, so one
// instance must not be called from two threads at once. Make one instance per thread instead.
#include <Eigen/Core>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>

namespace saddlescope::objective {

using Vector = Eigen::VectorXd;
using Matrix = Eigen::MatrixXd;
using Index = Eigen::Index;
// Sample indices of a mini-batch, each in [0, sample_count()).
using Batch = std::span<const std::int64_t>;

class Objective {
 public:
  virtual ~Objective() = default;

  // Number of parameters n.
  virtual Index dim() const = 0;

  // f(x). x has dim() entries.
  virtual double value(const Vector& x) const = 0;

  // Writes ∇f(x) into `gradient` (resized to n) and returns f(x), from one evaluation.
  virtual double gradient(const Vector& x, Vector& gradient) const = 0;

  // Block Hessian-vector product: HV = ∇²f(x)·V for an n×m block V (HV is resized to n×m). One pass
  // serves all m columns, so callers should batch their vectors.
  virtual void hessian_vector_product(const Vector& x, const Matrix& V, Matrix& HV) const = 0;

  // True when hessian() is an analytic formula rather than an assembly from block HVPs.
  virtual bool has_analytic_hessian() const { return false; }
  // True when ∇²f(x) is the same at every x (a quadratic): callers may compute it once.
  virtual bool hessian_is_constant() const { return false; }

  // Dense Hessian (n×n, symmetric). The default assembles it from block HVPs against the identity,
  // `hessian_block_columns()` columns at a time, then symmetrises (H+Hᵀ)/2 to remove rounding asymmetry.
  virtual void hessian(const Vector& x, Matrix& H) const;
  virtual Index hessian_block_columns() const { return 64; }

  // --- Other curvature matrices (networks) ---------------------------------------------------------
  // Generalised Gauss–Newton G = Jᵀ H_loss J and empirical Fisher F = (1/N) Σ g_i g_iᵀ as block
  // products, for objectives that have them (has_gauss_newton()). Both are PSD; for linear least
  // squares G equals the Hessian. The defaults throw std::invalid_argument.
  virtual bool has_gauss_newton() const { return false; }
  virtual void gauss_newton_vector_product(const Vector& x, const Matrix& V, Matrix& GV) const;
  virtual void fisher_vector_product(const Vector& x, const Matrix& V, Matrix& FV) const;

  // --- Objectives over a data set -----------------------------------------------------------------
  // Number of samples; 0 for objectives without data (test functions), which then refuse batches.
  virtual std::int64_t sample_count() const { return 0; }
  // The same quantities on a mini-batch: the mean loss over the batch's samples (plus any
  // regulariser), so that the full batch reproduces value()/gradient().
  virtual double batch_value(const Vector& x, Batch batch) const;
  virtual double batch_gradient(const Vector& x, Batch batch, Vector& gradient) const;
  virtual void batch_hessian_vector_product(const Vector& x, Batch batch, const Matrix& V, Matrix& HV) const;

  // Parameter layout for per-layer diagnostics: named contiguous blocks covering [0, n). A test
  // function is one block named "x".
  struct Block {
    std::string name;
    Index offset = 0;
    Index size = 0;
  };
  virtual std::vector<Block> parameter_blocks() const { return {{"x", 0, dim()}}; }

  // The JSON spec that rebuilds this objective (problem/problem.h), stored in checkpoints.
  virtual nlohmann::json spec() const = 0;
  // A short human name, e.g. "himmelblau" or "mlp[4,16,3] tanh cross_entropy".
  virtual std::string description() const = 0;
};

}  // namespace saddlescope::objective
