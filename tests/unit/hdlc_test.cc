#include "ldisc/hdlc.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "ldisc/fcs16.h"

namespace cusenet {
namespace {

using Bytes = std::vector<uint8_t>;

std::span<const std::byte> as_span(const Bytes& b) { return std::as_bytes(std::span(b)); }

// Bit at a time, straight from RFC 1662's definition: the oracle for the
// table and folding implementations.
uint16_t fcs_bitwise(uint16_t fcs, const Bytes& data) {
  for (uint8_t b : data) {
    fcs ^= b;
    for (int i = 0; i < 8; ++i) fcs = (fcs & 1) ? (fcs >> 1) ^ 0x8408 : fcs >> 1;
  }
  return fcs;
}

Bytes encode(const Bytes& frame, const TxConfig& config, bool opening_flag,
             Simd simd = simd_best()) {
  std::vector<std::byte> out(hdlc_max_encoded(frame.size()));
  const size_t n = hdlc_encode(as_span(frame), config, opening_flag, out, simd);
  EXPECT_GT(n, 0u);
  Bytes r(n);
  std::memcpy(r.data(), out.data(), n);
  return r;
}

struct Received {
  std::vector<Bytes> frames;
  std::vector<bool> after_error;
  std::vector<HdlcError> errors;
  bool operator==(const Received&) const = default;
};

void feed(HdlcDecoder& d, const Bytes& bytes, Received& r) {
  d.feed(
      as_span(bytes),
      [&](std::span<const std::byte> f, bool after_error) {
        const auto* p = reinterpret_cast<const uint8_t*>(f.data());
        r.frames.emplace_back(p, p + f.size());
        r.after_error.push_back(after_error);
      },
      [&](HdlcError e) { r.errors.push_back(e); });
}

Received decode(const Bytes& bytes, Simd simd = simd_best(), int mru = PPP_MRU,
                uint32_t raccm = ~0u) {
  HdlcDecoder d(simd);
  d.set_mru(mru);
  d.set_raccm(raccm);
  Received r;
  feed(d, bytes, r);
  return r;
}

Bytes operator+(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A frame with a valid PPP protocol (first byte even, last odd) and payload.
Bytes random_frame(std::mt19937& rng, uint16_t protocol, size_t payload) {
  Bytes f{static_cast<uint8_t>(protocol >> 8), static_cast<uint8_t>(protocol)};
  for (size_t i = 0; i < payload; ++i) f.push_back(static_cast<uint8_t>(rng()));
  return f;
}

uint16_t random_protocol(std::mt19937& rng) {
  static const uint16_t kProtocols[] = {0x0021, 0x0057, 0x002d, 0x002f, 0x00fd,
                                        0x8021, 0x80fd, 0xc023, 0xc223};
  return kProtocols[rng() % std::size(kProtocols)];
}

bool avx2_available() { return simd_best() == Simd::avx2; }

// ---------------------------------------------------------------- FCS-16

TEST(Fcs16, CheckValueOf123456789) {
  const std::string s = "123456789";
  const Bytes b(s.begin(), s.end());
  for (Simd simd : {Simd::portable, Simd::avx2}) {
    EXPECT_EQ(static_cast<uint16_t>(~fcs16(PPP_INITFCS, as_span(b), simd)), 0x906e);
  }
}

TEST(Fcs16, FrameWithItsFcsLeavesGoodFcs) {
  Bytes frame{0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x04};
  const uint16_t fcs = static_cast<uint16_t>(~fcs16(PPP_INITFCS, as_span(frame)));
  frame.push_back(static_cast<uint8_t>(fcs));
  frame.push_back(static_cast<uint8_t>(fcs >> 8));
  EXPECT_EQ(fcs16(PPP_INITFCS, as_span(frame)), PPP_GOODFCS);
  EXPECT_EQ(PPP_GOODFCS, 0xf0b8);
}

TEST(Fcs16, PortableAndFoldedMatchBitwiseOverLengthsAndStarts) {
  if (!avx2_available()) GTEST_SKIP() << "CPU lacks AVX2/PCLMULQDQ: only the portable path exists";
  std::mt19937 rng(1);
  for (size_t n = 0; n < 700; ++n) {
    Bytes b(n);
    for (auto& c : b) c = static_cast<uint8_t>(rng());
    const auto start = static_cast<uint16_t>(rng());
    const uint16_t want = fcs_bitwise(start, b);
    ASSERT_EQ(fcs16(start, as_span(b), Simd::portable), want) << n;
    ASSERT_EQ(fcs16(start, as_span(b), Simd::avx2), want) << n;
  }
  Bytes big(65536 + 17);
  for (auto& c : big) c = static_cast<uint8_t>(rng());
  EXPECT_EQ(fcs16(PPP_INITFCS, as_span(big), Simd::avx2), fcs_bitwise(PPP_INITFCS, big));
}

// -------------------------------------------------------------- encoding

// LCP Configure-Request id 1: ACCM 0, magic 0x12345678.
const Bytes kConfReq{0xc0, 0x21, 0x01, 0x01, 0x00, 0x0e, 0x02, 0x06, 0x00,
                     0x00, 0x00, 0x00, 0x05, 0x06, 0x12, 0x34, 0x56, 0x78};
// Its encoding by hand: flag, address, escaped control, escaped controls of
// the packet, FCS 0x9af2 least significant byte first, flag.
const Bytes kConfReqEncoded{0x7e, 0xff, 0x7d, 0x23, 0xc0, 0x21, 0x7d, 0x21, 0x7d, 0x21,
                            0x7d, 0x20, 0x7d, 0x2e, 0x7d, 0x22, 0x7d, 0x26, 0x7d, 0x20,
                            0x7d, 0x20, 0x7d, 0x20, 0x7d, 0x20, 0x7d, 0x25, 0x7d, 0x26,
                            0x7d, 0x32, 0x34, 0x56, 0x78, 0xf2, 0x9a, 0x7e};

TEST(HdlcEncode, LcpConfigureRequestByHand) {
  for (Simd simd : {Simd::portable, Simd::avx2}) {
    TxConfig config;
    EXPECT_EQ(encode(kConfReq, config, true, simd), kConfReqEncoded);
    // Negotiated options do not apply to LCP configuration packets: still
    // a flag, address/control, and every control character escaped.
    config.flags = SC_COMP_AC | SC_COMP_PROT;
    config.accm.set_async_map(0);
    EXPECT_EQ(encode(kConfReq, config, false, simd), kConfReqEncoded);
  }
}

TEST(HdlcEncode, LcpOutsideCodes1To7UsesNegotiatedOptions) {
  // Echo-Request (code 9) with A/C compression and ACCM 0.
  const Bytes echo{0xc0, 0x21, 0x09, 0x02, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01};
  TxConfig config;
  config.flags = SC_COMP_AC | SC_COMP_PROT;
  config.accm.set_async_map(0);
  const Bytes out = encode(echo, config, false);
  Bytes body(echo);
  const uint16_t fcs = static_cast<uint16_t>(~fcs_bitwise(PPP_INITFCS, body));
  body.push_back(static_cast<uint8_t>(fcs));
  body.push_back(static_cast<uint8_t>(fcs >> 8));
  Bytes want;
  for (uint8_t c : body) {
    if (c == 0x7d || c == 0x7e) {
      want.push_back(0x7d);
      want.push_back(c ^ 0x20);
    } else {
      want.push_back(c);
    }
  }
  want.push_back(0x7e);
  EXPECT_EQ(out, want);
}

TEST(HdlcEncode, IpFrameWithBothCompressionsByHand) {
  const Bytes ip{0x00, 0x21, 0x45, 0x00, 0x7e, 0x7d, 0x11};
  TxConfig config;
  config.flags = SC_COMP_AC | SC_COMP_PROT;
  config.accm.set_async_map(0);
  // FCS over 21 45 00 7e 7d 11 is 0x40c5.
  const Bytes body{0x21, 0x45, 0x00, 0x7d, 0x5e, 0x7d, 0x5d, 0x11, 0xc5, 0x40, 0x7e};
  EXPECT_EQ(encode(ip, config, false), body);
  EXPECT_EQ(encode(ip, config, true), Bytes{0x7e} + body);
}

TEST(HdlcEncode, AddressControlAndProtocolCompressionRules) {
  const Bytes ip{0x00, 0x21, 0x45};
  const Bytes ipcp{0x80, 0x21, 0x01, 0x01, 0x00, 0x04};
  TxConfig config;
  config.accm.set_async_map(0);
  auto head = [&](const Bytes& f, int n) {
    Bytes e = encode(f, config, false);
    return Bytes(e.begin(), e.begin() + n);
  };
  config.flags = 0;
  EXPECT_EQ(head(ip, 4), (Bytes{0xff, 0x03, 0x00, 0x21}));
  config.flags = SC_COMP_PROT;
  EXPECT_EQ(head(ip, 3), (Bytes{0xff, 0x03, 0x21}));
  EXPECT_EQ(head(ipcp, 4), (Bytes{0xff, 0x03, 0x80, 0x21}));  // >= 0x100: never compressed
  config.flags = SC_COMP_AC;
  EXPECT_EQ(head(ip, 2), (Bytes{0x00, 0x21}));
  EXPECT_EQ(head(ipcp, 2), (Bytes{0x80, 0x21}));
  EXPECT_EQ(head(kConfReq, 4), (Bytes{0x7e, 0xff, 0x7d, 0x23}));  // LCP config keeps A/C
  config.flags = SC_COMP_AC | SC_COMP_PROT;
  EXPECT_EQ(head(ip, 2), (Bytes{0x21, 0x45}));
}

// Which of the 256 byte values an encoder escaped, read back from a frame
// carrying every value once.
std::vector<bool> escaped_values(const TxConfig& config, Simd simd) {
  Bytes frame{0x00, 0x21};
  for (int c = 0; c < 256; ++c) frame.push_back(static_cast<uint8_t>(c));
  TxConfig c2 = config;
  c2.flags = SC_COMP_AC;
  const Bytes out = encode(frame, c2, false, simd);
  std::vector<bool> escaped(256);
  size_t i = 0;
  // Reads one byte of the frame; true if it came escaped.
  auto next = [&](uint8_t want) {
    if (out[i] == 0x7d) {
      EXPECT_EQ(out[i + 1], want ^ 0x20);
      i += 2;
      return true;
    }
    EXPECT_EQ(out[i], want);
    i += 1;
    return false;
  };
  next(0x00);
  next(0x21);
  for (int c = 0; c < 256; ++c) escaped[c] = next(static_cast<uint8_t>(c));
  return escaped;
}

TEST(HdlcEncode, EscapingUnderAccmAllControls) {
  for (Simd simd : {Simd::portable, Simd::avx2}) {
    TxConfig config;
    config.accm.set_async_map(0xffffffff);
    config.accm.set_extended_map({0xffffffff, 0, 0, 0, 0, 0, 0, 0});
    const auto esc = escaped_values(config, simd);
    for (int c = 0; c < 256; ++c) EXPECT_EQ(esc[c], c < 0x20 || c == 0x7d || c == 0x7e) << c;
  }
}

TEST(HdlcEncode, EscapingUnderAccmZero) {
  for (Simd simd : {Simd::portable, Simd::avx2}) {
    TxConfig config;
    config.accm.set_async_map(0);
    const auto esc = escaped_values(config, simd);
    for (int c = 0; c < 256; ++c) EXPECT_EQ(esc[c], c == 0x7d || c == 0x7e) << c;
  }
}

TEST(HdlcEncode, ExtendedMapForces7d7eInAnd5eOut) {
  TxConfig config;
  // Asks for 0x01, 0x13, 0x41, 0x5d, 0x5e, 0xff and nothing else, not even 0x7d/0x7e.
  config.accm.set_extended_map({(1u << 1) | (1u << 0x13), 0,
                                (1u << (0x41 - 64)) | (1u << (0x5d - 64)) | (1u << (0x5e - 64)), 0,
                                0, 0, 0, 1u << 31});
  EXPECT_EQ(config.accm.words()[2], (1u << (0x41 - 64)) | (1u << (0x5d - 64)));
  EXPECT_EQ(config.accm.words()[3], 0x60000000u);
  for (Simd simd : {Simd::portable, Simd::avx2}) {
    const auto esc = escaped_values(config, simd);
    for (int c = 0; c < 256; ++c) {
      const bool want =
          c == 0x01 || c == 0x13 || c == 0x41 || c == 0x5d || c == 0x7d || c == 0x7e || c == 0xff;
      EXPECT_EQ(esc[c], want) << c;
    }
  }
  // PPPIOCSASYNCMAP changes word 0 only.
  config.accm.set_async_map(0x000a0000);
  EXPECT_EQ(config.accm.words()[0], 0x000a0000u);
  EXPECT_EQ(config.accm.words()[7], 1u << 31);
}

TEST(HdlcEncode, DefaultMapIsTheKernels) {
  const TxAccm accm;
  EXPECT_EQ(accm.words(), (std::array<uint32_t, 8>{0xffffffff, 0, 0, 0x60000000, 0, 0, 0, 0}));
}

TEST(HdlcEncode, FcsBytesAreEscapedToo) {
  // Search a payload whose FCS has a byte needing escape under ACCM 0.
  TxConfig config;
  config.accm.set_async_map(0);
  config.flags = SC_COMP_AC;
  for (int i = 0; i < 65536; ++i) {
    const Bytes f{0x00, 0x21, static_cast<uint8_t>(i), static_cast<uint8_t>(i >> 8)};
    const uint16_t fcs = static_cast<uint16_t>(~fcs_bitwise(PPP_INITFCS, f));
    if ((fcs & 0xff) != 0x7e) continue;
    const Bytes out = encode(f, config, false);
    const size_t k = out.size();
    ASSERT_GE(k, 4u);
    EXPECT_EQ(out[k - 4], 0x7d);
    EXPECT_EQ(out[k - 3], 0x5e);
    EXPECT_EQ(out[k - 2], fcs >> 8);
    EXPECT_EQ(out[k - 1], 0x7e);
    return;
  }
  FAIL() << "no payload with FCS low byte 0x7e";
}

TEST(HdlcEncode, RefusesAnOutputBufferBelowTheBound) {
  const Bytes f{0x00, 0x21, 1, 2, 3};
  std::vector<std::byte> out(hdlc_max_encoded(f.size()) - 1);
  EXPECT_EQ(hdlc_encode(as_span(f), TxConfig{}, true, out), 0u);
  EXPECT_EQ(hdlc_max_encoded(1500), 3010u);
}

TEST(HdlcEncode, WorstCaseStaysWithinTheBound) {
  // Every byte escaped under a full extended map (0x5e excepted).
  Bytes f{0x00, 0x21};
  f.insert(f.end(), 3000, 0x7e);
  TxConfig config;
  config.accm.set_extended_map({~0u, ~0u, ~0u, ~0u, ~0u, ~0u, ~0u, ~0u});
  for (Simd simd : {Simd::portable, Simd::avx2}) {
    const Bytes out = encode(f, config, true, simd);
    EXPECT_LE(out.size(), hdlc_max_encoded(f.size()));
    // Receive ACCM 0: escaped 0x21 reads 7d 01, and a receiver ignoring 0x01
    // would drop it before unescaping (RFC 1662 7.1, and the kernel).
    EXPECT_EQ(decode(out, simd, 4000, 0).frames, std::vector<Bytes>{f});
  }
}

TEST(HdlcEncode, FramesShorterThanAProtocolStillEncode) {
  TxConfig config;
  config.flags = SC_COMP_PROT;
  for (Simd simd : {Simd::portable, Simd::avx2}) {
    // Nothing but address/control: too short for the receiver.
    const Bytes empty = encode({}, config, true, simd);
    EXPECT_EQ(Bytes(empty.begin(), empty.begin() + 4), (Bytes{0x7e, 0xff, 0x7d, 0x23}));
    EXPECT_EQ(decode(empty, simd).errors, std::vector<HdlcError>{HdlcError::too_short});
    // A lone 0x21 reads as a compressed protocol.
    EXPECT_EQ(decode(encode({0x21}, config, true, simd), simd).frames,
              (std::vector<Bytes>{{0x00, 0x21}}));
  }
}

TEST(FlagTime, OpeningFlagOnlyAfterIdle) {
  using namespace std::chrono_literals;
  FlagTime ft(1s);
  const auto t0 = FlagTime::Clock::time_point{} + 100s;
  EXPECT_TRUE(ft.opening_flag(t0));  // nothing sent yet
  EXPECT_FALSE(ft.opening_flag(t0 + 500ms));
  EXPECT_FALSE(ft.opening_flag(t0 + 1400ms));  // 900 ms after the previous one
  EXPECT_TRUE(ft.opening_flag(t0 + 2400ms));
  FlagTime always(0s);
  EXPECT_TRUE(always.opening_flag(t0));
  EXPECT_TRUE(always.opening_flag(t0));
}

// -------------------------------------------------------------- decoding

TEST(HdlcDecode, LcpConfigureRequestByHand) {
  for (Simd simd : {Simd::portable, Simd::avx2}) {
    HdlcDecoder d(simd);
    Received r;
    feed(d, kConfReqEncoded, r);
    EXPECT_EQ(r.frames, std::vector<Bytes>{kConfReq});
    EXPECT_EQ(r.after_error, std::vector<bool>{false});
    EXPECT_EQ(d.stats().frames, 1u);
    EXPECT_EQ(d.stats().errors(), 0u);
  }
}

TEST(HdlcDecode, CompressedHeadersAreExpanded) {
  // No address/control, protocol 0x21 compressed: as the kernel, accepted
  // whatever was negotiated.
  const Bytes wire{0x7e, 0x21, 0x45, 0x00, 0x7d, 0x5e, 0x7d, 0x5d, 0x11, 0xc5, 0x40, 0x7e};
  EXPECT_EQ(decode(wire, simd_best(), PPP_MRU, 0).frames,
            (std::vector<Bytes>{{0x00, 0x21, 0x45, 0x00, 0x7e, 0x7d, 0x11}}));
  // Address/control present, protocol compressed.
  TxConfig config;
  config.flags = SC_COMP_PROT;
  const Bytes ip{0x00, 0x57, 0x60, 0x00};
  const Bytes enc = encode(ip, config, true);
  EXPECT_EQ(enc[1], 0xff);
  EXPECT_EQ(enc[4], 0x57);
  EXPECT_EQ(decode(enc).frames, std::vector<Bytes>{ip});
}

TEST(HdlcDecode, EmptyFramesAndIgnoredControlsAreNotErrors) {
  const Bytes wire =
      Bytes{0x7e, 0x7e, 0x7e, 0x11, 0x13, 0x7e, 0x7e} + kConfReqEncoded + Bytes{0x7e, 0x7e};
  for (Simd simd : {Simd::portable, Simd::avx2}) {
    const Received r = decode(wire, simd);
    EXPECT_EQ(r.frames, std::vector<Bytes>{kConfReq});
    EXPECT_TRUE(r.errors.empty());
  }
}

TEST(HdlcDecode, ReceiveAccmDropsUnescapedControls) {
  // XON/XOFF (0x11, 0x13) inserted by a modem inside the frame vanish when
  // the receive ACCM names them, and are data when it does not.
  TxConfig config;
  config.accm.set_async_map(0x000a0000);
  const Bytes f{0x00, 0x21, 0x01, 0x02, 0x03};
  Bytes wire = encode(f, config, true);
  wire.insert(wire.begin() + 3, 0x11);
  wire.insert(wire.begin() + 6, 0x13);
  EXPECT_EQ(decode(wire, simd_best(), PPP_MRU, 0x000a0000).frames, std::vector<Bytes>{f});
  const Received kept = decode(wire, simd_best(), PPP_MRU, 0);
  EXPECT_TRUE(kept.frames.empty());
  EXPECT_EQ(kept.errors, std::vector<HdlcError>{HdlcError::bad_fcs});
}

TEST(HdlcDecode, EscapeCarriesOverAnIgnoredControl) {
  // 7d 11 41: 0x11 is dropped, the escape still applies to 0x41 -> 0x61.
  Bytes body{0xff, 0x03, 0x00, 0x21, 0x61};
  const uint16_t fcs = static_cast<uint16_t>(~fcs_bitwise(PPP_INITFCS, body));
  const Bytes wire{0x7e,
                   0xff,
                   0x03,
                   0x00,
                   0x21,
                   0x7d,
                   0x11,
                   0x41,
                   static_cast<uint8_t>(fcs),
                   static_cast<uint8_t>(fcs >> 8),
                   0x7e};
  for (Simd simd : {Simd::portable, Simd::avx2})
    EXPECT_EQ(decode(wire, simd, PPP_MRU, 1u << 0x11).frames,
              (std::vector<Bytes>{{0x00, 0x21, 0x61}}));
}

TEST(HdlcDecode, EscapeEscapeIsData5d) {
  // As ppp_async_input: after an escape, 0x7d is an ordinary byte (-> 0x5d).
  Bytes body{0xff, 0x03, 0x00, 0x21, 0x5d, 0x01};
  const uint16_t fcs = static_cast<uint16_t>(~fcs_bitwise(PPP_INITFCS, body));
  const Bytes wire{0x7e,
                   0xff,
                   0x03,
                   0x00,
                   0x21,
                   0x7d,
                   0x7d,
                   0x7d,
                   0x21,
                   static_cast<uint8_t>(fcs),
                   static_cast<uint8_t>(fcs >> 8),
                   0x7e};
  for (Simd simd : {Simd::portable, Simd::avx2})
    EXPECT_EQ(decode(wire, simd, PPP_MRU, 0).frames,
              (std::vector<Bytes>{{0x00, 0x21, 0x5d, 0x01}}));
}

// A good frame and the stream around it used by the error tests below.
struct ErrorCase {
  Bytes good = {0x00, 0x21, 0x45, 0x00, 0x00, 0x14, 0x99};
  Bytes good_wire() const { return encode(good, TxConfig{}, true); }
};

TEST(HdlcDecode, BitFlipIsAnFcsErrorReportedBeforeTheNextFrame) {
  ErrorCase c;
  Bytes bad = c.good_wire();
  ASSERT_EQ(bad[7], 0x45);  // 7e ff 7d 23 7d 20 21 [45] ...
  bad[7] ^= 0x04;
  for (Simd simd : {Simd::portable, Simd::avx2}) {
    HdlcDecoder d(simd);
    Received r;
    feed(d, c.good_wire() + bad + c.good_wire() + c.good_wire(), r);
    EXPECT_EQ(r.frames, (std::vector<Bytes>{c.good, c.good, c.good}));
    EXPECT_EQ(r.after_error, (std::vector<bool>{false, true, false}));
    EXPECT_EQ(r.errors, std::vector<HdlcError>{HdlcError::bad_fcs});
    EXPECT_EQ(d.stats().bad_fcs, 1u);
    EXPECT_EQ(d.stats().frames, 3u);
  }
}

TEST(HdlcDecode, TruncatedFramesAreDropped) {
  ErrorCase c;
  const Bytes w = c.good_wire();
  const Bytes half(w.begin(), w.begin() + 6);  // flag + part of the frame, then a flag
  const Bytes two{0x7e, 0x21, 0x45, 0x7e};     // fewer than 3 bytes
  const Bytes ac_only{0x7e, 0xff, 0x03, 0x7e};
  for (Simd simd : {Simd::portable, Simd::avx2}) {
    HdlcDecoder d(simd);
    Received r;
    feed(d, half + w + two + ac_only + w, r);
    EXPECT_EQ(r.frames, (std::vector<Bytes>{c.good, c.good}));
    EXPECT_EQ(r.after_error, (std::vector<bool>{true, true}));
    EXPECT_EQ(r.errors, (std::vector<HdlcError>{HdlcError::bad_fcs, HdlcError::too_short,
                                                HdlcError::too_short}));
    EXPECT_EQ(d.stats().errors(), 3u);
  }
}

// A frame with a valid FCS whose address/control are given raw.
Bytes raw_frame(const Bytes& body) {
  Bytes b = body;
  const uint16_t fcs = static_cast<uint16_t>(~fcs_bitwise(PPP_INITFCS, b));
  b.push_back(static_cast<uint8_t>(fcs));
  b.push_back(static_cast<uint8_t>(fcs >> 8));
  Bytes w{0x7e};
  for (uint8_t c : b) {
    if (c < 0x20 || c == 0x7d || c == 0x7e) {
      w.push_back(0x7d);
      w.push_back(c ^ 0x20);
    } else {
      w.push_back(c);
    }
  }
  w.push_back(0x7e);
  return w;
}

TEST(HdlcDecode, AddressWithoutUiControlIsDropped) {
  const Received r = decode(raw_frame({0xff, 0x13, 0x00, 0x21, 0x45}));
  EXPECT_TRUE(r.frames.empty());
  EXPECT_EQ(r.errors, std::vector<HdlcError>{HdlcError::bad_control});
  // An uncompressed protocol needs both its bytes.
  EXPECT_EQ(decode(raw_frame({0xff, 0x03, 0x80})).errors,
            std::vector<HdlcError>{HdlcError::too_short});
}

TEST(HdlcDecode, MruLimitsTheInformationField) {
  constexpr int kMru = 100;
  std::mt19937 rng(7);
  for (auto [simd, escape_address] :
       {std::pair{Simd::portable, false}, std::pair{Simd::portable, true},
        std::pair{Simd::avx2, false}, std::pair{Simd::avx2, true}}) {
    for (uint32_t flags :
         {0u, unsigned{SC_COMP_AC}, unsigned{SC_COMP_PROT}, unsigned{SC_COMP_AC | SC_COMP_PROT}}) {
      TxConfig config;
      config.flags = flags;
      // The address escaped (7d df) still counts as the address.
      if (escape_address) config.accm.set_extended_map({~0u, 0, 0, 0, 0, 0, 0, 1u << 31});
      // As the kernel's buffer (mru + 6, less 2 or 3 when the frame does
      // not start with the address): with address/control and a compressed
      // protocol, one byte more fits.
      const size_t slack = flags == SC_COMP_PROT ? 1 : 0;
      const Bytes fits = random_frame(rng, 0x0021, kMru + slack);
      const Bytes over = random_frame(rng, 0x0021, kMru + slack + 1);
      const Bytes far_over = random_frame(rng, 0x0021, 5000);
      HdlcDecoder d(simd);
      d.set_mru(kMru);
      Received r;
      feed(d,
           encode(fits, config, true) + encode(over, config, true) +
               encode(far_over, config, true) + encode(fits, config, true),
           r);
      EXPECT_EQ(r.frames, (std::vector<Bytes>{fits, fits})) << flags;
      EXPECT_EQ(r.after_error, (std::vector<bool>{false, true})) << flags;
      EXPECT_EQ(r.errors, (std::vector<HdlcError>{HdlcError::oversized, HdlcError::oversized}))
          << flags;
      EXPECT_EQ(d.stats().oversized, 2u);
    }
  }
}

TEST(HdlcDecode, AbortSequenceDropsTheFrame) {
  ErrorCase c;
  Bytes w = c.good_wire();
  Bytes aborted(w.begin(), w.end() - 4);
  aborted.push_back(0x7d);
  aborted.push_back(0x7e);
  for (Simd simd : {Simd::portable, Simd::avx2}) {
    HdlcDecoder d(simd);
    Received r;
    feed(d, aborted + w + Bytes{0x7d, 0x7e} + w, r);
    EXPECT_EQ(r.frames, (std::vector<Bytes>{c.good, c.good}));
    EXPECT_EQ(r.after_error, (std::vector<bool>{true, true}));
    EXPECT_EQ(r.errors, (std::vector<HdlcError>{HdlcError::aborted, HdlcError::aborted}));
    EXPECT_EQ(d.stats().aborted, 2u);
  }
}

TEST(HdlcDecode, NoiseBetweenFramesIsCountedAndSurvived) {
  ErrorCase c;
  const Bytes noise{0x41, 0x42, 0x43, 0x44, 0x45, 0x46};
  const Received r = decode(c.good_wire() + noise + c.good_wire() + noise);
  EXPECT_EQ(r.frames, (std::vector<Bytes>{c.good, c.good}));
  // Noise runs from the first frame's closing flag to the next flag; the
  // trailing noise has no flag yet and is still pending.
  EXPECT_EQ(r.errors, std::vector<HdlcError>{HdlcError::bad_fcs});
}

TEST(HdlcDecode, SettersFromTheCallbackApplyToTheRestOfTheChunk) {
  // As the kernel's LCP peek on a Configure-Ack: the receive ACCM drops to 0
  // and the MRU to 10 after the first frame, within the same chunk, so the
  // unescaped 0x01 0x02 of the next frame are data and the third is too long.
  TxConfig zero;
  zero.accm.set_async_map(0);
  zero.flags = SC_COMP_AC;
  const Bytes first{0x00, 0x21, 0x45};
  const Bytes second{0x00, 0x21, 0x01, 0x02};
  const Bytes third{0x00, 0x21, 0x45, 0x45, 0x45, 0x45, 0x45, 0x45, 0x45, 0x45, 0x45, 0x45, 0x45};
  for (Simd simd : {Simd::portable, Simd::avx2}) {
    HdlcDecoder d(simd);
    Received r;
    d.feed(
        as_span(encode(first, TxConfig{}, true) + encode(second, zero, true) +
                encode(third, zero, true)),
        [&](std::span<const std::byte> fr, bool) {
          const auto* p = reinterpret_cast<const uint8_t*>(fr.data());
          r.frames.emplace_back(p, p + fr.size());
          d.set_raccm(0);
          d.set_mru(10);
        },
        [&](HdlcError e) { r.errors.push_back(e); });
    EXPECT_EQ(r.frames, (std::vector<Bytes>{first, second}));
    EXPECT_EQ(r.errors, std::vector<HdlcError>{HdlcError::oversized});
  }
}

TEST(HdlcDecode, ReceivedBitsTrackBit7AndParity) {
  HdlcDecoder d;
  auto feed_bytes = [&](const Bytes& b) {
    d.feed(
        as_span(b), [](auto, bool) {}, [](HdlcError) {});
  };
  EXPECT_EQ(d.rbits(), 0u);
  feed_bytes({0x00, 0x03});  // bit 7 clear, even parity
  EXPECT_EQ(d.rbits(), unsigned{SC_RCV_B7_0 | SC_RCV_EVNP});
  feed_bytes({0x01});  // odd parity
  EXPECT_EQ(d.rbits(), unsigned{SC_RCV_B7_0 | SC_RCV_EVNP | SC_RCV_ODDP});
  d.set_rbits(SC_COMP_AC);  // only the SC_RCV bits are kept
  EXPECT_EQ(d.rbits(), 0u);
  feed_bytes({0x81});  // bit 7 set, even parity
  EXPECT_EQ(d.rbits(), unsigned{SC_RCV_B7_1 | SC_RCV_EVNP});
  Bytes many(1000, 0x03);
  many[999] = 0xc0;
  feed_bytes(many);
  EXPECT_EQ(d.rbits(), unsigned{SC_RCV_B7_0 | SC_RCV_B7_1 | SC_RCV_EVNP});
}

TEST(HdlcDecode, MruIsHeldToItsRange) {
  HdlcDecoder d;
  EXPECT_EQ(d.mru(), PPP_MRU);
  d.set_mru(-5);
  EXPECT_EQ(d.mru(), 0);
  d.set_mru(1 << 30);
  EXPECT_EQ(d.mru(), HdlcDecoder::kMaxMru);
  // A 65535-byte information field goes through.
  std::mt19937 rng(3);
  const Bytes big = random_frame(rng, 0x0021, HdlcDecoder::kMaxMru);
  Received r;
  feed(d, encode(big, TxConfig{}, true), r);
  EXPECT_EQ(r.frames, std::vector<Bytes>{big});
}

// ----------------------------------------------------------- round trips

struct Link {
  TxConfig config;
  uint32_t raccm;
};

Link random_link(std::mt19937& rng) {
  Link l;
  std::array<uint32_t, 8> map{};
  for (auto& w : map) w = (rng() % 3 == 0) ? static_cast<uint32_t>(rng()) : 0;
  if (rng() % 2) map[0] = rng() % 2 ? ~0u : 0;
  l.config.accm.set_extended_map(map);
  l.config.flags = rng() % 4 == 0 ? 0 : static_cast<uint32_t>(rng() & (SC_COMP_AC | SC_COMP_PROT));
  // The receiver ignores only controls the sender escapes, and none that an
  // escaped 0x20-0x3f turns into (those are dropped before unescaping).
  l.raccm = map[0] & ~map[1] & static_cast<uint32_t>(rng());
  return l;
}

// Frames, their encoding with random idle gaps, ignored controls inserted
// between the bytes, fed in random chunks.
void round_trip(std::mt19937& rng, Simd simd) {
  const Link link = random_link(rng);
  std::vector<Bytes> frames;
  Bytes wire;
  const int count = 1 + static_cast<int>(rng() % 12);
  for (int i = 0; i < count; ++i) {
    const size_t len = rng() % 4 == 0 ? rng() % 8 : rng() % 1600;
    frames.push_back(rng() % 10 == 0 ? kConfReq : random_frame(rng, random_protocol(rng), len));
    wire = wire + encode(frames.back(), link.config, rng() % 2 == 0, simd);
  }
  std::vector<uint8_t> ignored;
  for (int c = 0; c < 32; ++c)
    if ((link.raccm >> c) & 1) ignored.push_back(static_cast<uint8_t>(c));
  if (!ignored.empty()) {
    Bytes noisy;
    for (uint8_t c : wire) {
      if (rng() % 50 == 0) noisy.push_back(ignored[rng() % ignored.size()]);
      noisy.push_back(c);
    }
    wire = noisy;
  }
  HdlcDecoder d(simd);
  d.set_mru(1600);
  d.set_raccm(link.raccm);
  Received r;
  for (size_t at = 0; at < wire.size();) {
    const size_t n = std::min(wire.size() - at, size_t{1} + rng() % (rng() % 2 ? 7 : 3000));
    feed(d, Bytes(wire.begin() + at, wire.begin() + at + n), r);
    at += n;
  }
  ASSERT_EQ(r.frames.size(), frames.size());
  for (size_t i = 0; i < frames.size(); ++i) ASSERT_EQ(r.frames[i], frames[i]) << i;
  EXPECT_TRUE(r.errors.empty());
}

TEST(HdlcRoundTrip, RandomFramesAccmsAndChunking) {
  std::mt19937 rng(12345);
  for (int i = 0; i < 400; ++i) {
    for (Simd simd : {Simd::portable, Simd::avx2}) {
      round_trip(rng, simd);
      if (HasFatalFailure()) return;
    }
  }
}

// --------------------------------------------------- SIMD against portable

TEST(HdlcSimd, EncoderPathsProduceTheSameBytes) {
  if (!avx2_available()) GTEST_SKIP() << "CPU lacks AVX2/PCLMULQDQ: only the portable path exists";
  std::mt19937 rng(99);
  for (int i = 0; i < 3000; ++i) {
    const Link link = random_link(rng);
    Bytes f = random_frame(rng, random_protocol(rng), rng() % 2000);
    // Bias towards bytes near the escape boundaries.
    if (rng() % 2)
      for (auto& c : f) c = static_cast<uint8_t>(rng() % 2 ? 0x7d + rng() % 3 : rng() % 0x22);
    const bool flag = rng() % 2;
    ASSERT_EQ(encode(f, link.config, flag, Simd::portable),
              encode(f, link.config, flag, Simd::avx2))
        << i;
  }
}

TEST(HdlcSimd, DecoderPathsAgreeOnArbitraryStreams) {
  if (!avx2_available()) GTEST_SKIP() << "CPU lacks AVX2/PCLMULQDQ: only the portable path exists";
  std::mt19937 rng(4242);
  for (int i = 0; i < 1500; ++i) {
    const Link link = random_link(rng);
    // Good frames mixed with garbage dense in flags, escapes and controls.
    Bytes wire;
    const int pieces = 1 + static_cast<int>(rng() % 10);
    for (int k = 0; k < pieces; ++k) {
      if (rng() % 3) {
        wire = wire +
               encode(random_frame(rng, random_protocol(rng), rng() % 700), link.config, rng() % 2);
      } else {
        const size_t n = rng() % 300;
        for (size_t j = 0; j < n; ++j) {
          const unsigned kind = rng() % 8;
          wire.push_back(static_cast<uint8_t>(kind == 0   ? 0x7e
                                              : kind == 1 ? 0x7d
                                              : kind == 2 ? rng() % 0x20
                                                          : rng()));
        }
      }
    }
    const int mru = rng() % 4 == 0 ? static_cast<int>(rng() % 300) : PPP_MRU;
    HdlcDecoder portable(Simd::portable), simd(Simd::avx2);
    Received rp, rs;
    for (HdlcDecoder* d : {&portable, &simd}) {
      d->set_mru(mru);
      d->set_raccm(link.raccm);
    }
    for (size_t at = 0; at < wire.size();) {
      const size_t n = std::min(wire.size() - at, size_t{1} + rng() % 200);
      const Bytes chunk(wire.begin() + at, wire.begin() + at + n);
      feed(portable, chunk, rp);
      feed(simd, chunk, rs);
      at += n;
    }
    ASSERT_EQ(rp, rs) << i;
    ASSERT_EQ(portable.rbits(), simd.rbits());
    ASSERT_EQ(portable.stats().errors(), simd.stats().errors());
  }
}

}  // namespace
}  // namespace cusenet
