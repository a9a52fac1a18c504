#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/log.h"
#include "engine/ccp_methods.h"
#include "engine/compressor.h"

namespace cusenet {
namespace {

using Bytes = std::vector<std::byte>;

class BsdComp : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { log::init(log::Level::warning, false); }
};

std::vector<uint8_t> option(unsigned bits, unsigned version = 1) {
  return {kCiBsdCompress, 3, static_cast<uint8_t>(version << 5 | bits)};
}

Bytes frame(uint16_t proto, const std::string& payload) {
  Bytes f(2 + payload.size());
  f[0] = static_cast<std::byte>(proto >> 8);
  f[1] = static_cast<std::byte>(proto);
  std::memcpy(f.data() + 2, payload.data(), payload.size());
  return f;
}

Bytes bytes(std::initializer_list<uint8_t> l) {
  Bytes b;
  for (uint8_t v : l) b.push_back(std::byte{v});
  return b;
}

std::string random_text(std::mt19937& rng, size_t n) {
  static const char* words[] = {"GET ",         "/index.html ", "HTTP/1.1\r\n", "Host: ",
                                "example.org ", "Accept: ",     "text/html ",   "the ",
                                "quick ",       "brown ",       "fox "};
  std::string s;
  while (s.size() < n) s += words[rng() % std::size(words)];
  s.resize(n);
  return s;
}

std::string noise(std::mt19937& rng, size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// The 9-bit codes of a compressed frame (after protocol and sequence).
std::vector<unsigned> codes9(const Bytes& wire, size_t len) {
  std::vector<unsigned> out;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 4; i < len; ++i) {
    acc = acc << 8 | std::to_integer<uint32_t>(wire[i]);
    bits += 8;
    if (bits >= 9) {
      bits -= 9;
      out.push_back(acc >> bits & 0x1ff);
    }
  }
  return out;
}

struct Pair {
  std::unique_ptr<Compressor> comp;
  std::unique_ptr<Decompressor> decomp;
  explicit Pair(unsigned bits = 15) {
    auto o = option(bits);
    comp = make_compressor(o);
    decomp = make_decompressor(o);
    EXPECT_TRUE(comp && decomp);
    if (!comp || !decomp) return;
    EXPECT_TRUE(comp->init(o, 0, 0));
    EXPECT_TRUE(decomp->init(o, 0, 1500, 0));
  }
  // Sends f through both ends; the receiver must get it back and both
  // dictionaries must have counted the same. Returns the compressed
  // length, 0 for a frame sent as it is.
  size_t pass(const Bytes& f, Bytes* wire_out = nullptr) {
    Bytes wire(f.size() + 64);
    size_t n = comp->compress(f, wire);
    if (n == 0) {
      decomp->incomp(f);
    } else {
      Bytes out(1502);
      int got = decomp->decompress(std::span(wire.data(), n), out);
      EXPECT_EQ(got, static_cast<int>(f.size()));
      if (got > 0) {
        out.resize(static_cast<size_t>(got));
        EXPECT_EQ(out, f);
      }
    }
    EXPECT_EQ(comp->stats().in_count, decomp->stats().in_count);
    EXPECT_EQ(comp->stats().bytes_out, decomp->stats().bytes_out);
    if (wire_out) *wire_out = Bytes(wire.begin(), wire.begin() + static_cast<long>(n));
    return n;
  }
};

TEST_F(BsdComp, OptionsAsBsdCompAcceptsThem) {
  for (unsigned b = 9; b <= 15; ++b) {
    EXPECT_NE(make_compressor(option(b)), nullptr) << b;
    EXPECT_NE(make_decompressor(option(b)), nullptr) << b;
  }
  EXPECT_EQ(make_compressor(option(8)), nullptr);
  EXPECT_EQ(make_compressor(option(16)), nullptr);
  EXPECT_EQ(make_decompressor(option(12, 0)), nullptr);
  EXPECT_EQ(make_decompressor(option(12, 2)), nullptr);
  auto o = option(12);
  o.push_back(0);
  EXPECT_EQ(make_compressor(o), nullptr);  // exactly 3 bytes
  o = option(12);
  o[1] = 2;
  EXPECT_EQ(make_compressor(o), nullptr);
  auto c = make_compressor(option(12));
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->init(option(13), 0, 0));
  EXPECT_TRUE(c->init(option(12), 0, 0));
  auto d = make_decompressor(option(12));
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->init(option(11), 0, 1500, 0));
  EXPECT_TRUE(d->init(option(12), 0, 1500, 0));
}

// Protocol 0x0021 and ten 'A's, by hand from RFC 1977: the protocol byte
// starts the string; codes 0x21, 'A' (0x41), then the runs 257+1 = "AA",
// "AAA", "AAAA" that the dictionary learns on the way (258, 259, 260),
// 9 bits each, MSB first, the last byte padded with ones:
// 000100001 001000001 100000010 100000011 100000100 111.
TEST_F(BsdComp, FirstCodesOfAKnownInputBitByBit) {
  Pair p;
  const Bytes f = frame(0x0021, "AAAAAAAAAA");
  Bytes wire;
  ASSERT_EQ(p.pass(f, &wire), 10u);
  EXPECT_EQ(wire, bytes({0x00, 0xfd, 0x00, 0x00, 0x10, 0x90, 0x60, 0x50, 0x38, 0x27}));
  CompStats c = p.comp->stats();
  EXPECT_EQ(c.unc_packets, 1u);
  EXPECT_EQ(c.unc_bytes, 11u);  // payload + the protocol's low byte
  EXPECT_EQ(c.comp_packets, 1u);
  EXPECT_EQ(c.comp_bytes, 12u);  // with the kernel's address/control bytes
  EXPECT_EQ(c.in_count, 11u);
  EXPECT_EQ(c.bytes_out, 6u);
  CompStats d = p.decomp->stats();
  EXPECT_EQ(d.comp_bytes, 6u);
  EXPECT_EQ(d.unc_bytes, 14u);
}

// A frame that does not shrink goes as it is: "ABAB" needs codes 0x21,
// 0x41, 0x42, 258 = 36 bits + 4 bits of padding, 9 bytes with the header,
// more than the 6-byte frame. The decompressor decodes those bits.
TEST_F(BsdComp, HandBuiltCodesDecode) {
  Pair p;
  const Bytes f = frame(0x0021, "ABAB");
  Bytes wire(64);
  EXPECT_EQ(p.comp->compress(f, wire), 0u);
  EXPECT_EQ(p.comp->stats().inc_packets, 1u);
  EXPECT_EQ(p.comp->stats().inc_bytes, 5u);
  Pair q;
  const Bytes in = bytes({0x00, 0xfd, 0x00, 0x00, 0x10, 0x90, 0x48, 0x50, 0x2f});
  Bytes out(100);
  ASSERT_EQ(q.decomp->decompress(in, out), 6);
  out.resize(6);
  EXPECT_EQ(out, f);
}

TEST_F(BsdComp, RoundTripsAtEveryCodeSize) {
  for (unsigned bits = 9; bits <= 15; ++bits) {
    Pair p(bits);
    std::mt19937 rng(bits);
    size_t compressed = 0, plain = 0;
    for (int i = 0; i < 400; ++i) {
      const uint16_t proto = i % 5 == 0 ? 0x00f9 : 0x0021;
      Bytes f = frame(proto, rng() % 8 == 0 ? noise(rng, 1 + rng() % 1400)
                                            : random_text(rng, 1 + rng() % 1400));
      (p.pass(f) ? compressed : plain)++;
      if (HasFailure()) FAIL() << "bits " << bits << " packet " << i;
    }
    EXPECT_GT(compressed, 250u) << bits;
    EXPECT_GT(plain, 20u) << bits;
  }
}

// A full 9-bit dictionary, learnt on long runs of 'a', serves runs broken
// by a 'b' every 50 bytes worse: at the next ratio check the compressor
// clears the dictionary and ends that packet with CLEAR (256).
TEST_F(BsdComp, DictionaryFullClearsWhenTheRatioFalls) {
  Pair p(9);
  std::string broken;
  while (broken.size() < 1000) broken += std::string(50, 'a') + "b";
  bool cleared = false;
  for (int i = 0; i < 200 && !cleared; ++i) {
    const Bytes f = frame(0x0021, i < 60 ? std::string(1000, 'a') : broken);
    const uint64_t before = p.comp->stats().in_count;
    Bytes wire;
    const size_t n = p.pass(f, &wire);
    ASSERT_FALSE(HasFailure()) << "packet " << i;
    if (p.comp->stats().in_count != 0) continue;
    cleared = true;
    EXPECT_GE(i, 60);
    EXPECT_GT(before, 0u);
    ASSERT_GT(n, 0u);
    auto codes = codes9(wire, n);
    ASSERT_GE(codes.size(), 2u);
    EXPECT_EQ(codes.back(), 256u);
    for (size_t k = 0; k + 1 < codes.size(); ++k) EXPECT_NE(codes[k], 256u);
  }
  ASSERT_TRUE(cleared);
  // After the clear both ends start from single bytes again.
  Bytes wire;
  const Bytes f = frame(0x0021, std::string(100, 'a'));
  ASSERT_GT(p.pass(f, &wire), 0u);
  auto codes = codes9(wire, wire.size());
  ASSERT_GE(codes.size(), 3u);
  EXPECT_EQ(codes[0], 0x21u);
  EXPECT_EQ(codes[1], 'a');
  EXPECT_EQ(codes[2], 258u);
}

// Incompressible packets are not sent compressed, so no CLEAR reaches the
// peer: both ends clear on their own at the same packet.
TEST_F(BsdComp, IncompressibleTrafficClearsBothEndsTogether) {
  Pair p(10);
  std::mt19937 rng(2);
  int clears = 0;
  uint64_t last = 0;
  for (int i = 0; i < 120; ++i) {
    const Bytes f = frame(0x0021, i < 40 ? random_text(rng, 1000) : noise(rng, 1000));
    p.pass(f);
    ASSERT_FALSE(HasFailure()) << "packet " << i;
    const uint64_t now = p.comp->stats().in_count;
    if (now < last) ++clears;
    last = now;
  }
  EXPECT_GT(clears, 0);
  for (int i = 0; i < 20; ++i) EXPECT_GT(p.pass(frame(0x0021, random_text(rng, 800))), 0u);
}

TEST_F(BsdComp, OnlyProtocols21ToF9AreCompressed) {
  Pair p;
  const std::string run(200, 'z');
  Bytes wire(300);
  for (uint16_t proto : {0x0001, 0x0020, 0x00fa, 0x00fd, 0x8021, 0xc021}) {
    EXPECT_EQ(p.comp->compress(frame(proto, run), wire), 0u) << proto;
    p.decomp->incomp(frame(proto, run));
  }
  EXPECT_EQ(p.comp->stats().unc_packets, 0u);
  EXPECT_EQ(p.decomp->stats().unc_packets, 0u);
  EXPECT_GT(p.pass(frame(0x0021, run)), 0u);
  EXPECT_GT(p.pass(frame(0x00f9, run)), 0u);
}

TEST_F(BsdComp, WrongSequenceNumberIsARecoverableError) {
  Pair p;
  std::mt19937 rng(3);
  Bytes w1(1100), w2(1100), out(1502);
  w1.resize(p.comp->compress(frame(0x0021, random_text(rng, 1000)), w1));
  const Bytes f2 = frame(0x0021, random_text(rng, 1000));
  w2.resize(p.comp->compress(f2, w2));
  ASSERT_FALSE(w1.empty());
  ASSERT_FALSE(w2.empty());
  EXPECT_EQ(p.decomp->decompress(w2, out), Decompressor::kError);
  p.comp->reset();
  p.decomp->reset();
  EXPECT_GT(p.pass(f2), 0u);
}

TEST_F(BsdComp, MalformedCodesAreFatal) {
  Bytes out(100);
  // CLEAR (256) followed by another code: only the last code may clear.
  {
    Pair p(9);
    EXPECT_EQ(p.decomp->decompress(bytes({0x00, 0xfd, 0x00, 0x00, 0x80, 0x10, 0x7f}), out),
              Decompressor::kFatalError);
  }
  // A packet may not start with a code the dictionary does not have yet.
  {
    Pair p(9);
    // 257, 0x41: 100000001 001000001 + 111111
    EXPECT_EQ(p.decomp->decompress(bytes({0x00, 0xfd, 0x00, 0x00, 0x80, 0x90, 0x7f}), out),
              Decompressor::kFatalError);
  }
  // Nothing but a short sequence number.
  {
    Pair p(9);
    EXPECT_EQ(p.decomp->decompress(bytes({0x00, 0xfd, 0x00}), out), Decompressor::kError);
  }
  // More than fits in the buffer (the MRU).
  {
    Pair p(12);
    std::mt19937 rng(4);
    const Bytes f = frame(0x0021, random_text(rng, 1000));
    Bytes wire(1100);
    wire.resize(p.comp->compress(f, wire));
    ASSERT_FALSE(wire.empty());
    Bytes small(f.size() - 1);
    EXPECT_EQ(p.decomp->decompress(wire, small), Decompressor::kFatalError);
  }
}

TEST_F(BsdComp, CompressorStopsAtItsOutputBuffer) {
  Pair p;
  const Bytes f = frame(0x0021, std::string(500, 'q'));
  Bytes exact(64);
  const size_t n = p.comp->compress(f, exact);
  ASSERT_GT(n, 0u);
  Pair q;
  Bytes guarded(n + 8, std::byte{0x55});
  EXPECT_EQ(q.comp->compress(f, std::span(guarded.data(), n - 1)), 0u);
  for (size_t i = n - 1; i < guarded.size(); ++i) EXPECT_EQ(guarded[i], std::byte{0x55}) << i;
  EXPECT_EQ(q.comp->stats().inc_packets, 1u);
}

TEST_F(BsdComp, GarbageNeverCrashes) {
  std::mt19937 rng(5);
  for (unsigned bits : {9u, 12u, 15u}) {
    Pair src(bits);
    std::vector<Bytes> valid;
    for (int i = 0; i < 40; ++i) {
      const Bytes f = frame(0x0021, random_text(rng, 50 + rng() % 600));
      Bytes w(f.size());
      w.resize(src.comp->compress(f, w));
      if (!w.empty()) valid.push_back(w);
    }
    ASSERT_FALSE(valid.empty());
    Pair p(bits);
    Bytes out(1502);
    for (int i = 0; i < 10000; ++i) {
      Bytes in;
      if (i % 3 == 0) {
        in.resize(rng() % 200);
        for (auto& b : in) b = static_cast<std::byte>(rng());
      } else {
        in = valid[rng() % valid.size()];
        for (int k = rng() % 4; k > 0; --k)
          in[4 + rng() % (in.size() - 4)] = static_cast<std::byte>(rng());
        if (rng() % 3 == 0) in.resize(rng() % (in.size() + 1));
      }
      if (in.size() >= 4 && rng() % 2) {
        in[2] = std::byte{0};
        in[3] = std::byte{0};
        p.decomp->reset();
      }
      std::span<std::byte> o(out.data(), rng() % 8 ? out.size() : rng() % 50);
      const int n = p.decomp->decompress(in, o);
      ASSERT_TRUE(n == Decompressor::kError || n == Decompressor::kFatalError ||
                  (n >= 2 && n <= static_cast<int>(o.size())));
      if (rng() % 10 == 0) p.decomp->incomp(in);
    }
  }
}

TEST_F(BsdComp, MakeCompressorDispatchesOnTheOptionType) {
  EXPECT_EQ(make_compressor(std::vector<uint8_t>{18, 6, 0, 0, 0, 0x40}), nullptr);
  EXPECT_EQ(make_decompressor(std::vector<uint8_t>{}), nullptr);
  EXPECT_EQ(make_decompressor(std::vector<uint8_t>{kCiBsdCompress, 1, 0x2f}), nullptr);
  EXPECT_EQ(make_decompressor(std::vector<uint8_t>{kCiBsdCompress, 4, 0x2f}), nullptr);
  auto c = make_compressor(option(15));
  ASSERT_TRUE(c);
  // A BSD compressor: its frames start with PPP_COMP and sequence 0.
  ASSERT_TRUE(c->init(option(15), 3, 0));
  Bytes wire(300);
  ASSERT_GT(c->compress(frame(0x0021, std::string(200, 'k')), wire), 0u);
  EXPECT_EQ(wire[0], std::byte{0x00});
  EXPECT_EQ(wire[1], std::byte{0xfd});
}

}  // namespace
}  // namespace cusenet
