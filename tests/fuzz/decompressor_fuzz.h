#pragma once
// One CCP method (engine/compressor.h) receiving a peer's frames as
// Ccp::decompress hands them over: PPP_COMP frames into an MRU-sized
// buffer, the other frames as history (incomp), resets from CCP
// Reset-Ack; and, beside it, a compressor and decompressor pair fed the
// same bytes, which must give each frame back.
//
// Input: u8 method parameter (to options()), u16 MRU, then records of u8 op
// (% 4: 0 PPP_COMP data, 1 uncompressed frame, 2 reset, 3 round trip),
// u16 length, bytes.
#include <cstdlib>
#include <vector>

#include "engine/compressor.h"
#include "tests/fuzz/fuzz_input.h"

namespace cusenet::fuzz {

inline void check(bool ok) {
  if (!ok) std::abort();
}

// protocol, then bytes.
inline std::vector<std::byte> with_protocol(uint16_t protocol, std::span<const std::byte> bytes) {
  std::vector<std::byte> f{std::byte(protocol >> 8), std::byte(protocol & 0xff)};
  f.insert(f.end(), bytes.begin(), bytes.end());
  return f;
}

// options: the CCP option for a parameter byte.
inline int fuzz_decompressor(const uint8_t* data, size_t size,
                             std::vector<uint8_t> (*options)(uint8_t parameter)) {
  Input in(data, size);
  const std::vector<uint8_t> o = options(in.take<uint8_t>());
  const int mru = in.take<uint16_t>();
  auto peer = make_decompressor(o), rx = make_decompressor(o);
  auto tx = make_compressor(o);
  check(peer && rx && tx);
  check(peer->init(o, 0, mru, 0) && rx->init(o, 0, 0xffff, 0) && tx->init(o, 0, 0));
  std::vector<std::byte> out, wire;
  while (!in.empty()) {
    const auto op = in.take<uint8_t>() % 4;
    const auto bytes = in.bytes(in.take<uint16_t>());
    if (op == 0) {
      out.assign(static_cast<size_t>(mru) + 2, std::byte{0});
      const int n = peer->decompress(with_protocol(kPppCompressed, bytes), out);
      check(n == Decompressor::kError || n == Decompressor::kFatalError ||
            (n >= 0 && static_cast<size_t>(n) <= out.size()));
    } else if (op == 1) {
      // Ccp::decompress hands every frame but PPP_COMP to incomp.
      const auto frame = with_protocol(0x0021, bytes);
      peer->incomp(frame);
    } else if (op == 2) {
      peer->reset();
    } else {
      const auto frame = with_protocol(0x0021, bytes);
      wire.assign(frame.size() + 128, std::byte{0});
      const size_t n = tx->compress(frame, wire);
      check(n <= wire.size());
      if (n == 0) {
        rx->incomp(frame);
        continue;
      }
      out.assign(0xffff + 2, std::byte{0});
      const int got = rx->decompress(std::span(wire).first(n), out);
      check(got == static_cast<int>(frame.size()) &&
            std::equal(frame.begin(), frame.end(), out.begin()));
    }
  }
  return 0;
}

}  // namespace cusenet::fuzz
