#pragma once
// The renderings of a spectrum analysis (curvature/spectrum.h): the --json summary, the aligned text
// summary and the HDF5 groups. Layout under the parent group:
//   /eigenpairs  attributes method, converged (0/1), message; bottom_eigenvalues, bottom_residuals,
//                top_eigenvalues, top_residuals (ascending) and, when kept, bottom_/top_eigenvectors [n, k]
//   /spectrum/eigenvalues  (dense path: every eigenvalue, ascending)
//   /density     grid, density, nodes [steps, probes], weights; attributes sigma, index_fraction(_stderr,
//                _resolution)
//   /trace       attributes trace, trace_stderr, method;   /diagonal/{estimate, stderr} (Hutchinson)
#include <hdf5.h>

#include <nlohmann/json.hpp>
#include <string>

#include "curvature/spectrum.h"

namespace saddlescope::report {

nlohmann::json to_json(const curvature::SpectrumReport& r);

// Header line and aligned rows; `source` names where the point came from, `seconds` the wall time.
std::string summary_text(const curvature::SpectrumReport& r, const std::string& objective, const std::string& source,
                         double seconds);

// Groups /eigenpairs, /density, /trace, /diagonal, /spectrum under `parent` (those that exist).
void write_spectrum(hid_t parent, const curvature::SpectrumReport& r);

}  // namespace saddlescope::report
