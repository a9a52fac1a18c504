#pragma once
// PPP protocol numbers and the small frame helpers every part of the
// generic layer uses: reading the 2-byte protocol, expanding a compressed
// protocol field, and the network protocols a unit has an npmode for.
#include <linux/ppp_defs.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/frame.h"

namespace cusenet {

inline uint16_t ppp_protocol(const Frame& f) {
  return static_cast<uint16_t>(static_cast<uint16_t>(f.data()[0]) << 8 |
                               static_cast<uint16_t>(f.data()[1]));
}

inline void put_protocol(std::byte* p, uint16_t proto) {
  p[0] = std::byte(proto >> 8);
  p[1] = std::byte(proto & 0xff);
}

// A frame whose protocol field came compressed to its odd low byte (PFC):
// the same frame with the leading zero put back.
inline FramePtr expand_protocol(const Frame& f) {
  FramePtr out = make_frame(f.size() + 1);
  out->data()[0] = std::byte{0};
  std::memcpy(out->data() + 1, f.data(), f.size());
  return out;
}

// The network protocols with an npmode (NP_IP .. NP_MPLS_MC).
enum NetworkProtocol { kNpIp, kNpIpv6, kNpIpx, kNpAt, kNpMplsUc, kNpMplsMc, kNumNp };

inline int proto_to_npindex(int proto) {
  switch (proto) {
    case PPP_IP: return kNpIp;
    case PPP_IPV6: return kNpIpv6;
    case PPP_IPX: return kNpIpx;
    case PPP_AT: return kNpAt;
    case PPP_MPLS_UC: return kNpMplsUc;
    case PPP_MPLS_MC: return kNpMplsMc;
  }
  return -1;
}

inline constexpr uint16_t kNpindexToProto[kNumNp] = {PPP_IP,  PPP_IPV6,    PPP_IPX,
                                                       PPP_AT, PPP_MPLS_UC, PPP_MPLS_MC};

}  // namespace cusenet
