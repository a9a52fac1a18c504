#include "netdev/tun_flow.h"

#include <linux/if_ether.h>
#include <netinet/in.h>

#include <algorithm>
#include <chrono>
#include <cstring>

namespace cusenet {
namespace {

uint16_t be16(std::span<const std::byte> b, size_t at) {
  return static_cast<uint16_t>(std::to_integer<unsigned>(b[at]) << 8 |
                               std::to_integer<unsigned>(b[at + 1]));
}

bool has_ports(unsigned proto) {
  return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE ||
         proto == IPPROTO_SCTP || proto == IPPROTO_DCCP;
}

class Mixer {
 public:
  void add(uint64_t v) { h_ = (h_ ^ v) * 0x100000001b3ull; }
  void add(std::span<const std::byte> b) {
    for (std::byte x : b) add(std::to_integer<uint64_t>(x));
  }
  // murmur3's finalizer, so the high bits (what picks the queue) are mixed.
  uint32_t finish() const {
    uint64_t h = h_;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return static_cast<uint32_t>(h >> 32);
  }

 private:
  uint64_t h_ = 0xcbf29ce484222325ull;
};

// Orders the endpoints as __flow_hash_consistentify does, so that a reply
// hashes like its request.
uint32_t hash_endpoints(uint16_t l3, std::span<const std::byte> src, std::span<const std::byte> dst,
                        unsigned l4, uint16_t sport, uint16_t dport) {
  int order = std::memcmp(src.data(), dst.data(), src.size());
  if (order > 0 || (order == 0 && sport > dport)) {
    std::swap(src, dst);
    std::swap(sport, dport);
  }
  Mixer m;
  m.add(l3);
  m.add(src);
  m.add(dst);
  m.add(l4);
  m.add(uint64_t{sport} << 16 | dport);
  return m.finish();
}

// Entries keep their age in 16 bits of 64 ms ticks: plenty for a 3 s expiry.
constexpr unsigned kTickMs = 64;

uint64_t now_ticks() {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
  return static_cast<uint64_t>(ms) / kTickMs;
}

}  // namespace

uint32_t tun_flow_hash(std::span<const std::byte> frame, bool tap) {
  size_t off = 0;
  uint16_t l3;
  if (tap) {
    if (frame.size() < ETH_HLEN) return 0;
    l3 = be16(frame, 12);
    off = ETH_HLEN;
    if ((l3 == ETH_P_8021Q || l3 == ETH_P_8021AD) && frame.size() >= off + 4) {
      l3 = be16(frame, off + 2);
      off += 4;
    }
  } else {
    if (frame.empty()) return 0;
    unsigned version = std::to_integer<unsigned>(frame[0]) >> 4;
    l3 = version == 4 ? ETH_P_IP : version == 6 ? ETH_P_IPV6 : 0;
  }
  auto ip = frame.subspan(off);
  uint16_t sport = 0, dport = 0;
  if (l3 == ETH_P_IP && ip.size() >= 20) {
    size_t ihl = (std::to_integer<size_t>(ip[0]) & 0xf) * 4;
    unsigned l4 = std::to_integer<unsigned>(ip[9]);
    // Fragments carry no ports past the first; the kernel leaves ports out
    // of every fragment so that all of a datagram hashes alike.
    bool fragment = be16(ip, 6) & 0x3fff;
    if (!fragment && has_ports(l4) && ihl >= 20 && ip.size() >= ihl + 4) {
      sport = be16(ip, ihl);
      dport = be16(ip, ihl + 2);
    }
    return hash_endpoints(l3, ip.subspan(12, 4), ip.subspan(16, 4), l4, sport, dport);
  }
  if (l3 == ETH_P_IPV6 && ip.size() >= 40) {
    unsigned l4 = std::to_integer<unsigned>(ip[6]);
    if (has_ports(l4) && ip.size() >= 44) {
      sport = be16(ip, 40);
      dport = be16(ip, 42);
    }
    return hash_endpoints(l3, ip.subspan(8, 16), ip.subspan(24, 16), l4, sport, dport);
  }
  Mixer m;
  m.add(l3);
  return m.finish();
}

int TunFlowTable::lookup(uint32_t hash, unsigned numqueues) const {
  uint64_t e = entries_[hash % kEntries].load(std::memory_order_relaxed);
  unsigned queue_plus_one = (e >> 16) & 0xffff;
  uint16_t age = static_cast<uint16_t>(now_ticks() - (e & 0xffff));
  if (!queue_plus_one || (e >> 32) != hash || age * kTickMs >= kExpireMs) return -1;
  if (queue_plus_one > numqueues) return -1;
  return static_cast<int>(queue_plus_one - 1);
}

void TunFlowTable::update(uint32_t hash, unsigned queue) {
  uint64_t e = uint64_t{hash} << 32 | uint64_t{(queue + 1) & 0xffff} << 16 | (now_ticks() & 0xffff);
  entries_[hash % kEntries].store(e, std::memory_order_relaxed);
}

void TunFlowTable::clear() {
  for (auto& e : entries_) e.store(0, std::memory_order_relaxed);
}

}  // namespace cusenet
