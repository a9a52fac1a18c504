#pragma once
// A set of byte values (an ACCM, or the bytes a receiver must act on) in the
// two forms its users test membership with: a 256-entry table for byte-at-a-
// time loops, and nibble rows for 32-bytes-at-a-time SIMD lookups.
#include <array>
#include <cstdint>

namespace cusenet {

class ByteSet {
 public:
  // words: bit (c & 31) of words[c >> 5] is byte c, as in the kernel's xaccm.
  explicit ByteSet(const std::array<uint32_t, 8>& words) {
    for (unsigned c = 0; c < 256; ++c) {
      bool in = (words[c >> 5] >> (c & 31)) & 1;
      member_[c] = in;
      if (in)
        (c < 0x80 ? low_rows_ : high_rows_)[c & 0xf] |= static_cast<uint8_t>(1u << ((c >> 4) & 7));
    }
  }

  bool contains(uint8_t c) const { return member_[c]; }

  // For low nibble l, bit h of low_rows()[l] is byte (h << 4 | l) for the
  // high nibbles 0-7, and of high_rows()[l] for high nibbles 8-15.
  const std::array<uint8_t, 16>& low_rows() const { return low_rows_; }
  const std::array<uint8_t, 16>& high_rows() const { return high_rows_; }

 private:
  std::array<bool, 256> member_{};
  std::array<uint8_t, 16> low_rows_{}, high_rows_{};
};

}  // namespace cusenet
