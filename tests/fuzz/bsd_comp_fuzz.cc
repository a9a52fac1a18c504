// BSD-Compress (engine/bsd_comp.cc) on a peer's frames; see
// decompressor_fuzz.h.
#include <linux/ppp-comp.h>

#include "tests/fuzz/decompressor_fuzz.h"

namespace {

// Code sizes of 9 to 15 bits.
std::vector<uint8_t> bsd_option(uint8_t parameter) {
  return {CI_BSD_COMPRESS, CILEN_BSD_COMPRESS,
          static_cast<uint8_t>(BSD_MAKE_OPT(BSD_CURRENT_VERSION, 9 + parameter % 7))};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return cusenet::fuzz::fuzz_decompressor(data, size, bsd_option);
}
