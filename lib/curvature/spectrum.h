#pragma once
// One call answering "what does the curvature look like here": extreme eigenpairs, spectral density,
// trace, diagonal, index — densely below a size threshold, matrix-free above it. What `hessian-spectrum`
// prints and stores; its renderings (JSON, text, HDF5) are report/spectrum.h.
#include <Eigen/Core>
#include <array>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "curvature/lanczos.h"
#include "curvature/operator.h"
#include "curvature/slq.h"
#include "text/names.h"

namespace saddlescope::curvature {

// Method is declared in lanczos.h (with use_dense_path, the one dense-or-Lanczos rule).
inline constexpr auto kMethodNames = text::make_name_table<Method>(
    "method", {{Method::auto_select, "auto"}, {Method::dense, "dense"}, {Method::lanczos, "lanczos"}});
inline std::string to_string(Method method) { return std::string(kMethodNames.name(method)); }

enum class TraceMethod { hutchinson, hutchpp };
inline constexpr auto kTraceMethodNames = text::make_name_table<TraceMethod>(
    "trace method", {{TraceMethod::hutchinson, "hutchinson"}, {TraceMethod::hutchpp, "hutchpp"}});
inline std::string to_string(TraceMethod method) { return std::string(kTraceMethodNames.name(method)); }

struct SpectrumOptions {
  Method method = Method::auto_select;
  Eigen::Index dense_threshold = kDenseThreshold;
  Eigen::Index top = 5;     // largest eigenpairs wanted (0 = none)
  Eigen::Index bottom = 5;  // smallest eigenpairs wanted (0 = none)
  bool eigenvectors = false;  // keep them in the report (n×k each)
  // Lanczos settings (k, which and progress are set by analyze_spectrum).
  EigenpairOptions lanczos;
  // Density (matrix-free path; 0 probes = no density). The dense path broadens the exact eigenvalues
  // with the same relative sigma instead.
  SlqOptions density;
  // Trace and diagonal on the matrix-free path: `trace_samples` products (0 = none). Hutchinson's
  // products also give the diagonal; Hutch++ needs a multiple of 3 (rounded up).
  Eigen::Index trace_samples = 30;
  TraceMethod trace_method = TraceMethod::hutchinson;
  std::uint64_t seed = 0;  // every random stream: Lanczos start block, SLQ probes, trace probes
  // Progress: (stage name, done, total) — stages "eigenpairs", "density", "trace".
  std::function<void(std::string_view, Eigen::Index, Eigen::Index)> progress;

  bool IsValid(std::string* why) const;
};

struct SpectrumReport {
  std::string method;      // "dense" or "lanczos" (what ran)
  std::string curvature;   // operator name, filled in by the caller
  Eigen::Index n = 0;
  Eigen::VectorXd bottom_eigenvalues, bottom_residuals;  // ascending
  Eigen::VectorXd top_eigenvalues, top_residuals;        // ascending
  Eigen::MatrixXd bottom_eigenvectors, top_eigenvectors; // when requested
  bool converged = true;
  std::string message;
  Eigen::Index lanczos_iterations = 0;
  // Dense path only: every eigenvalue, ascending.
  Eigen::VectorXd all_eigenvalues;
  // Density (empty grid when not computed). On the dense path nodes = eigenvalues, weights = 1/n.
  bool has_density = false;
  SlqResult density;
  // Trace: exact on the dense path (stderr 0), estimated otherwise.
  bool has_trace = false;
  double trace = 0.0, trace_stderr = 0.0;
  std::string trace_method;
  Eigen::VectorXd diagonal, diagonal_stderr;  // Hutchinson or exact; empty for hutchpp
  // Fraction of negative eigenvalues: exact (stderr 0) on the dense path, from SLQ otherwise.
  bool has_index = false;
  double index_fraction = 0.0, index_fraction_stderr = 0.0, index_fraction_resolution = 0.0;
  Eigen::Index hvp_count = 0;  // every operator product of this analysis
};

// Runs the analysis on `A`. Throws std::invalid_argument for invalid options or sizes.
SpectrumReport analyze_spectrum(const SymmetricOperator& A, const SpectrumOptions& o);

// The report of an operator whose every eigenvalue is known in closed form (K-FAC: curvature/kfac.h):
// the extremes from `eigenvalues` (residuals 0: no iteration), trace = their sum, index = the count
// below −τ (τ = density.zero_rtol·max|λ|), the broadened density when density.probes > 0, no
// eigenvectors and no diagonal. `method` and `message` say where the eigenvalues came from.
SpectrumReport spectrum_from_eigenvalues(const Eigen::VectorXd& eigenvalues, const SpectrumOptions& o,
                                         const std::string& method, const std::string& message);

// Exact eigenvalues as a density (the dense path's): nodes = eigenvalues, weights 1/n, Gaussian
// broadening σ = options.sigma × the spectral range on options.grid_points points.
SlqResult broadened_density(const Eigen::VectorXd& eigenvalues, const SlqOptions& options, double trace,
                            double index_fraction);

}  // namespace saddlescope::curvature
