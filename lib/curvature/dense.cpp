#include "curvature/dense.h"

#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace saddlescope::curvature {

namespace {

// LAPACK's integer type bounds the dimension (int32 in Debian's LAPACKE): refuse larger before calling.
lapack_int lapack_dimension(Eigen::Index n, const char* what) {
  if (n > std::numeric_limits<lapack_int>::max() / 2)
    throw std::invalid_argument(std::string(what) + ": dimension " + std::to_string(n) + " exceeds LAPACK's index range");
  return static_cast<lapack_int>(n);
}

void check_lapack(lapack_int info, const char* routine) {
  if (info < 0) throw std::logic_error(std::string("dense spectrum: ") + routine + " rejected argument " + std::to_string(-info));
  if (info > 0) throw std::runtime_error(std::string("dense spectrum: ") + routine + " did not converge (info " + std::to_string(info) + ")");
}

enum class Vectors { none, extremes, all };

// One blocked Householder tridiagonalisation Qᵀ H Q = T (dsytrd: half its flops in DSYR2K, BLAS-3),
// then, from T: every eigenvalue by Pal–Walker–Kahan QR (dsterf, no vectors: O(n²)); and the vectors
// asked for — all by divide and conquer (dstedc), or those of the `bottom` smallest and `top` largest
// eigenvalues by MRRR (dstemr on an index range, O(n) per vector) — back-transformed by Q (dormtr,
// blocked). The eigenvalues come from dsterf in every case, so every request gives the same bits.
DenseSpectrum tridiagonal_path(const Eigen::MatrixXd& H, Vectors vectors, Eigen::Index bottom = 0, Eigen::Index top = 0) {
  const Eigen::Index n = H.rows();
  const lapack_int ln = lapack_dimension(n, "dense_spectrum");
  Eigen::MatrixXd A = H;  // dsytrd overwrites its lower triangle with the Householder reflectors
  Eigen::VectorXd d(n), e(std::max<Eigen::Index>(n, 1)), tau(std::max<Eigen::Index>(n - 1, 1));
  // The _work interfaces: the input was checked finite already, and LAPACKE's own NaN scan of the n×n
  // matrix would cost a pass over it per call.
  double query = 0.0;
  check_lapack(LAPACKE_dsytrd_work(LAPACK_COL_MAJOR, 'L', ln, A.data(), ln, d.data(), e.data(), tau.data(), &query, -1),
               "dsytrd");
  std::vector<double> work(static_cast<std::size_t>(std::max(1.0, query)));
  check_lapack(LAPACKE_dsytrd_work(LAPACK_COL_MAJOR, 'L', ln, A.data(), ln, d.data(), e.data(), tau.data(), work.data(),
                                   static_cast<lapack_int>(work.size())),
               "dsytrd");
  DenseSpectrum out;
  out.eigenvalues = d;
  {
    Eigen::VectorXd off = e;
    check_lapack(LAPACKE_dsterf(ln, out.eigenvalues.data(), off.data()), "dsterf");
  }
  if (vectors == Vectors::none) return out;
  if (vectors == Vectors::extremes && bottom + top >= n) vectors = Vectors::all;
  if (vectors == Vectors::all) {
    Eigen::VectorXd dd = d, ee = e;
    out.eigenvectors.resize(n, n);
    check_lapack(LAPACKE_dstedc(LAPACK_COL_MAJOR, 'I', ln, dd.data(), ee.data(), out.eigenvectors.data(), ln), "dstedc");
  } else {
    out.eigenvectors.resize(n, bottom + top);
    Eigen::VectorXd w(n);
    // Vectors of T for the ascending indices [first, first + count) into columns [column, column + count).
    auto range = [&](Eigen::Index first, Eigen::Index count, Eigen::Index column) {
      if (count == 0) return;
      Eigen::VectorXd dd = d, ee = e;  // dstemr overwrites both
      lapack_int found = 0;
      std::vector<lapack_int> isuppz(static_cast<std::size_t>(2 * count));
      lapack_logical tryrac = 1;
      check_lapack(LAPACKE_dstemr(LAPACK_COL_MAJOR, 'V', 'I', ln, dd.data(), ee.data(), 0.0, 0.0,
                                  static_cast<lapack_int>(first + 1), static_cast<lapack_int>(first + count), &found,
                                  w.data(), out.eigenvectors.col(column).data(), ln, static_cast<lapack_int>(count),
                                  isuppz.data(), &tryrac),
                   "dstemr");
      if (found != count) throw std::runtime_error("dense spectrum: dstemr returned " + std::to_string(found) + " of " +
                                                   std::to_string(count) + " eigenvectors");
    };
    range(0, bottom, 0);
    range(n - top, top, bottom);
  }
  if (n > 1 && out.eigenvectors.cols() > 0) {
    const auto columns = static_cast<lapack_int>(out.eigenvectors.cols());
    check_lapack(LAPACKE_dormtr_work(LAPACK_COL_MAJOR, 'L', 'L', 'N', ln, columns, A.data(), ln, tau.data(),
                                     out.eigenvectors.data(), ln, &query, -1),
                 "dormtr");
    work.resize(static_cast<std::size_t>(std::max(1.0, query)));
    check_lapack(LAPACKE_dormtr_work(LAPACK_COL_MAJOR, 'L', 'L', 'N', ln, columns, A.data(), ln, tau.data(),
                                     out.eigenvectors.data(), ln, work.data(), static_cast<lapack_int>(work.size())),
                 "dormtr");
  }
  return out;
}

}  // namespace

DenseSpectrum dense_spectrum(const Eigen::MatrixXd& H, bool with_eigenvectors) {
  if (H.rows() != H.cols()) throw std::invalid_argument("dense_spectrum: matrix is not square");
  if (!H.allFinite()) throw std::invalid_argument("dense_spectrum: the Hessian contains NaN or Inf");
  if (H.size() == 0) return {};
  return tridiagonal_path(H, with_eigenvectors ? Vectors::all : Vectors::none);
}

DenseSpectrum dense_spectrum_extremes(const Eigen::MatrixXd& H, Eigen::Index bottom, Eigen::Index top) {
  if (H.rows() != H.cols()) throw std::invalid_argument("dense_spectrum: matrix is not square");
  if (!H.allFinite()) throw std::invalid_argument("dense_spectrum: the Hessian contains NaN or Inf");
  if (bottom < 0 || top < 0 || bottom > H.rows() || top > H.rows())
    throw std::invalid_argument("dense_spectrum_extremes: bottom and top must be in [0, n]");
  if (H.size() == 0) return {};
  return tridiagonal_path(H, Vectors::extremes, bottom, top);
}

DenseSpectrum dense_spectrum_lowest_vector(const Eigen::MatrixXd& H) {
  if (H.rows() != H.cols()) throw std::invalid_argument("dense_spectrum: matrix is not square");
  if (!H.allFinite()) throw std::invalid_argument("dense_spectrum: the Hessian contains NaN or Inf");
  const Eigen::Index n = H.rows();
  if (n == 0) return {};
  DenseSpectrum out = tridiagonal_path(H, Vectors::extremes, 1, 0);
  const double scale = out.eigenvalues.cwiseAbs().maxCoeff();
  Eigen::VectorXd v = out.eigenvectors.col(0);
  const double norm = v.norm();
  bool ok = std::isfinite(norm) && norm > 0;
  if (ok) {
    v /= norm;
    ok = (H * v - out.eigenvalues(0) * v).norm() <= 1e-10 * scale + 1e-300;
  }
  if (!ok) {
    DenseSpectrum full = dense_spectrum(H, true);
    full.eigenvectors = full.eigenvectors.leftCols(1).eval();
    return full;
  }
  out.eigenvectors.col(0) = v;
  return out;
}

Eigen::MatrixXd dense_hessian(const objective::Objective& f, const objective::Vector& x) {
  Eigen::MatrixXd H;
  f.hessian(x, H);
  return H;
}

Inertia inertia_from_eigenvalues(const Eigen::VectorXd& eigenvalues, double zero_tolerance) {
  Inertia inertia;
  for (double lambda : eigenvalues) {
    if (lambda < -zero_tolerance)
      ++inertia.negative;
    else if (lambda > zero_tolerance)
      ++inertia.positive;
    else
      ++inertia.zero;
  }
  return inertia;
}

}  // namespace saddlescope::curvature
