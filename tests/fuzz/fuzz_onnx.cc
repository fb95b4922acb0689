// libFuzzer entry point for the ONNX importer (and the graph engine on what it accepts); the body is in
// targets.h. Run: tools/fuzz.sh onnx SECONDS
#include "fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return saddlescope::fuzz::onnx_target(data, size);
}
