#include "engine/vj.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <vector>

#include "core/log.h"

namespace cusenet {
namespace {

// The change mask, the first octet of a compressed header (RFC 1144 3.2.2).
constexpr uint8_t kNewC = 0x40, kNewI = 0x20, kPushBit = 0x10;
constexpr uint8_t kNewS = 0x08, kNewA = 0x04, kNewW = 0x02, kNewU = 0x01;
// Change combinations that cannot occur, reused for the two common cases.
constexpr uint8_t kSpecialI = kNewS | kNewW | kNewU;          // echoed interactive traffic
constexpr uint8_t kSpecialD = kNewS | kNewA | kNewW | kNewU;  // unidirectional data
constexpr uint8_t kSpecialsMask = kSpecialD;

constexpr uint8_t kIpProtoTcp = 6;
constexpr size_t kIpHeader = 20, kTcpHeader = 20, kMaxHeader = 60;
constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08, kTcpAck = 0x10,
                  kTcpUrg = 0x20;
// Offsets in the IPv4 and TCP headers.
constexpr size_t kIpTos = 1, kIpTotLen = 2, kIpId = 4, kIpFragOff = 6, kIpTtl = 8, kIpProto = 9,
                 kIpCheck = 10, kIpAddrs = 12;
constexpr size_t kTcpPorts = 0, kTcpSeq = 4, kTcpAckSeq = 8, kTcpDoff = 12, kTcpFlags = 13,
                 kTcpWindow = 14, kTcpCheck = 16, kTcpUrgPtr = 18;

uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t get32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
  put16(p, static_cast<uint16_t>(v >> 16));
  put16(p + 2, static_cast<uint16_t>(v));
}

size_t ip_hlen(const uint8_t* ip) { return static_cast<size_t>(ip[0] & 0x0f) * 4; }
size_t tcp_hlen(const uint8_t* th) { return static_cast<size_t>(th[kTcpDoff] >> 4) * 4; }

// The IPv4 header checksum over len bytes: 0 for a header whose checksum
// field is right (ip_fast_csum).
uint16_t ip_checksum(const uint8_t* p, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += get16(p + i);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// RFC 1144's variable-length delta: one octet for 1..255, else 0 and two
// octets (so 0 itself takes three).
uint8_t* encode(uint8_t* cp, uint16_t n) {
  if (n == 0 || n >= 256) {
    *cp++ = 0;
    put16(cp, n);
    return cp + 2;
  }
  *cp++ = static_cast<uint8_t>(n);
  return cp;
}

// Reads a delta from [cp, end); false when the header is cut short.
bool decode(const uint8_t*& cp, const uint8_t* end, uint32_t* n) {
  if (cp >= end) return false;
  if (*cp != 0) {
    *n = *cp++;
    return true;
  }
  if (end - cp < 3) return false;
  *n = get16(cp + 1);
  cp += 3;
  return true;
}

// The headers (options included) of the last packet of one connection.
struct Cstate {
  uint8_t id = 0;            // transmit: this slot's connection id
  uint8_t next = 0;          // transmit: the next slot in the least-recently-used ring
  bool initialized = false;  // receive: filled by an uncompressed packet
  std::array<uint8_t, kMaxHeader> ip{};
  std::array<uint8_t, kMaxHeader> tcp{};
};

// Packet copies allow out to be in itself (an in-place conversion).
void move_bytes(uint8_t* to, const uint8_t* from, size_t n) {
  if (n) std::memmove(to, from, n);
}

void count(std::atomic<uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }

}  // namespace

// Transmit fields are touched only by compress(), receive fields only by
// uncompress()/remember()/toss(), so the two directions may run on
// different threads as they do under ppp_generic's xmit and recv locks.
struct VjCompression::State {
  std::vector<Cstate> tx, rx;
  uint8_t xmit_oldest = 0;
  uint8_t xmit_current = 255;  // no valid id yet: the first packet carries its id
  uint8_t recv_current = 255;
  bool toss = true;  // nothing to apply an implicit id to until an explicit one arrives

  std::atomic<uint64_t> o_compressed{0}, o_uncompressed{0}, o_searches{0}, o_misses{0};
  std::atomic<uint64_t> i_uncompressed{0}, i_compressed{0}, i_error{0}, i_tossed{0};

  uint16_t compress(const uint8_t* icp, size_t isize, uint8_t* ocp, size_t* len, bool compress_cid);
  uint16_t send_uncompressed(Cstate& cs, const uint8_t* icp, size_t isize, uint8_t* ocp,
                             size_t* len);
  int uncompress(const uint8_t* icp, size_t isize, uint8_t* ocp, size_t osize);
  int remember(const uint8_t* icp, size_t isize, uint8_t* ocp, size_t osize);
  int error() {
    count(i_error);
    toss = true;
    return -1;
  }
};

VjCompression::VjCompression(int rx_slots, int tx_slots) : state_(new State) {
  state_->rx.resize(static_cast<size_t>(std::clamp(rx_slots, 0, 255)));
  state_->tx.resize(static_cast<size_t>(std::clamp(tx_slots, 0, 255)));
  auto& tx = state_->tx;
  // A ring in which slot 0 is the oldest and the last slot the newest.
  for (size_t i = 0; i < tx.size(); ++i) {
    tx[i].id = static_cast<uint8_t>(i);
    tx[i].next = static_cast<uint8_t>(i == 0 ? tx.size() - 1 : i - 1);
  }
}

VjCompression::~VjCompression() { delete state_; }

uint16_t VjCompression::compress(std::span<const std::byte> ip, std::span<std::byte> out,
                                 size_t* len, bool compress_cid) {
  if (out.size() < ip.size()) {
    CN_LOG_LIMITED(ppp, warning, 0) << "VJ compress: " << out.size() << "-byte buffer for a " << ip.size()
                         << "-byte packet";
    *len = 0;
    return kPppIp;
  }
  return state_->compress(reinterpret_cast<const uint8_t*>(ip.data()), ip.size(),
                          reinterpret_cast<uint8_t*>(out.data()), len, compress_cid);
}

uint16_t VjCompression::State::compress(const uint8_t* icp, size_t isize, uint8_t* ocp, size_t* len,
                                        bool compress_cid) {
  auto as_ip = [&] {
    move_bytes(ocp, icp, isize);
    *len = isize;
    return kPppIp;
  };
  if (tx.empty() || isize < kIpHeader) return as_ip();
  if ((icp[0] >> 4) != 4 || (icp[0] & 0x0f) < 5) return as_ip();
  // Only unfragmented TCP.
  if (icp[kIpProto] != kIpProtoTcp || (get16(icp + kIpFragOff) & 0x3fff)) return as_ip();
  const size_t nlen = ip_hlen(icp);
  if (isize < nlen + kTcpHeader) return as_ip();
  const uint8_t* th = icp + nlen;
  if (tcp_hlen(th) < kTcpHeader) return as_ip();
  const size_t hlen = nlen + tcp_hlen(th);
  const uint8_t flags = th[kTcpFlags];
  // Connection set-up and tear-down go as plain IP.
  if (hlen > isize || (flags & (kTcpSyn | kTcpFin | kTcpRst)) || !(flags & kTcpAck)) return as_ip();

  // Find the connection's slot, most recently used first; the slot after
  // the oldest is the newest.
  const uint8_t ocs = xmit_oldest;
  uint8_t lcs = ocs, cs = tx[ocs].next;
  bool found = false;
  for (;;) {
    const Cstate& c = tx[cs];
    if (std::memcmp(icp + kIpAddrs, c.ip.data() + kIpAddrs, 8) == 0 &&
        std::memcmp(th + kTcpPorts, c.tcp.data() + kTcpPorts, 4) == 0) {
      found = true;
      break;
    }
    if (cs == ocs) break;
    lcs = cs;
    cs = tx[cs].next;
    count(o_searches);
  }
  if (!found) {
    // Reuse the oldest slot, which becomes the newest.
    count(o_misses);
    xmit_oldest = lcs;
    return send_uncompressed(tx[cs], icp, isize, ocp, len);
  }
  if (lcs == ocs) {
    // Already the most recently used.
  } else if (cs == ocs) {
    xmit_oldest = lcs;
  } else {
    tx[lcs].next = tx[cs].next;
    tx[cs].next = tx[ocs].next;
    tx[ocs].next = cs;
  }

  Cstate& c = tx[cs];
  const uint8_t* oip = c.ip.data();
  const uint8_t* oth = c.tcp.data();
  // Anything that is not expected to change must not have.
  if (icp[0] != oip[0] || icp[kIpTos] != oip[kIpTos] ||
      (icp[kIpFragOff] & 0x40) != (oip[kIpFragOff] & 0x40) || icp[kIpTtl] != oip[kIpTtl] ||
      (th[kTcpDoff] >> 4) != (oth[kTcpDoff] >> 4) ||
      std::memcmp(icp + kIpHeader, oip + kIpHeader, nlen - kIpHeader) != 0 ||
      std::memcmp(th + kTcpHeader, oth + kTcpHeader, tcp_hlen(th) - kTcpHeader) != 0)
    return send_uncompressed(c, icp, isize, ocp, len);

  // The receiver expects the deltas in this order: urgent, window, ack, seq.
  std::array<uint8_t, 16> new_seq;
  uint8_t* cp = new_seq.data();
  uint8_t changes = 0;
  if (flags & kTcpUrg) {
    cp = encode(cp, get16(th + kTcpUrgPtr));
    changes |= kNewU;
  } else if (get16(th + kTcpUrgPtr) != get16(oth + kTcpUrgPtr)) {
    // An urgent pointer changing without URG is legal but not encodable.
    return send_uncompressed(c, icp, isize, ocp, len);
  }
  if (const int dw = get16(th + kTcpWindow) - get16(oth + kTcpWindow); dw != 0) {
    cp = encode(cp, static_cast<uint16_t>(dw));
    changes |= kNewW;
  }
  const uint32_t delta_a = get32(th + kTcpAckSeq) - get32(oth + kTcpAckSeq);
  if (delta_a != 0) {
    if (delta_a > 0xffff) return send_uncompressed(c, icp, isize, ocp, len);
    cp = encode(cp, static_cast<uint16_t>(delta_a));
    changes |= kNewA;
  }
  const uint32_t delta_s = get32(th + kTcpSeq) - get32(oth + kTcpSeq);
  if (delta_s != 0) {
    if (delta_s > 0xffff) return send_uncompressed(c, icp, isize, ocp, len);
    cp = encode(cp, static_cast<uint16_t>(delta_s));
    changes |= kNewS;
  }

  // The previous packet's data length, which the special cases imply.
  const int64_t last_data = int64_t{get16(oip + kIpTotLen)} - static_cast<int64_t>(hlen);
  switch (changes) {
    case 0:
      // Nothing changed: data after a pure ack (interactive traffic) goes
      // compressed; anything else looks like a retransmission, which goes
      // uncompressed in case the peer lost the compressed original.
      if (get16(icp + kIpTotLen) != get16(oip + kIpTotLen) && last_data == 0) break;
      return send_uncompressed(c, icp, isize, ocp, len);
    case kSpecialI:
    case kSpecialD: return send_uncompressed(c, icp, isize, ocp, len);
    case kNewS | kNewA:
      if (delta_s == delta_a && last_data >= 0 && delta_s == last_data) {
        changes = kSpecialI;
        cp = new_seq.data();
      }
      break;
    case kNewS:
      if (last_data >= 0 && delta_s == last_data) {
        changes = kSpecialD;
        cp = new_seq.data();
      }
      break;
    default: break;
  }
  // The id difference as slhc computes it: a wrap to one below is sent
  // explicitly even though it equals +1 modulo 2^16.
  if (const int di = get16(icp + kIpId) - get16(oip + kIpId); di != 1) {
    cp = encode(cp, static_cast<uint16_t>(di));
    changes |= kNewI;
  }
  if (flags & kTcpPsh) changes |= kPushBit;

  std::copy_n(icp, kIpHeader, c.ip.data());
  std::copy_n(th, kTcpHeader, c.tcp.data());
  const size_t deltas = static_cast<size_t>(cp - new_seq.data());
  uint8_t* op = ocp;
  if (!compress_cid || xmit_current != c.id) {
    *op++ = changes | kNewC;
    *op++ = c.id;
    xmit_current = c.id;
  } else {
    *op++ = changes;
  }
  *op++ = th[kTcpCheck];
  *op++ = th[kTcpCheck + 1];
  op = std::copy_n(new_seq.data(), deltas, op);
  move_bytes(op, icp + hlen, isize - hlen);
  count(o_compressed);
  *len = static_cast<size_t>(op - ocp) + isize - hlen;
  return kPppVjcComp;
}

// The packet as it is, its protocol field replaced by the connection id,
// which tells the peer which slot to store the headers in.
uint16_t VjCompression::State::send_uncompressed(Cstate& cs, const uint8_t* icp, size_t isize,
                                                 uint8_t* ocp, size_t* len) {
  const size_t nlen = ip_hlen(icp);
  std::copy_n(icp, nlen, cs.ip.data());
  std::copy_n(icp + nlen, tcp_hlen(icp + nlen), cs.tcp.data());
  xmit_current = cs.id;
  count(o_uncompressed);
  move_bytes(ocp, icp, isize);
  ocp[kIpProto] = cs.id;
  *len = isize;
  return kPppVjcUncomp;
}

int VjCompression::uncompress(std::span<const std::byte> in, std::span<std::byte> out) {
  return state_->uncompress(reinterpret_cast<const uint8_t*>(in.data()), in.size(),
                            reinterpret_cast<uint8_t*>(out.data()), out.size());
}

int VjCompression::State::uncompress(const uint8_t* icp, size_t isize, uint8_t* ocp, size_t osize) {
  count(i_compressed);
  if (isize < 3) {
    // Too short to be anything; slhc counts it without tossing.
    count(i_error);
    return -1;
  }
  const uint8_t* cp = icp;
  const uint8_t* const end = icp + isize;
  const uint8_t changes = *cp++;
  if (changes & kNewC) {
    const uint8_t x = *cp++;
    if (x >= rx.size() || !rx[x].initialized) {
      CN_LOG(ppp, debug) << "VJ: compressed packet for unknown connection " << int{x};
      return error();
    }
    toss = false;
    recv_current = x;
  } else if (toss) {
    count(i_tossed);
    return -1;
  }
  // Work on a copy so that a packet cut short leaves the slot as it was.
  Cstate cs = rx[recv_current];
  uint8_t* ip = cs.ip.data();
  uint8_t* th = cs.tcp.data();
  if (end - cp < 2) return error();
  th[kTcpCheck] = *cp++;
  th[kTcpCheck + 1] = *cp++;
  th[kTcpFlags] =
      static_cast<uint8_t>((th[kTcpFlags] & ~kTcpPsh) | ((changes & kPushBit) ? kTcpPsh : 0));

  const size_t hdrlen = ip_hlen(ip) + tcp_hlen(th);
  uint32_t x = 0;
  switch (changes & kSpecialsMask) {
    case kSpecialI: {
      // slhc keeps this length in a short: data over 32767 bytes wraps.
      const auto i = static_cast<int16_t>(get16(ip + kIpTotLen) - hdrlen);
      put32(th + kTcpAckSeq, get32(th + kTcpAckSeq) + static_cast<uint32_t>(int32_t{i}));
      put32(th + kTcpSeq, get32(th + kTcpSeq) + static_cast<uint32_t>(int32_t{i}));
      break;
    }
    case kSpecialD:
      put32(th + kTcpSeq,
            get32(th + kTcpSeq) + get16(ip + kIpTotLen) - static_cast<uint32_t>(hdrlen));
      break;
    default:
      if (changes & kNewU) {
        if (!decode(cp, end, &x)) return error();
        th[kTcpFlags] |= kTcpUrg;
        put16(th + kTcpUrgPtr, static_cast<uint16_t>(x));
      } else {
        th[kTcpFlags] &= static_cast<uint8_t>(~kTcpUrg);
      }
      if (changes & kNewW) {
        if (!decode(cp, end, &x)) return error();
        put16(th + kTcpWindow, static_cast<uint16_t>(get16(th + kTcpWindow) + x));
      }
      if (changes & kNewA) {
        if (!decode(cp, end, &x)) return error();
        put32(th + kTcpAckSeq, get32(th + kTcpAckSeq) + x);
      }
      if (changes & kNewS) {
        if (!decode(cp, end, &x)) return error();
        put32(th + kTcpSeq, get32(th + kTcpSeq) + x);
      }
      break;
  }
  if (changes & kNewI) {
    if (!decode(cp, end, &x)) return error();
  } else {
    x = 1;
  }
  put16(ip + kIpId, static_cast<uint16_t>(get16(ip + kIpId) + x));

  const size_t data = static_cast<size_t>(end - cp);
  const size_t total = hdrlen + data;
  if (total > osize) {
    CN_LOG_LIMITED(ppp, warning, 0) << "VJ uncompress: " << osize << "-byte buffer for a " << total
                         << "-byte packet";
    return -1;
  }
  put16(ip + kIpTotLen, static_cast<uint16_t>(total));
  put16(ip + kIpCheck, 0);
  put16(ip + kIpCheck, ip_checksum(ip, ip_hlen(ip)));
  rx[recv_current] = cs;

  move_bytes(ocp + hdrlen, cp, data);
  std::copy_n(ip, ip_hlen(ip), ocp);
  std::copy_n(th, tcp_hlen(th), ocp + ip_hlen(ip));
  return static_cast<int>(total);
}

int VjCompression::remember(std::span<const std::byte> in, std::span<std::byte> out) {
  return state_->remember(reinterpret_cast<const uint8_t*>(in.data()), in.size(),
                          reinterpret_cast<uint8_t*>(out.data()), out.size());
}

int VjCompression::State::remember(const uint8_t* icp, size_t isize, uint8_t* ocp, size_t osize) {
  if (osize < isize) {
    CN_LOG_LIMITED(ppp, warning, 0) << "VJ remember: " << osize << "-byte buffer for a " << isize
                         << "-byte packet";
    return -1;
  }
  // Runts and bad checksums toss without counting an error, as slhc does.
  if (isize < kIpHeader) {
    toss = true;
    return -1;
  }
  const size_t ihl = ip_hlen(icp);
  if (ihl < kIpHeader || isize < ihl + kTcpHeader) {
    toss = true;
    return -1;
  }
  move_bytes(ocp, icp, isize);
  const uint8_t index = ocp[kIpProto];
  ocp[kIpProto] = kIpProtoTcp;
  if (ip_checksum(ocp, ihl) != 0) {
    CN_LOG(ppp, debug) << "VJ: uncompressed packet with a bad IP header checksum";
    toss = true;
    return -1;
  }
  if (index >= rx.size()) {
    CN_LOG(ppp, debug) << "VJ: uncompressed packet for connection " << int{index} << " of "
                       << rx.size();
    return error();
  }
  const uint8_t* th = ocp + ihl;
  if (tcp_hlen(th) < kTcpHeader || isize < ihl + tcp_hlen(th)) {
    toss = true;
    return -1;
  }
  recv_current = index;
  toss = false;
  Cstate& cs = rx[index];
  std::copy_n(ocp, ihl, cs.ip.data());
  std::copy_n(th, tcp_hlen(th), cs.tcp.data());
  cs.initialized = true;
  count(i_uncompressed);
  return static_cast<int>(isize);
}

void VjCompression::toss() { state_->toss = true; }

VjCompression::Stats VjCompression::stats() const {
  const State& s = *state_;
  auto get = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  Stats st;
  st.out_packets = get(s.o_compressed) + get(s.o_uncompressed);
  st.out_compressed = get(s.o_compressed);
  st.out_searches = get(s.o_searches);
  st.out_misses = get(s.o_misses);
  st.in_uncompressed = get(s.i_uncompressed);
  st.in_compressed = get(s.i_compressed);
  st.in_errors = get(s.i_error);
  st.in_tossed = get(s.i_tossed);
  return st;
}

}  // namespace cusenet
