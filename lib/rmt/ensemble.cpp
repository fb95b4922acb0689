#include "rmt/ensemble.h"

#include <Eigen/QR>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "curvature/inertia.h"
#include "objective/test_functions.h"

namespace saddlescope::rmt {

bool EnsembleOptions::IsValid(std::string* why) const {
  auto fail = [&](const std::string& message) {
    if (why) *why = message;
    return false;
  };
  if (!(scale > 0) || !std::isfinite(scale)) return fail("'scale' must be finite and > 0, got " + std::to_string(scale));
  if (!std::isfinite(shift)) return fail("'shift' must be finite, got " + std::to_string(shift));
  if (wishart_dof < 0) return fail("'wishart_dof' must be >= 0 (0 means k), got " + std::to_string(wishart_dof));
  if (!(point_scale >= 0) || !std::isfinite(point_scale))
    return fail("'point_scale' must be finite and >= 0, got " + std::to_string(point_scale));
  if (kind == EnsembleKind::kHessian && objective.empty()) return fail("'objective' must name a test function");
  return true;
}

Ensemble::Ensemble(const EnsembleOptions& options, Eigen::Index k) : options_(options), k_(k) {
  std::string why;
  if (!options.IsValid(&why)) throw std::invalid_argument(why);
  if (k < 1) throw std::invalid_argument("'k' must be >= 1, got " + std::to_string(k));
  switch (options.kind) {
    case EnsembleKind::kGoe:
    case EnsembleKind::kGoeShift:
      gaussian_dim_ = k * (k + 1) / 2;
      break;
    case EnsembleKind::kDiagonal:
      gaussian_dim_ = k;
      break;
    case EnsembleKind::kWishart:
      wishart_dof_ = options.wishart_dof == 0 ? k : options.wishart_dof;
      if (wishart_dof_ > 100000000 / k)  // the bound below, checked before the product can overflow
        throw std::invalid_argument("'wishart_dof' * k = " + std::to_string(wishart_dof_) + " * " + std::to_string(k) +
                                    " Gaussian entries per sample, more than 10^8");
      gaussian_dim_ = k * wishart_dof_;
      break;
    case EnsembleKind::kHessian: {
      function_ = objective::make_test_function(options.objective);
      const Eigen::Index n = function_->dim();
      if (k > n)
        throw std::invalid_argument("'k' must be <= the objective's dimension " + std::to_string(n) + " for hessian, got " +
                                    std::to_string(k));
      gaussian_dim_ = n + n * k;
      break;
    }
  }
  // Sizes before any allocation (#17 items 9, 19): a sample is a Gaussian vector of gaussian_dim
  // entries and, for dense sampling, a k x k matrix, one of each per thread. 10^8 doubles (800 MB)
  // bounds both (GOE: k <= 14141; Wishart: k * m <= 10^8); beyond, an allocation inside a parallel
  // region ended the process (std::terminate) instead of an error.
  constexpr Eigen::Index kMaxEntries = 100000000;
  if (k > kMaxEntries / k)
    throw std::invalid_argument("'k' = " + std::to_string(k) + " needs a " + std::to_string(k) + " x " +
                                std::to_string(k) + " matrix per sample, more than 10^8 entries");
  if (gaussian_dim_ > kMaxEntries)
    throw std::invalid_argument("'k' = " + std::to_string(k) + " gives " + std::to_string(gaussian_dim_) +
                                " Gaussian entries per sample, more than 10^8");
}

Ensemble::~Ensemble() = default;
Ensemble::Ensemble(Ensemble&&) noexcept = default;
Ensemble& Ensemble::operator=(Ensemble&&) noexcept = default;

void Ensemble::draw_gaussian(random::Rng& rng, Eigen::VectorXd& z) const {
  z.resize(gaussian_dim_);
  for (Eigen::Index i = 0; i < gaussian_dim_; ++i) z[i] = rng.normal();
}

void Ensemble::matrix(const Eigen::VectorXd& z, Eigen::MatrixXd& H) const {
  const Eigen::Index k = k_;
  const double s = options_.scale, mu = options_.shift;
  H.resize(k, k);
  switch (options_.kind) {
    case EnsembleKind::kGoe:
    case EnsembleKind::kGoeShift: {
      const double off = s * std::sqrt(0.5);
      Eigen::Index t = 0;
      for (Eigen::Index j = 0; j < k; ++j) {
        H(j, j) = s * z[t++] + mu;
        for (Eigen::Index i = j + 1; i < k; ++i) {
          H(i, j) = off * z[t++];
          H(j, i) = H(i, j);
        }
      }
      break;
    }
    case EnsembleKind::kDiagonal:
      H.setZero();
      for (Eigen::Index i = 0; i < k; ++i) H(i, i) = s * z[i] + mu;
      break;
    case EnsembleKind::kWishart: {
      const Eigen::Map<const Eigen::MatrixXd> X(z.data(), k, wishart_dof_);
      H.noalias() = (s / static_cast<double>(wishart_dof_)) * X * X.transpose();
      H.diagonal().array() += mu;
      break;
    }
    case EnsembleKind::kHessian: {
      const Eigen::Index n = function_->dim();
      const Eigen::VectorXd x = options_.point_scale * z.head(n);
      const Eigen::Map<const Eigen::MatrixXd> G(z.data() + n, n, k);
      Eigen::HouseholderQR<Eigen::MatrixXd> qr(G);
      const Eigen::MatrixXd Q = qr.householderQ() * Eigen::MatrixXd::Identity(n, k);
      Eigen::MatrixXd HQ(n, k);
      function_->hessian_vector_product(x, Q, HQ);
      const Eigen::MatrixXd R = Q.transpose() * HQ;
      H = s * 0.5 * (R + R.transpose());
      H.diagonal().array() += mu;
      break;
    }
  }
}

Eigen::Index Ensemble::objective_dim() const {
  if (options_.kind != EnsembleKind::kHessian) throw std::logic_error("objective_dim: not a hessian ensemble");
  return function_->dim();
}

void Ensemble::objective_hessian(const Eigen::VectorXd& z, Eigen::MatrixXd& A) const {
  const Eigen::Index n = objective_dim();
  const Eigen::VectorXd x = options_.point_scale * z.head(n);
  function_->hessian(x, A);
  A = (0.5 * (A + A.transpose())).eval();
}

bool Ensemble::objective_hessian_is_constant() const {
  return objective_dim() > 0 && (function_->hessian_is_constant() || options_.point_scale == 0.0);
}

bool Ensemble::has_tridiagonal_model() const {
  return options_.kind == EnsembleKind::kGoe || options_.kind == EnsembleKind::kGoeShift;
}

double gamma_variate(random::Rng& rng, double shape) {
  if (shape < 1.0) {
    // Gamma(a) = Gamma(a + 1)·U^{1/a} (Marsaglia & Tsang 2000, §6).
    const double g = gamma_variate(rng, shape + 1.0);
    return g * std::pow(rng.uniform_open_zero(), 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = rng.normal();
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = rng.uniform_open_zero();
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

curvature::Inertia Ensemble::sample_tridiagonal_inertia(random::Rng& rng, std::vector<double>& diagonal,
                                                        std::vector<double>& offdiagonal_squared) const {
  if (!has_tridiagonal_model()) throw std::invalid_argument("the tridiagonal model exists only for goe");
  const Eigen::Index k = k_;
  const double s = options_.scale, mu = options_.shift;
  diagonal.resize(static_cast<std::size_t>(k));
  offdiagonal_squared.resize(static_cast<std::size_t>(k > 1 ? k - 1 : 1));
  for (Eigen::Index i = 0; i < k; ++i) diagonal[static_cast<std::size_t>(i)] = s * rng.normal() + mu;
  // b_i² = s²·χ²_{k−i}/2 = s²·Gamma((k−i)/2, 1) since χ²_ν = 2·Gamma(ν/2, 1).
  for (Eigen::Index i = 1; i < k; ++i)
    offdiagonal_squared[static_cast<std::size_t>(i - 1)] = s * s * gamma_variate(rng, 0.5 * static_cast<double>(k - i));
  return curvature::inertia_tridiagonal(diagonal.data(), offdiagonal_squared.data(), k);
}

std::string Ensemble::description() const {
  std::ostringstream out;
  const double s = options_.scale;
  switch (options_.kind) {
    case EnsembleKind::kGoe:
    case EnsembleKind::kGoeShift:
      out << "GOE s(A+A^T)/2 (diag var " << s * s << ", off-diag var " << s * s / 2 << ")";
      break;
    case EnsembleKind::kDiagonal:
      out << "diagonal, iid N(0, " << s * s << ")";
      break;
    case EnsembleKind::kWishart:
      out << "Wishart s X X^T/m, m = " << wishart_dof_;
      break;
    case EnsembleKind::kHessian:
      out << "Hessian of " << options_.objective << " at x = " << options_.point_scale
          << "*N(0,I), on k random directions";
      break;
  }
  if (options_.shift != 0.0) out << " + " << options_.shift << "*I";
  return out.str();
}

}  // namespace saddlescope::rmt
