#pragma once
// The 16-bit frame check sequence of RFC 1662 (CRC-CCITT, bits least
// significant first, polynomial x^16 + x^12 + x^5 + 1), as the kernel's
// PPP_FCS / crc_ccitt computes it.
#include <linux/ppp_defs.h>  // PPP_INITFCS, PPP_GOODFCS

#include <cstddef>
#include <cstdint>
#include <span>

#include "ldisc/simd.h"

namespace cusenet {

// Continues the FCS fcs over data. Start from PPP_INITFCS; a sender appends
// the complement, least significant byte first; a receiver running over a
// frame and its FCS gets PPP_GOODFCS.
uint16_t fcs16(uint16_t fcs, std::span<const std::byte> data, Simd simd = simd_best());

}  // namespace cusenet
