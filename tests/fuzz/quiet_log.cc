// Linked into every target: libFuzzer calls this once before the first
// input. The refusals the fuzzer provokes by the million are logged at info
// and debug level; only errors are worth its output.
#include <cstdint>

#include "core/log.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  cusenet::log::init(cusenet::log::Level::error, false);
  return 0;
}
