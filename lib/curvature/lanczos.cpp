#include "curvature/lanczos.h"

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "curvature/block_lanczos.h"
#include "curvature/dense.h"
#include "random/random.h"
#include "text/format.h"

namespace saddlescope::curvature {
namespace {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;

constexpr std::uint64_t kStartStream = 0x1a4c205;
// ε^{2/3} for doubles, ARPACK's floor in its convergence test (dsconv).
const double kEps23 = std::pow(std::numeric_limits<double>::epsilon(), 2.0 / 3.0);

std::string number(double value) { return text::format_number(value, 3, text::Notation::scientific); }

Index total_wanted(const EigenpairOptions& o) { return o.which == Which::both_ends ? 2 * o.k : o.k; }

// Indices (into ascending Ritz values 0..size-1) of the `count` pairs to take from the wanted end(s).
std::vector<Index> pick(Which which, Index size, Index count) {
  std::vector<Index> out;
  if (which == Which::smallest) {
    for (Index i = 0; i < count; ++i) out.push_back(i);
  } else if (which == Which::largest) {
    for (Index i = size - count; i < size; ++i) out.push_back(i);
  } else {
    const Index low = (count + 1) / 2, high = count - low;
    for (Index i = 0; i < low; ++i) out.push_back(i);
    for (Index i = size - high; i < size; ++i) out.push_back(i);
  }
  return out;
}

EigenpairResult dense_eigenpairs(const SymmetricOperator& A, const EigenpairOptions& o) {
  EigenpairResult r;
  r.dense = true;
  const DenseSpectrum spectrum = dense_spectrum(A.dense(), true);
  const Index n = spectrum.eigenvalues.size();
  const std::vector<Index> idx = pick(o.which, n, total_wanted(o));
  r.eigenvalues.resize(static_cast<Index>(idx.size()));
  r.eigenvectors.resize(n, static_cast<Index>(idx.size()));
  for (std::size_t j = 0; j < idx.size(); ++j) {
    r.eigenvalues(static_cast<Index>(j)) = spectrum.eigenvalues(idx[j]);
    r.eigenvectors.col(static_cast<Index>(j)) = spectrum.eigenvectors.col(idx[j]);
  }
  r.norm_estimate = n > 0 ? spectrum.eigenvalues.cwiseAbs().maxCoeff() : 0.0;
  r.converged = true;
  r.message = "ncv >= n: the operator was assembled (" + std::to_string(n) + " products) and decomposed densely";
  return r;
}

}  // namespace

void explicit_residuals(const SymmetricOperator& A, const Eigen::VectorXd& lambda, const Eigen::MatrixXd& V,
                        Eigen::VectorXd& residuals) {
  residuals.resize(lambda.size());
  if (lambda.size() == 0) return;
  MatrixXd AV;
  A.apply(V, AV);
  for (Index j = 0; j < lambda.size(); ++j) residuals(j) = (AV.col(j) - lambda(j) * V.col(j)).norm();
}

Index krylov_dimension(const EigenpairOptions& o, Index n) {
  const Index b = std::min<Index>(o.block_size > 0 ? o.block_size : 1, std::max<Index>(n, 1));
  return o.ncv > 0 ? o.ncv : std::max<Index>(40, 2 * total_wanted(o) + 2 * b);
}

bool use_dense_path(Method method, Index n, Index dense_threshold, Index ncv) {
  if (method == Method::dense) return true;
  // A Krylov basis as large as the space is the dense problem, assembled column by column: exact and
  // cheaper densely, whatever was asked.
  if (ncv >= n) return true;
  return method == Method::auto_select && n <= dense_threshold;
}

bool EigenpairOptions::IsValid(std::string* why) const {
  auto fail = [&](const std::string& message) {
    if (why != nullptr) *why = message;
    return false;
  };
  if (k < 1) return fail("'k' must be >= 1, got " + std::to_string(k));
  if (ncv < 0) return fail("'ncv' must be 0 (automatic) or >= k_total + block size, got " + std::to_string(ncv));
  if (!(tol > 0.0 && tol < 1.0)) return fail("'tol' must satisfy 0 < tol < 1, got " + number(tol));
  if (max_iterations < 1) return fail("'max_iterations' must be >= 1, got " + std::to_string(max_iterations));
  if (block_size < 0) return fail("'block_size' must be 0 (automatic) or >= 1, got " + std::to_string(block_size));
  const Index b = block_size > 0 ? block_size : 1;
  if (ncv > 0 && ncv < total_wanted(*this) + b)
    return fail("'ncv' must be >= k_total + block size = " + std::to_string(total_wanted(*this) + b) + ", got " +
                std::to_string(ncv));
  return true;
}

EigenpairResult extreme_eigenpairs(const objective::Objective& f, const objective::Vector& x, const EigenpairOptions& o) {
  const ObjectiveOperator H(f, x, Curvature::hessian);
  return extreme_eigenpairs(H, o);
}

EigenpairResult extreme_eigenpairs(const SymmetricOperator& A, const EigenpairOptions& o) {
  std::string why;
  if (!o.IsValid(&why)) throw std::invalid_argument(why);
  const Index n = A.rows();
  const Index k_total = total_wanted(o);
  if (k_total > n)
    throw std::invalid_argument("extreme_eigenpairs: " + std::to_string(k_total) + " pairs wanted (k = " +
                                std::to_string(o.k) + ", which = " + std::string(to_string(o.which)) +
                                ") but the operator has dimension " + std::to_string(n));
  const std::int64_t products_before = A.product_count();
  const Index b = std::min<Index>(o.block_size > 0 ? o.block_size : 1, n);
  const Index m = krylov_dimension(o, n);

  EigenpairResult r;
  if (use_dense_path(Method::lanczos, n, 0, m)) {
    r = dense_eigenpairs(A, o);
    r.block_size = b;
    r.ncv = n;
    explicit_residuals(A, r.eigenvalues, r.eigenvectors, r.residuals);
    r.hvp_count = A.product_count() - products_before;
    return r;
  }
  r.block_size = b;
  r.ncv = m;

  BlockLanczos lanczos(n, m, b, BlockLanczos::Breakdown::replace);
  random::Rng rng(o.seed, kStartStream);
  {
    MatrixXd start(n, b);
    for (Index j = 0; j < b; ++j)
      for (Index i = 0; i < n; ++i) start(i, j) = rng.normal();
    lanczos.start(start, rng);
  }
  MatrixXd W, Yk, Ck, Yw;
  Eigen::VectorXd thetak;
  Eigen::SelfAdjointEigenSolver<MatrixXd> eig;

  for (Index cycle = 1;; ++cycle) {
    // Expand until one more block would not fit.
    do {
      A.apply(lanczos.pending(), W);
    } while (lanczos.extend(W, rng));
    // Rayleigh–Ritz. Residual of Ritz pair (θ_i, V y_i): ‖F E_lastᵀ y_i‖ = ‖R · y_i(last block rows)‖.
    const Index size = lanczos.size();
    const auto T = lanczos.projected().topLeftCorner(size, size);
    eig.compute(0.5 * (T + T.transpose()));
    if (eig.info() != Eigen::Success) throw std::runtime_error("extreme_eigenpairs: Rayleigh-Ritz eigensolver failed");
    const VectorXd& theta = eig.eigenvalues();
    const MatrixXd& Y = eig.eigenvectors();
    const MatrixXd coupling =
        lanczos.residual_coefficients() * Y.middleRows(lanczos.last_block_begin(), lanczos.last_block_size());
    r.norm_estimate = std::max(std::abs(theta(0)), std::abs(theta(size - 1)));
    const double threshold = o.tol * r.norm_estimate;
    const std::vector<Index> wanted = pick(o.which, size, k_total);
    Index converged = 0;
    for (Index i : wanted) {
      const double limit = o.tol_relative_to_value ? o.tol * std::max(kEps23, std::abs(theta(i))) : threshold;
      if (coupling.col(i).norm() <= limit) ++converged;
    }
    r.iterations = cycle;
    if (o.progress) o.progress(cycle, converged, A.product_count() - products_before);

    if (converged == k_total || cycle >= o.max_iterations) {
      r.converged = converged == k_total;
      r.eigenvalues.resize(k_total);
      Yw.resize(size, k_total);
      for (Index j = 0; j < k_total; ++j) {
        r.eigenvalues(j) = theta(wanted[static_cast<std::size_t>(j)]);
        Yw.col(j) = Y.col(wanted[static_cast<std::size_t>(j)]);
      }
      r.eigenvectors.noalias() = lanczos.basis().leftCols(size) * Yw;
      for (Index j = 0; j < k_total; ++j) r.eigenvectors.col(j).normalize();
      const std::string rule =
          o.tol_relative_to_value ? "tol*max(eps^(2/3), |theta|) (ARPACK's test)" : "tol*|A|_est = " + number(threshold);
      r.message = r.converged ? "converged: " + std::to_string(k_total) + " pairs with residual <= " + rule + " after " +
                                    std::to_string(cycle) + " restart cycles"
                              : "not converged: " + std::to_string(converged) + " of " + std::to_string(k_total) +
                                    " pairs within " + rule + " after max_iterations = " +
                                    std::to_string(o.max_iterations) + " restart cycles";
      break;
    }

    // Thick restart: keep s Ritz vectors from the wanted end(s), then the residual block.
    const Index s = std::max(k_total, (size - b + k_total) / 2);
    const std::vector<Index> keep = pick(o.which, size, s);
    Yk.resize(size, s);
    Ck.resize(b, s);
    thetak.resize(s);
    for (Index j = 0; j < s; ++j) {
      Yk.col(j) = Y.col(keep[static_cast<std::size_t>(j)]);
      Ck.col(j) = coupling.col(keep[static_cast<std::size_t>(j)]);
      thetak(j) = theta(keep[static_cast<std::size_t>(j)]);
    }
    lanczos.restart(Yk, thetak, Ck);
  }
  explicit_residuals(A, r.eigenvalues, r.eigenvectors, r.residuals);
  r.hvp_count = A.product_count() - products_before;
  return r;
}

}  // namespace saddlescope::curvature
