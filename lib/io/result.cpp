#include "io/result.h"

#include "io/hdf5.h"
#include "io/provenance_file.h"

namespace saddlescope::io {

void write_result_header(hid_t file, const Provenance& provenance, const std::string& analysis,
                         const std::string& input_path, const nlohmann::json& summary) {
  write_provenance(file, kResultFormat, kResultFormatVersion, provenance);
  h5::write_attribute(file, "analysis", analysis);
  if (!input_path.empty()) {
    h5::write_attribute(file, "input_file", input_path);
    h5::write_attribute(file, "input_sha256", sha256_file(input_path));
  }
  h5::write_attribute(file, "summary", summary.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace saddlescope::io
