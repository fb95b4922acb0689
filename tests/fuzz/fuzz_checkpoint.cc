// libFuzzer entry point for the checkpoint parser; the body is in targets.h. Run: tools/fuzz.sh checkpoint SECONDS
#include "fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return saddlescope::fuzz::checkpoint_target(data, size);
}
