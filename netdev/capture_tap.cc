#include "netdev/capture_tap.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <net/if_arp.h>

#include <algorithm>
#include <cstring>

namespace cusenet {
namespace {

// skb->protocol as the receive path sets it: from the EtherType (eth_type_trans)
// or, on a raw IP interface, from the IP version.
uint16_t frame_protocol(std::span<const std::byte> f, bool ether) {
  if (ether) {
    if (f.size() < ETH_HLEN) return 0;
    uint16_t type = static_cast<uint16_t>(std::to_integer<unsigned>(f[12]) << 8 |
                                          std::to_integer<unsigned>(f[13]));
    return htons(type >= ETH_P_802_3_MIN ? type : ETH_P_802_3);
  }
  if (f.empty()) return 0;
  switch (std::to_integer<unsigned>(f[0]) >> 4) {
    case 4: return htons(ETH_P_IP);
    case 6: return htons(ETH_P_IPV6);
    default: return 0;
  }
}

}  // namespace

CaptureTap::CaptureTap(unsigned short hatype, int ifindex)
    : hatype_(hatype), ifindex_(ifindex), published_(new RingSet) {}

CaptureTap::~CaptureTap() { delete published_.load(std::memory_order_acquire); }

void CaptureTap::publish(std::vector<std::shared_ptr<CaptureRing>> rings) {
  active_.store(!rings.empty(), std::memory_order_relaxed);
  const RingSet* old = published_.exchange(new RingSet{std::move(rings)}, std::memory_order_acq_rel);
  grace_.synchronize();
  delete old;
}

void CaptureTap::attach(std::shared_ptr<CaptureRing> ring) {
  std::lock_guard lock(mu_);
  rings_.push_back(std::move(ring));
  publish(rings_);
}

void CaptureTap::detach(const CaptureRing* ring) {
  std::lock_guard lock(mu_);
  std::erase_if(rings_, [ring](const auto& r) { return r.get() == ring; });
  publish(rings_);
}

void CaptureTap::put(std::span<const std::byte> frame, bool outgoing) {
  if (!active_.load(std::memory_order_relaxed)) return;
  TunGrace::Reader reader(grace_);
  const RingSet* set = published_.load(std::memory_order_acquire);
  if (set->rings.empty()) return;
  const bool ether = hatype_ == ARPHRD_ETHER;
  CapturedFrame c;
  c.bytes = frame;
  c.protocol = frame_protocol(frame, ether);
  c.hatype = hatype_;
  c.ifindex = ifindex_;
  c.pkttype = outgoing ? PACKET_OUTGOING : PACKET_HOST;
  if (ether && frame.size() >= ETH_HLEN) {
    const auto dest0 = std::to_integer<unsigned>(frame[0]);
    const bool broadcast = std::all_of(frame.begin(), frame.begin() + ETH_ALEN,
                                       [](std::byte b) { return b == std::byte{0xff}; });
    if (!outgoing && broadcast) c.pkttype = PACKET_BROADCAST;
    else if (!outgoing && (dest0 & 1)) c.pkttype = PACKET_MULTICAST;
    c.halen = ETH_ALEN;
    std::memcpy(c.addr, frame.data() + ETH_ALEN, ETH_ALEN);  // the source address
  }
  for (const auto& ring : set->rings) ring->put(c);
}

}  // namespace cusenet
