// Deflate (engine/deflate.cc) on a peer's frames; see decompressor_fuzz.h.
#include <linux/ppp-comp.h>

#include "tests/fuzz/decompressor_fuzz.h"

namespace {

// Bit 7: the draft option number; the rest: a window of 9 to 15 bits.
std::vector<uint8_t> deflate_option(uint8_t parameter) {
  const uint8_t type = parameter & 0x80 ? CI_DEFLATE_DRAFT : CI_DEFLATE;
  const int window = 9 + (parameter & 0x7f) % 7;
  return {type, CILEN_DEFLATE, static_cast<uint8_t>(DEFLATE_MAKE_OPT(window)), DEFLATE_CHK_SEQUENCE};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return cusenet::fuzz::fuzz_decompressor(data, size, deflate_option);
}
