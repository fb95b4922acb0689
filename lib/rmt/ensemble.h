#pragma once
// Random symmetric k×k matrices for rmt-check. Every ensemble is written as a map z ↦ H(z) from a
// standard Gaussian vector z ∈ R^m (m = gaussian_dim()), so one pCN move on z (rmt/splitting.h) leaves
// every ensemble's law invariant, and plain sampling is "draw z, build H".
//
//   goe        H = s·(A + Aᵀ)/2 + μ·I, A_ij iid N(0, 1): diagonal variance s², off-diagonal s²/2, density
//              ∝ exp(−tr (H−μI)²/(2s²)) (REFERENCES.md). z holds the upper triangle: H_ii = s z_ii,
//              H_ij = s z_ij/√2 — the same law.
//   goe-shift  the same as goe; the name says that --shift μ is the point (Bray–Dean: index vs shift).
//   diagonal   H = diag(s z_1 + μ, …, s z_k + μ): independent signs, so P(H > 0) = Φ(μ/s)^k, 0.5^k at μ = 0.
//   wishart    H = s·X Xᵀ/m + μ·I, X a k×m Gaussian matrix (m = wishart_dof, default k): positive
//              semi-definite at μ = 0, so P(H > 0) = 1 when m ≥ k (the PSD control).
//   hessian    H = s·Qᵀ ∇²f(x) Q + μ·I: the Hessian of a test function f (objective/test_functions.h) at
//              the random point x = point_scale·z_x restricted to k random orthonormal directions Q (the
//              Q factor of an n×k Gaussian matrix, i.e. Haar-distributed directions). Requires k ≤ n.
//
// GOE also has the Dumitriu–Edelman tridiagonal model (J. Math. Phys. 43 (2002) 5830): the eigenvalues
// of T with diagonal N(0, 1) and off-diagonal χ_{k−i}/√2 (i = 1…k−1), all independent, have exactly the
// GOE law above (β = 1, weight exp(−λ²/2)). Its inertia costs O(k) per sample instead of O(k³).
#include <Eigen/Core>
#include <memory>
#include <string>
#include <vector>

#include "curvature/dense.h"
#include "random/random.h"
#include "text/names.h"

namespace saddlescope::objective {
class TestFunction;
}

namespace saddlescope::rmt {

enum class EnsembleKind { kGoe, kGoeShift, kDiagonal, kWishart, kHessian };
// Name table: "goe", "goe-shift", "diagonal", "wishart", "hessian".
inline constexpr auto kEnsembleNames = text::make_name_table<EnsembleKind>(
    "ensemble", {{EnsembleKind::kGoe, "goe"},
                 {EnsembleKind::kGoeShift, "goe-shift"},
                 {EnsembleKind::kDiagonal, "diagonal"},
                 {EnsembleKind::kWishart, "wishart"},
                 {EnsembleKind::kHessian, "hessian"}});
inline std::string to_string(EnsembleKind kind) { return std::string(kEnsembleNames.name(kind)); }

struct EnsembleOptions {
  EnsembleKind kind = EnsembleKind::kGoe;
  double scale = 1.0;       // s above; must be > 0 and finite
  double shift = 0.0;       // μ above; finite
  long wishart_dof = 0;     // m for wishart; 0 means m = k; otherwise ≥ 1
  std::string objective = "quadratic:n=20,negative=10,seed=1";  // test-function spec for hessian
  double point_scale = 1.0; // x = point_scale·z_x for hessian; ≥ 0
  // Names the offending field, its value and the rule.
  bool IsValid(std::string* why) const;
};

class Ensemble {
 public:
  // Throws std::invalid_argument for invalid options or k (k ≥ 1; hessian: k ≤ n).
  Ensemble(const EnsembleOptions& options, Eigen::Index k);
  ~Ensemble();
  Ensemble(Ensemble&&) noexcept;
  Ensemble& operator=(Ensemble&&) noexcept;

  Eigen::Index k() const { return k_; }
  const EnsembleOptions& options() const { return options_; }
  // Length m of the Gaussian vector z.
  Eigen::Index gaussian_dim() const { return gaussian_dim_; }
  // H(z), full symmetric k×k (H is resized when needed; no allocation when it already has the size,
  // except for hessian).
  void matrix(const Eigen::VectorXd& z, Eigen::MatrixXd& H) const;
  // hessian only (std::logic_error otherwise): the objective's dimension n (z = (z_x, G), z_x the first n
  // entries, G the n×k direction matrix column-major after them), its Hessian ∇²f(x) at x = point_scale·z_x
  // (n×n, symmetric; without the scale s and shift μ), and whether that Hessian is the same for every z_x
  // (a quadratic objective, or point_scale = 0).
  Eigen::Index objective_dim() const;
  void objective_hessian(const Eigen::VectorXd& z, Eigen::MatrixXd& A) const;
  bool objective_hessian_is_constant() const;
  // Fills z with iid N(0, 1) from rng.
  void draw_gaussian(random::Rng& rng, Eigen::VectorXd& z) const;

  // True for goe/goe-shift: the tridiagonal model is available.
  bool has_tridiagonal_model() const;
  // Inertia of one tridiagonal-model draw (goe/goe-shift only). `diagonal`, `offdiagonal_squared` are
  // workspaces (resized as needed).
  curvature::Inertia sample_tridiagonal_inertia(random::Rng& rng, std::vector<double>& diagonal,
                                                std::vector<double>& offdiagonal_squared) const;

  // One-line description, e.g. "GOE (diag var 1, off-diag var 1/2), k = 5".
  std::string description() const;

 private:
  EnsembleOptions options_;
  Eigen::Index k_ = 0;
  Eigen::Index gaussian_dim_ = 0;
  Eigen::Index wishart_dof_ = 0;
  std::unique_ptr<objective::TestFunction> function_;
};

// Gamma(shape, 1) variate (Marsaglia & Tsang, ACM TOMS 26 (2000) 363; shape < 1 by the boost
// Gamma(shape+1)·U^{1/shape}). shape > 0.
double gamma_variate(random::Rng& rng, double shape);

}  // namespace saddlescope::rmt
