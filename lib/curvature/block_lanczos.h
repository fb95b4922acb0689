#pragma once
// The one Lanczos tridiagonalisation of the library: block Lanczos with full reorthogonalisation,
// shared by the extreme eigenpairs (lanczos.h: thick restarts, Which ends), stochastic Lanczos
// quadrature (slq.h: one recurrence per probe, b = 1) and saddle-free Newton's Krylov subspace
// (optim/second_order.h: b = 1, started at the gradient). Internal to the curvature module and its
// clients; not a user-facing solver.
//
// The caller owns the products: `pending()` is the block whose product comes next and `extend(W)`
// absorbs W = A·pending(). So several recurrences can share one block product (SLQ's probes), and a
// caller may batch, count or distribute products (SLQ's probe = one work item) as it likes.
//
// After each extend the Lanczos relation holds to rounding:
//     A·V(:, 0:size) = V(:, 0:size)·T(0:size, 0:size) + F·E_lastᵀ,   F = Q·R,
// with V orthonormal, T = VᵀAV (block tridiagonal, or arrowhead-plus-tridiagonal after a restart), and
// the residual block F = residual_basis()·residual_coefficients() orthogonal to V.
// Reorthogonalisation (block_orthogonal.h): the three-term part first, one classical Gram–Schmidt sweep
// over the whole basis as a GEMV/GEMM, a second only when the first removed more than 1 − 1/√2 of the
// norm (DGKS) — so no ghost eigenvalues appear.
//
// Memory: V (n × capacity), T (capacity²) and the pending block are allocated once, by the constructor,
// and reused by start(), extend() and restart(): no allocation of size n per step; the thick restart
// rotates V in place by row panels (a panel-sized workspace, not a second basis).
#include <Eigen/Core>

#include "random/random.h"

namespace saddlescope::curvature {

class BlockLanczos {
 public:
  // What a breakdown (a residual column ≤ 1e-12·scale: the Krylov space became invariant) does:
  // `replace` continues with a fresh random direction orthogonal to the basis (eigenpairs: the rest of
  // the space still has to be searched); `stop` ends the recurrence (quadrature and subspace methods:
  // the space is exhausted, the quadrature exact).
  enum class Breakdown { replace, stop };

  // n: operator dimension; capacity: basis columns (≥ block); block: b ≥ 1 vectors per product.
  // Throws std::invalid_argument unless 1 ≤ block ≤ capacity ≤ n.
  BlockLanczos(Eigen::Index n, Eigen::Index capacity, Eigen::Index block, Breakdown on_breakdown);

  // Starts over from the column span of `start_block` (n × b): orthonormalised into the first block
  // (dependent columns replaced by random directions from `rng`).
  void start(const Eigen::MatrixXd& start_block, random::Rng& rng);

  // The block whose product A·pending() the next extend() expects (n × b).
  const Eigen::MatrixXd& pending() const { return pending_; }

  // Absorbs W = A·pending() (W is overwritten by the orthogonalised residual). Fills T's row and column
  // for the pending block. Returns true when the next block was appended (call again with its product),
  // false when the recurrence cannot grow: the basis is full (size + b > capacity, the residual block
  // is then kept for Ritz estimates and restart) or, with Breakdown::stop, the recurrence broke down.
  bool extend(Eigen::MatrixXd& W, random::Rng& rng);

  // Thick restart (Wu & Simon 2000; Stewart 2001): V(:, 0:s) ← V(:, 0:size)·Y_kept (Ritz vectors), the
  // residual block next, T ← [diag(θ_kept) C_keptᵀ; C_kept ·], size = s + b. Y_kept: size × s with
  // orthonormal columns; coupling: b × s (= R·Y_kept(last block rows, :)). Requires s + b ≤ capacity.
  void restart(const Eigen::MatrixXd& Y_kept, const Eigen::VectorXd& theta_kept, const Eigen::MatrixXd& coupling);

  Eigen::Index size() const { return size_; }               // basis columns in use
  Eigen::Index block() const { return b_; }
  Eigen::Index capacity() const { return V_.cols(); }
  Eigen::Index last_block_begin() const { return cur_; }     // first column of the last multiplied block
  Eigen::Index last_block_size() const { return cur_size_; }
  bool broke_down() const { return broke_down_; }
  double scale() const { return scale_; }  // largest column norm of any product so far
  const Eigen::MatrixXd& basis() const { return V_; }       // columns 0..size() are the basis
  const Eigen::MatrixXd& projected() const { return T_; }   // T(0:size, 0:size) = VᵀAV
  const Eigen::MatrixXd& residual_basis() const { return Q_; }         // n × b, valid when extend returned false
  const Eigen::MatrixXd& residual_coefficients() const { return R_; }  // b × b

 private:
  Eigen::MatrixXd V_, T_, pending_, Q_, R_, C_, panel_;
  Eigen::Index b_ = 1, size_ = 0, cur_ = 0, cur_size_ = 0, kept_count_ = 0;
  double scale_ = 0.0;
  bool broke_down_ = false;
  Breakdown on_breakdown_;
};

}  // namespace saddlescope::curvature
