#pragma once
// Van Jacobson TCP/IP header compression (RFC 1144), as the kernel's slhc
// used by ppp_generic for SC_COMP_TCP: PPP_VJC_COMP (0x2d) and PPP_VJC_UNCOMP
// (0x2f) frames. One object holds both directions' connection slots.
#include <cstddef>
#include <cstdint>
#include <span>

namespace cusenet {

constexpr uint16_t kPppIp = 0x0021;
constexpr uint16_t kPppVjcComp = 0x002d;
constexpr uint16_t kPppVjcUncomp = 0x002f;

class VjCompression {
 public:
  // rx_slots / tx_slots: connection ids (MAX_CID + 1), 1..255 (PPPIOCSMAXCID).
  VjCompression(int rx_slots, int tx_slots);
  ~VjCompression();
  VjCompression(const VjCompression&) = delete;
  VjCompression& operator=(const VjCompression&) = delete;

  // ip: an IPv4 packet. Writes the packet to send into out and returns the
  // PPP protocol to send it with (kPppIp unchanged, kPppVjcUncomp or
  // kPppVjcComp) and its length in *len. compress_cid: omit the connection
  // id when unchanged (!SC_NO_TCP_CCID).
  uint16_t compress(std::span<const std::byte> ip, std::span<std::byte> out, size_t* len,
                    bool compress_cid);
  // A received PPP_VJC_COMP payload: rebuilds the IPv4 packet into out and
  // returns its length, or -1 (toss until the next uncompressed/explicit-cid
  // frame, as slhc does).
  int uncompress(std::span<const std::byte> in, std::span<std::byte> out);
  // A received PPP_VJC_UNCOMP payload: remembers the connection state and
  // rewrites it as a plain IPv4 packet into out; length or -1.
  int remember(std::span<const std::byte> in, std::span<std::byte> out);
  // A frame was lost (bad FCS upstream): toss compressed frames until resync.
  void toss();

  struct Stats {
    uint64_t out_packets = 0, out_compressed = 0, out_searches = 0, out_misses = 0;
    uint64_t in_uncompressed = 0, in_compressed = 0, in_errors = 0, in_tossed = 0;
  };
  Stats stats() const;

 private:
  struct State;
  State* state_;
};

}  // namespace cusenet
