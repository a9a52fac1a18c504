#pragma once
// The AVX2 inner loops of the HDLC framing. Callers check simd_usable()
// first; the portable loops in hdlc.cc produce the same bytes.
#include <cstddef>
#include <cstdint>

#include "ldisc/byte_set.h"

namespace cusenet::hdlc_avx2 {

// Writes in[0, n) to out with each byte of esc escaped (0x7d, byte ^ 0x20);
// out has room for 2 * n bytes. Returns the bytes written.
size_t escape(const uint8_t* in, size_t n, uint8_t* out, const ByteSet& esc);

// Copies in[0, n) to out, undoing escapes, until out holds room bytes or
// in reaches a byte the receiver's state machine must take itself: a member
// of special other than an escape followed by an ordinary byte (a flag, an
// ignored control character, an escape before a special byte or at the end
// of the input). Sets *produced to the bytes written; returns bytes consumed.
// Blocks of 32 bytes may write up to 32 bytes past *produced (within room).
size_t unescape(const uint8_t* in, size_t n, uint8_t* out, size_t room, const ByteSet& special,
                size_t* produced);

}  // namespace cusenet::hdlc_avx2
