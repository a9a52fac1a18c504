#include "netdev/tun_frame.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

namespace cusenet {
namespace {

constexpr uint16_t kGsoByFrags = 0xffff;
constexpr size_t kIpv4HeaderMin = 20, kIpv6Header = 40, kTcpHeader = 20, kUdpHeader = 8;
constexpr uint16_t kTcpCheckOffset = 16, kUdpCheckOffset = 6;

uint16_t be16(std::span<const std::byte> b, size_t at) {
  return static_cast<uint16_t>(std::to_integer<unsigned>(b[at]) << 8 |
                               std::to_integer<unsigned>(b[at + 1]));
}

// __virtio16_to_cpu: legacy headers are in the host's order unless
// TUNSETVNETLE asked for little endian (TUNSETVNETBE needs
// CONFIG_TUN_VNET_CROSS_LE, which we emulate as absent).
uint16_t vnet16(uint16_t v, unsigned flags) {
  bool le = (flags & kTunVnetLe) || std::endian::native == std::endian::little;
  bool swap = le != (std::endian::native == std::endian::little);
  return swap ? static_cast<uint16_t>(v << 8 | v >> 8) : v;
}

// __virtio_net_hdr_to_skb's validation of a header written by the
// application, on the frame after the headers.
const char* vnet_problem(const TunVnetHeader& h, size_t len) {
  size_t nh_min = kIpv4HeaderMin, thlen = 0;
  const bool gso = h.gso_type != kVnetGsoNone;
  const uint8_t type = h.gso_type & ~kVnetGsoEcn;
  if (gso) {
    switch (type) {
      case kVnetGsoTcpv4: thlen = kTcpHeader; break;
      case kVnetGsoTcpv6: thlen = kTcpHeader; nh_min = kIpv6Header; break;
      case kVnetGsoUdp:
      case kVnetGsoUdpL4: thlen = kUdpHeader; break;
      default: return "unknown virtio gso_type";
    }
    if (h.gso_size == 0) return "virtio gso_size 0";
  }
  if (h.flags & kVnetNeedsCsum) {
    const size_t start = h.csum_start, off = h.csum_offset;
    if (start + std::max(thlen, off + 2) > len) return "virtio checksum field beyond the frame";
    if (start < nh_min) return "virtio csum_start inside the network header";
  } else if (gso && nh_min + thlen > len) {
    return "gso frame shorter than its headers";
  }
  if (gso) {
    if (type == kVnetGsoUdpL4 &&
        (!(h.flags & kVnetNeedsCsum) || h.csum_offset != kUdpCheckOffset))
      return "UDP segmentation without the UDP checksum offset";
    if ((type == kVnetGsoTcpv4 || type == kVnetGsoTcpv6) &&
        (h.flags & kVnetNeedsCsum) && h.csum_offset != kTcpCheckOffset)
      return "TCP segmentation without the TCP checksum offset";
    if (h.gso_size == kGsoByFrags) return "virtio gso_size GSO_BY_FRAGS";
  }
  return nullptr;
}

int refuse(TunWrite* out, const char* why, bool dropped = false) {
  out->why = why;
  out->dropped = dropped;
  return -EINVAL;
}

}  // namespace

uint16_t tun_frame_protocol(std::span<const std::byte> frame, bool tap) {
  if (tap) {
    if (frame.size() < ETH_HLEN) return 0;
    uint16_t type = be16(frame, 12);
    if (type >= ETH_P_802_3_MIN) return type;
    // An 802.3 length field: raw IPX carries 0xffff, else it is 802.2 LLC.
    if (frame.size() >= ETH_HLEN + 2 && be16(frame, ETH_HLEN) == 0xffff) return ETH_P_802_3;
    return ETH_P_802_2;
  }
  if (frame.empty()) return 0;
  switch (std::to_integer<unsigned>(frame[0]) >> 4) {
    case 4: return ETH_P_IP;
    case 6: return ETH_P_IPV6;
    default: return 0;
  }
}

ssize_t tun_put_frame(const TunFormat& fmt, std::span<const std::byte> frame,
                      std::span<std::byte> buf) {
  const size_t vnet = (fmt.flags & IFF_VNET_HDR) ? fmt.vnet_hdr_sz : 0;
  size_t total = frame.size() + vnet;
  size_t off = 0;
  if (!(fmt.flags & IFF_NO_PI)) {
    if (buf.size() < sizeof(tun_pi)) return -EINVAL;
    total += sizeof(tun_pi);
    tun_pi pi{};
    pi.flags = buf.size() < total ? TUN_PKT_STRIP : 0;
    pi.proto = htons(tun_frame_protocol(frame, (fmt.flags & TUN_TYPE_MASK) == IFF_TAP));
    std::memcpy(buf.data(), &pi, sizeof pi);
    off = sizeof pi;
  }
  if (vnet) {
    if (buf.size() - off < vnet) return -EINVAL;
    // The header and the padding up to vnet_hdr_sz, as tun_vnet_hdr_put.
    std::memset(buf.data() + off, 0, vnet);
    off += vnet;
  }
  // A read of 0 bytes may come with no buffer at all (null), which memcpy
  // may not be given even for nothing.
  if (const size_t n = std::min(buf.size() - off, frame.size())) std::memcpy(buf.data() + off, frame.data(), n);
  return static_cast<ssize_t>(std::min(total, buf.size()));
}

int tun_get_frame(const TunFormat& fmt, std::span<const std::byte> in, TunWrite* out) {
  const bool tap = (fmt.flags & TUN_TYPE_MASK) == IFF_TAP;
  size_t off = 0;
  if (!(fmt.flags & IFF_NO_PI)) {
    if (in.size() < sizeof(tun_pi)) return refuse(out, "shorter than struct tun_pi");
    off = sizeof(tun_pi);
  }
  size_t hdr_len = 0;
  if (fmt.flags & IFF_VNET_HDR) {
    if (in.size() - off < fmt.vnet_hdr_sz)
      return refuse(out, "shorter than the virtio header");
    TunVnetHeader& h = out->vnet;
    std::memcpy(&h, in.data() + off, sizeof h);
    h.hdr_len = vnet16(h.hdr_len, fmt.flags);
    h.gso_size = vnet16(h.gso_size, fmt.flags);
    h.csum_start = vnet16(h.csum_start, fmt.flags);
    h.csum_offset = vnet16(h.csum_offset, fmt.flags);
    hdr_len = h.hdr_len;
    if (h.flags & kVnetNeedsCsum)
      hdr_len = std::max<size_t>(size_t{h.csum_start} + h.csum_offset + 2, hdr_len);
    // Compared with what follows the first sizeof(TunVnetHeader) bytes, as
    // __tun_vnet_hdr_get does before skipping the padding.
    if (hdr_len > in.size() - off - sizeof h)
      return refuse(out, "virtio hdr_len beyond the frame");
    off += fmt.vnet_hdr_sz;
  }
  out->payload = in.subspan(off);
  const size_t len = out->payload.size();
  if (tap && (len < ETH_HLEN || (hdr_len && hdr_len < ETH_HLEN)))
    return refuse(out, "tap frame shorter than an Ethernet header");
  if (fmt.flags & IFF_VNET_HDR) {
    if (const char* p = vnet_problem(out->vnet, len)) return refuse(out, p);
    out->needs_csum = out->vnet.flags & kVnetNeedsCsum;
  }
  if (!tap && (fmt.flags & IFF_NO_PI) && tun_frame_protocol(out->payload, false) == 0)
    return refuse(out, "neither IPv4 nor IPv6", true);
  return 0;
}

void tun_complete_checksum(std::span<std::byte> frame, uint16_t start, uint16_t offset) {
  uint32_t sum = 0;
  size_t i = start;
  for (; i + 1 < frame.size(); i += 2) sum += be16(frame, i);
  if (i < frame.size()) sum += std::to_integer<uint32_t>(frame[i]) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  const uint16_t folded = static_cast<uint16_t>(~sum);
  frame[start + offset] = static_cast<std::byte>(folded >> 8);
  frame[start + offset + 1] = static_cast<std::byte>(folded & 0xff);
}

}  // namespace cusenet
