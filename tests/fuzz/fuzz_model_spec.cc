// libFuzzer entry point for the model-spec parser; the body is in targets.h. Run: tools/fuzz.sh model_spec SECONDS
#include "fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return saddlescope::fuzz::model_spec_target(data, size);
}
