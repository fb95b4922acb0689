#pragma once
// Result files (format "saddlescope-result"): what an analysis tool computed. Root attributes: the
// provenance (io/provenance.h), `analysis` (the tool's job), `input_file` and `input_sha256` when the
// analysis read a file, and `summary` (the same JSON object the tool prints with --json).
#include <hdf5.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "io/provenance.h"

namespace saddlescope::io {

inline constexpr const char* kResultFormat = "saddlescope-result";
inline constexpr std::int64_t kResultFormatVersion = 1;

void write_result_header(hid_t file, const Provenance& provenance, const std::string& analysis,
                         const std::string& input_path, const nlohmann::json& summary);

}  // namespace saddlescope::io
