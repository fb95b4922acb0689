#pragma once
// The renderings of a spectrum analysis (curvature/spectrum.h): the --json summary, the aligned text
// summary and the HDF5 groups. Layout under the parent group:
//   /eigenpairs  attributes method, converged (0/1), message; bottom_eigenvalues, bottom_residuals,
//                top_eigenvalues, top_residuals (ascending) and, when kept, bottom_/top_eigenvectors [n, k]
//   /spectrum/eigenvalues  (dense path: every eigenvalue, ascending)
//   /density     grid, density, nodes [steps, probes], weights; attributes sigma, index_fraction(_stderr,
//                _resolution)
//   /trace       attributes trace, trace_stderr, method;   /diagonal/{estimate, stderr} (Hutchinson)
//   /blocks      (--block) names (strings), offset, size: the parameter
//                blocks the analysis was restricted to; the eigenvectors above are embedded in the full space
//   /layers      (--per-layer) names (strings), size, lambda_min, lambda_max, trace,
//                trace_stderr, exact (0/1), converged (0/1), hvp_count: one row per layer
//   /kfac_comparison (--compare-kfac) names, size, kfac_lambda_min, kfac_lambda_max, kfac_trace,
//                exact_lambda_min, exact_lambda_max, exact_trace, relative_frobenius_error; attribute
//                fisher: one row per K-FAC layer, K-FAC against the exact GGN's diagonal block; attributes
//                outside_parameters (count) and outside_blocks (JSON list of names): the parameters in no
//                K-FAC layer (e.g. batch-norm scales and shifts), which K-FAC gives λ alone and the rows omit
#include <hdf5.h>

#include <nlohmann/json.hpp>
#include <string>

#include "curvature/blocks.h"
#include "curvature/kfac.h"
#include "curvature/spectrum.h"

namespace saddlescope::report {

nlohmann::json to_json(const curvature::SpectrumReport& r);

// Header line and aligned rows; `source` names where the point came from, `seconds` the wall time.
std::string summary_text(const curvature::SpectrumReport& r, const std::string& objective, const std::string& source,
                         double seconds);

// Groups /eigenpairs, /density, /trace, /diagonal, /spectrum under `parent` (those that exist).
void write_spectrum(hid_t parent, const curvature::SpectrumReport& r);

// The restriction (--block): JSON {"names": [...], "size": total}, and the /blocks group.
nlohmann::json blocks_to_json(const std::vector<curvature::ParameterBlock>& blocks);
void write_blocks(hid_t parent, const std::vector<curvature::ParameterBlock>& blocks);

// The per-layer table (--per-layer): a JSON array of rows, aligned text, and the /layers group.
nlohmann::json to_json(const std::vector<curvature::LayerCurvature>& rows);
std::string layer_table_text(const std::vector<curvature::LayerCurvature>& rows);
void write_layer_table(hid_t parent, const std::vector<curvature::LayerCurvature>& rows);

// The per-layer K-FAC-vs-exact table (--compare-kfac): JSON rows, aligned text and /kfac_comparison.
nlohmann::json to_json(const std::vector<curvature::KfacLayerComparison>& rows);
std::string kfac_comparison_text(const std::vector<curvature::KfacLayerComparison>& rows);
void write_kfac_comparison(hid_t parent, const std::vector<curvature::KfacLayerComparison>& rows, const std::string& fisher,
                           const std::vector<curvature::ParameterBlock>& outside = {});
// The parameters outside every K-FAC layer: {"parameters": count, "names": [...]} and one text line.
nlohmann::json kfac_outside_to_json(const std::vector<curvature::ParameterBlock>& outside);
std::string kfac_outside_text(const std::vector<curvature::ParameterBlock>& outside);

}  // namespace saddlescope::report
