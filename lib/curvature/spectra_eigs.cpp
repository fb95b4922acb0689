// Spectra's SymEigsSolver over our operator: a cross-check and a benchmark peer for lanczos.cpp.
#include <Spectra/SymEigsSolver.h>

#include <stdexcept>
#include <vector>

#include "curvature/lanczos.h"
#include "random/random.h"

namespace saddlescope::curvature {

EigenpairResult spectra_extreme_eigenpairs(const SymmetricOperator& A, const EigenpairOptions& o) {
  std::string why;
  if (!o.IsValid(&why)) throw std::invalid_argument(why);
  const Eigen::Index n = A.rows();
  const Eigen::Index nev = o.which == Which::both_ends ? 2 * o.k : o.k;
  // Spectra needs nev < ncv ≤ n and advises ncv ≥ 2·nev.
  const Eigen::Index ncv = std::min(n, o.ncv > 0 ? o.ncv : std::max<Eigen::Index>(20, 2 * nev + 1));
  if (nev >= ncv) throw std::invalid_argument("spectra_extreme_eigenpairs: need nev < ncv <= n");
  const std::int64_t before = A.product_count();
  SpectraOperator op(A);
  Spectra::SymEigsSolver<SpectraOperator> solver(op, nev, ncv);
  random::Rng rng(o.seed, 0x1a4c205);
  Eigen::VectorXd start(n);
  for (Eigen::Index i = 0; i < n; ++i) start(i) = rng.normal();
  solver.init(start.data());
  const Spectra::SortRule rule = o.which == Which::smallest  ? Spectra::SortRule::SmallestAlge
                                 : o.which == Which::largest ? Spectra::SortRule::LargestAlge
                                                             : Spectra::SortRule::BothEnds;
  const Eigen::Index nconv = solver.compute(rule, o.max_iterations, o.tol, Spectra::SortRule::SmallestAlge);
  EigenpairResult r;
  r.ncv = ncv;
  r.block_size = 1;
  r.iterations = solver.num_iterations();
  r.converged = solver.info() == Spectra::CompInfo::Successful;
  r.eigenvalues = solver.eigenvalues();
  r.eigenvectors = solver.eigenvectors(nconv);
  r.message = r.converged ? "Spectra: converged" : "Spectra: " + std::to_string(nconv) + " of " + std::to_string(nev) + " converged";
  if (r.eigenvalues.size() > 0) {
    explicit_residuals(A, r.eigenvalues, r.eigenvectors, r.residuals);
    r.norm_estimate = r.eigenvalues.cwiseAbs().maxCoeff();
  }
  r.hvp_count = A.product_count() - before;
  return r;
}

}  // namespace saddlescope::curvature
