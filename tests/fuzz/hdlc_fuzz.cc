// The async PPP receive path (ldisc/hdlc.h) on line bytes from a peer:
// the portable and the AVX2 decoder must agree whatever arrives and however
// it is chunked; and a frame encoded by either path must decode to itself.
//
// Input: u8 options, u32 ACCM, u16 MRU, then the bytes.
//   options bit 0: SC_COMP_AC; bit 1: SC_COMP_PROT; bit 2: opening flag;
//   bits 4-7: the portable decoder's chunk size - 1.
#include <cstdlib>
#include <vector>

#include "ldisc/hdlc.h"
#include "tests/fuzz/fuzz_input.h"

namespace cusenet {
namespace {

struct Received {
  std::vector<std::vector<std::byte>> frames;
  std::vector<bool> after_error;
  std::vector<HdlcError> errors;
  bool operator==(const Received&) const = default;
};

void check(bool ok) {
  if (!ok) std::abort();
}

Received decode(HdlcDecoder& d, std::span<const std::byte> bytes, size_t chunk) {
  Received r;
  for (size_t at = 0; at < bytes.size(); at += chunk) {
    d.feed(
        bytes.subspan(at, std::min(chunk, bytes.size() - at)),
        [&](std::span<const std::byte> f, bool after_error) {
          r.frames.emplace_back(f.begin(), f.end());
          r.after_error.push_back(after_error);
        },
        [&](HdlcError e) { r.errors.push_back(e); });
  }
  return r;
}

// Decoded in chunks by the portable path and at once by the best one.
void differential(std::span<const std::byte> line, uint32_t raccm, int mru, size_t chunk) {
  HdlcDecoder portable(Simd::portable), best(simd_best());
  for (HdlcDecoder* d : {&portable, &best}) {
    d->set_mru(mru);
    d->set_raccm(raccm);
  }
  const Received a = decode(portable, line, chunk);
  const Received b = decode(best, line, line.size() ? line.size() : 1);
  check(a == b);
  check(portable.stats().frames == a.frames.size());
  check(portable.stats().errors() == a.errors.size());
  check(portable.rbits() == best.rbits());
}

// bytes made a frame with a valid protocol field (high byte even, low byte
// odd), encoded by each path, must come back alone and whole. 0x00ff is
// left out: compressed it is the byte 0xff, which the receiver takes for the
// address field when SC_COMP_AC dropped the real one (the kernel's too).
void round_trip(std::span<const std::byte> bytes, uint32_t accm, unsigned flags, bool opening) {
  std::vector<std::byte> frame(bytes.begin(), bytes.end());
  frame.resize(std::max<size_t>(frame.size(), 2));
  frame[0] &= std::byte{0xfe};
  frame[1] |= std::byte{0x01};
  if (frame[0] == std::byte{0} && frame[1] == std::byte{0xff}) frame[1] = std::byte{0x21};

  TxConfig config;
  config.accm.set_async_map(accm);
  config.flags = flags;
  std::vector<std::byte> portable(hdlc_max_encoded(frame.size())), best(portable.size());
  const size_t n = hdlc_encode(frame, config, opening, portable, Simd::portable);
  check(n > 0 && hdlc_encode(frame, config, opening, best, simd_best()) == n);
  check(std::equal(portable.begin(), portable.begin() + n, best.begin()));

  HdlcDecoder d(simd_best());
  d.set_mru(HdlcDecoder::kMaxMru);
  d.set_raccm(accm);
  const Received r = decode(d, std::span(portable).first(n), n);
  check(r.errors.empty() && r.frames.size() == 1 && r.frames[0] == frame);
}

}  // namespace
}  // namespace cusenet

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cusenet::fuzz::Input in(data, size);
  const auto options = in.take<uint8_t>();
  const auto accm = in.take<uint32_t>();
  const auto mru = in.take<uint16_t>();
  const auto bytes = in.rest();
  unsigned flags = 0;
  if (options & 1) flags |= SC_COMP_AC;
  if (options & 2) flags |= SC_COMP_PROT;
  cusenet::differential(bytes, accm, mru, (options >> 4) + 1u);
  cusenet::round_trip(bytes, accm, flags, options & 4);
  return 0;
}
