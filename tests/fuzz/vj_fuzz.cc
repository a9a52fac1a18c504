// Van Jacobson decompression (engine/vj.h) on frames from a peer, as
// Unit::vj_uncompress calls it: PPP_VJC_COMP and PPP_VJC_UNCOMP payloads in
// any order, losses, and the compressor on what the stack sends, which
// shares the slots' code.
//
// Input: u8 receive slots, u8 transmit slots, then records of u8 op (% 4:
// 0 compressed, 1 uncompressed, 2 lost frame, 3 send, with bit 2 for
// !SC_NO_TCP_CCID), u16 length, payload.
#include <cstdlib>
#include <vector>

#include "engine/vj.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

// What Unit::vj_uncompress gives the rebuilt packet: the frame plus the
// largest header growth (a full TCP/IP header out of a 3-byte one).
constexpr size_t kGrowth = 128;

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cusenet::fuzz::Input in(data, size);
  const int rx_slots = in.take<uint8_t>() % 255 + 1;
  const int tx_slots = in.take<uint8_t>() % 255 + 1;
  cusenet::VjCompression vj(rx_slots, tx_slots);
  std::vector<std::byte> out;
  while (!in.empty()) {
    const auto op = in.take<uint8_t>();
    const int kind = op % 4;
    const auto payload = in.bytes(in.take<uint16_t>());
    out.assign(payload.size() + kGrowth, std::byte{0});
    if (kind == 0) {
      const int n = vj.uncompress(payload, out);
      check(n <= static_cast<int>(out.size()));
    } else if (kind == 1) {
      const int n = vj.remember(payload, out);
      check(n <= static_cast<int>(out.size()));
    } else if (kind == 2) {
      vj.toss();
    } else {
      size_t len = 0;
      out.resize(payload.size());
      const uint16_t proto = vj.compress(payload, out, &len, op & 4);
      check(proto == cusenet::kPppIp || len <= out.size());
    }
  }
  return 0;
}
