#pragma once
// Frames as they cross /dev/net/tun (tun_put_user / tun_get_user in
// drivers/net/tun.c): the optional 4-byte struct tun_pi, the optional
// virtio_net_hdr, and the checks the kernel makes on what is written.
// Pure functions on byte spans; safe on any thread.
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>

namespace cusenet {

// TUN_VNET_LE, kept in the interface flags as the kernel keeps it.
constexpr unsigned kTunVnetLe = 0x80000000u;

// struct virtio_net_hdr and its constants (<linux/virtio_net.h> does not
// compile as C++: it has a member named `class`).
struct TunVnetHeader {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};
static_assert(sizeof(TunVnetHeader) == 10);
constexpr uint8_t kVnetNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
constexpr uint8_t kVnetGsoNone = 0, kVnetGsoTcpv4 = 1, kVnetGsoUdp = 3, kVnetGsoTcpv6 = 4,
                  kVnetGsoUdpL4 = 5, kVnetGsoEcn = 0x80;

// How one interface frames its data at this moment (flags change with
// TUNSETIFF on a persistent interface, the header size with TUNSETVNETHDRSZ).
struct TunFormat {
  unsigned flags;      // IFF_TUN / IFF_TAP, IFF_NO_PI, IFF_VNET_HDR, kTunVnetLe
  size_t vnet_hdr_sz;  // >= sizeof(TunVnetHeader) when IFF_VNET_HDR
};

// For read(): the frame with its headers, truncated to buf. Returns
// min(headers + frame, buf.size()), or -EINVAL when buf cannot hold the
// headers (the kernel then drops the frame). tun_pi carries TUN_PKT_STRIP
// when the frame was cut; the virtio header is all zeroes because frames
// reach the application complete (no GSO, checksum done).
ssize_t tun_put_frame(const TunFormat& fmt, std::span<const std::byte> frame,
                      std::span<std::byte> buf);

// The protocol tun_pi reports: from the IP version nibble (tun) or the
// Ethernet type field as eth_type_trans reads it (tap); 0 when unknown.
uint16_t tun_frame_protocol(std::span<const std::byte> frame, bool tap);

// A written frame without its headers.
struct TunWrite {
  std::span<const std::byte> payload;
  TunVnetHeader vnet{};  // fields in host byte order
  bool needs_csum = false;  // kVnetNeedsCsum: finish the checksum
  const char* why = "";     // why the frame was refused, for the log
  bool dropped = false;     // the refusal counts in rx_dropped, as the kernel's does
};

// tun_get_user's checks in the kernel's order: room for tun_pi and the
// virtio header, hdr_len, a whole Ethernet header on tap, the virtio header
// as virtio_net_hdr_to_skb validates it, and an IPv4/IPv6 version nibble on
// tun without tun_pi. 0, or -EINVAL with out->why.
int tun_get_frame(const TunFormat& fmt, std::span<const std::byte> in, TunWrite* out);

// skb_checksum_help: folds the Internet checksum of frame[start..] into the
// 16-bit field at start + offset (which holds the pseudo-header sum).
void tun_complete_checksum(std::span<std::byte> frame, uint16_t start, uint16_t offset);

}  // namespace cusenet
