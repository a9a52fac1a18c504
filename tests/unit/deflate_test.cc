#include <gtest/gtest.h>
#include <zlib.h>

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

class Deflate : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { log::init(log::Level::warning, false); }
};

std::vector<uint8_t> option(uint8_t type, int window) {
  return {type, 4, static_cast<uint8_t>((window - 8) << 4 | 8), 0};
}

Bytes frame(uint16_t proto, const std::string& payload) {
  Bytes f(2 + payload.size());
  f[0] = static_cast<std::byte>(proto >> 8);
  f[1] = static_cast<std::byte>(proto);
  std::memcpy(f.data() + 2, payload.data(), payload.size());
  return f;
}

Bytes random_frame(std::mt19937& rng, uint16_t proto, size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return frame(proto, s);
}

// Text that compresses like real traffic: words from a small vocabulary.
Bytes text_frame(std::mt19937& rng, uint16_t proto, size_t n) {
  static const char* words[] = {"GET ",         "/index.html ", "HTTP/1.1\r\n", "Host: ",
                                "example.org ", "Accept: ",     "text/html ",   "the ",
                                "quick ",       "brown ",       "fox "};
  std::string s;
  while (s.size() < n) s += words[rng() % std::size(words)];
  s.resize(n);
  return frame(proto, s);
}

struct Pair {
  std::unique_ptr<Compressor> comp;
  std::unique_ptr<Decompressor> decomp;
  explicit Pair(uint8_t type = kCiDeflate, int window = 15) {
    auto o = option(type, window);
    comp = make_compressor(o);
    decomp = make_decompressor(o);
    EXPECT_TRUE(comp && decomp);
    if (!comp || !decomp) return;
    EXPECT_TRUE(comp->init(o, 0, 0));
    EXPECT_TRUE(decomp->init(o, 0, 1500, 0));
  }
  // Sends f; the receiver must get it back. Returns the compressed length
  // (0: sent as it is).
  size_t pass(const Bytes& f, size_t mru = 1500) {
    Bytes wire(f.size() + 100);
    size_t n = comp->compress(f, wire);
    Bytes out(mru + 2);
    if (n == 0) {
      decomp->incomp(f);
      return 0;
    }
    wire.resize(n);
    int got = decomp->decompress(wire, out);
    EXPECT_GT(got, 0);
    if (got <= 0) return n;
    out.resize(static_cast<size_t>(got));
    EXPECT_EQ(out, f);
    return n;
  }
};

// What zlib itself makes of the same bytes: raw deflate, window 15,
// memLevel 8, default level, a sync flush per packet.
struct Reference {
  z_stream s{};
  Reference() { deflateInit2(&s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY); }
  ~Reference() { deflateEnd(&s); }
  std::vector<uint8_t> flush(const std::byte* p, size_t n) {
    std::vector<uint8_t> out(n + 1024);
    s.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(p));
    s.avail_in = static_cast<uInt>(n);
    s.next_out = out.data();
    s.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&s, Z_SYNC_FLUSH), Z_OK);
    out.erase(out.end() - s.avail_out, out.end());
    return out;
  }
};

TEST_F(Deflate, OptionsAsPppDeflateAcceptsThem) {
  for (int w = 9; w <= 15; ++w) {
    EXPECT_NE(make_compressor(option(kCiDeflate, w)), nullptr) << w;
    EXPECT_NE(make_decompressor(option(kCiDeflateDraft, w)), nullptr) << w;
  }
  EXPECT_EQ(make_compressor(option(kCiDeflate, 8)), nullptr);  // the kernel refuses 8
  EXPECT_EQ(make_decompressor(option(kCiDeflate, 8)), nullptr);
  std::vector<uint8_t> o = option(kCiDeflate, 15);
  o[2] = 0x79;  // method 9
  EXPECT_EQ(make_compressor(o), nullptr);
  o = option(kCiDeflate, 15);
  o[3] = 1;  // no sequence-number check
  EXPECT_EQ(make_compressor(o), nullptr);
  o = option(kCiDeflate, 15);
  o[1] = 3;
  EXPECT_EQ(make_compressor(o), nullptr);
  o = option(kCiDeflate, 15);
  o.push_back(0);  // the option must be exactly 4 bytes
  EXPECT_EQ(make_decompressor(o), nullptr);
  EXPECT_EQ(make_compressor(std::vector<uint8_t>{kCiDeflate}), nullptr);
  EXPECT_EQ(make_compressor(std::vector<uint8_t>{kCiDeflate, 4, 0x78}), nullptr);

  // init takes either type and a longer buffer, but only the same window.
  auto c = make_compressor(option(kCiDeflate, 12));
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->init(option(kCiDeflate, 13), 0, 0));
  EXPECT_TRUE(c->init(option(kCiDeflateDraft, 12), 0, 0));
  o = option(kCiDeflate, 12);
  o.push_back(0xaa);
  EXPECT_TRUE(c->init(o, 0, 0));
  auto d = make_decompressor(option(kCiDeflateDraft, 12));
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->init(option(kCiDeflateDraft, 11), 0, 1500, 0));
  EXPECT_TRUE(d->init(option(kCiDeflate, 12), 0, 1500, 0));
}

// The bytes on the wire: PPP_COMP, the sequence number, then exactly what
// zlib's raw deflate makes of protocol (leading zero dropped) + payload
// with a sync flush, minus the flush's 00 00 ff ff.
TEST_F(Deflate, WireFormatIsRawDeflateWithStrippedSyncFlush) {
  Pair p;
  Reference ref;
  std::mt19937 rng(1);
  for (uint16_t seq = 0; seq < 20; ++seq) {
    // 0x0281 (MPLS) keeps both protocol bytes; 0x0021 (IP) sends one.
    const uint16_t proto = seq % 4 == 3 ? 0x0281 : 0x0021;
    Bytes f = text_frame(rng, proto, 200 + rng() % 800);
    Bytes wire(f.size());
    size_t n = p.comp->compress(f, wire);
    ASSERT_GT(n, 4u);
    const size_t skip = proto > 0xff ? 0 : 1;
    auto z = ref.flush(f.data() + skip, f.size() - skip);
    ASSERT_GE(z.size(), 4u);
    EXPECT_EQ((std::vector<uint8_t>(z.end() - 4, z.end())),
              (std::vector<uint8_t>{0, 0, 0xff, 0xff}));
    std::vector<uint8_t> want = {0x00, 0xfd, static_cast<uint8_t>(seq >> 8),
                                 static_cast<uint8_t>(seq)};
    want.insert(want.end(), z.begin(), z.end() - 4);
    std::vector<uint8_t> got(n);
    std::memcpy(got.data(), wire.data(), n);
    EXPECT_EQ(got, want) << "packet " << seq;
  }
}

// A frame built by hand: a stored block holding "\x21hi" followed by the
// stripped flush marker, decodes to protocol 0x0021 + "hi".
TEST_F(Deflate, DecodesAHandBuiltStoredBlock) {
  Pair p;
  const uint8_t wire[] = {0x00, 0xfd, 0x00, 0x00, 0x00, 0x03,
                          0x00, 0xfc, 0xff, 0x21, 'h',  'i',  // stored, LEN 3
                          0x00};                              // empty stored header
  Bytes in(sizeof wire);
  std::memcpy(in.data(), wire, sizeof wire);
  Bytes out(100);
  ASSERT_EQ(p.decomp->decompress(in, out), 4);
  EXPECT_EQ(out[0], std::byte{0x00});
  EXPECT_EQ(out[1], std::byte{0x21});
  EXPECT_EQ(out[2], std::byte{'h'});
  EXPECT_EQ(out[3], std::byte{'i'});
  // The same block with the 00 00 ff ff left on does not end at a flush
  // point, which the kernel's inflate refuses.
  Pair q;
  in.insert(in.end(), {std::byte{0}, std::byte{0}, std::byte{0xff}, std::byte{0xff}});
  EXPECT_EQ(q.decomp->decompress(in, out), Decompressor::kFatalError);
}

TEST_F(Deflate, RoundTripsTextAndRandomFramesWithHistory) {
  for (uint8_t type : {kCiDeflate, kCiDeflateDraft}) {
    for (int w : {9, 12, 15}) {
      Pair p(type, w);
      std::mt19937 rng(static_cast<unsigned>(w));
      size_t compressed = 0, sent_plain = 0;
      for (int i = 0; i < 300; ++i) {
        Bytes f;
        switch (rng() % 4) {
          case 0: f = random_frame(rng, 0x0021, 1 + rng() % 1400); break;
          case 1: f = text_frame(rng, 0x0057, 1 + rng() % 1400); break;
          case 2: f = text_frame(rng, 0x0281, rng() % 600); break;
          default: f = text_frame(rng, 0x0021, 1 + rng() % 1400); break;
        }
        (p.pass(f) ? compressed : sent_plain)++;
        if (HasFailure()) FAIL() << "type " << int{type} << " window " << w << " packet " << i;
      }
      EXPECT_GT(compressed, 100u);
      EXPECT_GT(sent_plain, 30u);  // the random frames, whose history the peer keeps with incomp
    }
  }
}

// An incompressible frame goes out as it is, but both histories hold it:
// the same bytes again compress to a back-reference the receiver resolves
// only through incomp().
TEST_F(Deflate, IncompressibleFramesStillFeedTheHistory) {
  Pair p;
  std::mt19937 rng(9);
  const Bytes noise = random_frame(rng, 0x0021, 1000);
  Bytes wire(1100), out(1502);
  ASSERT_EQ(p.comp->compress(noise, wire), 0u);
  p.decomp->incomp(noise);
  const size_t n = p.comp->compress(noise, wire);
  ASSERT_GT(n, 0u);
  EXPECT_LT(n, 40u);
  wire.resize(n);
  EXPECT_EQ(wire[3], std::byte{1});  // the plain frame used sequence number 0
  ASSERT_EQ(p.decomp->decompress(wire, out), static_cast<int>(noise.size()));
  EXPECT_TRUE(std::equal(noise.begin(), noise.end(), out.begin()));
}

TEST_F(Deflate, ControlProtocolsAreNotCompressedAndSkipTheSequence) {
  Pair p;
  std::mt19937 rng(3);
  const Bytes lcp = text_frame(rng, 0xc021, 300);
  Bytes wire(400);
  EXPECT_EQ(p.comp->compress(lcp, wire), 0u);
  EXPECT_EQ(p.comp->compress(text_frame(rng, 0x00fd, 300), wire), 0u);
  EXPECT_EQ(p.comp->compress(text_frame(rng, 0x00fb, 300), wire), 0u);
  p.decomp->incomp(lcp);  // ignored: it takes no sequence number
  EXPECT_EQ(p.comp->stats().unc_packets, 0u);
  EXPECT_EQ(p.decomp->stats().inc_packets, 0u);
  const Bytes ip = text_frame(rng, 0x0021, 300);
  ASSERT_GT(p.comp->compress(ip, wire), 0u);
  EXPECT_EQ(wire[2], std::byte{0});
  EXPECT_EQ(wire[3], std::byte{0});
}

TEST_F(Deflate, WrongSequenceNumberIsARecoverableError) {
  Pair p;
  std::mt19937 rng(4);
  Bytes f1 = text_frame(rng, 0x0021, 500), f2 = text_frame(rng, 0x0021, 500);
  Bytes w1(600), w2(600);
  w1.resize(p.comp->compress(f1, w1));
  w2.resize(p.comp->compress(f2, w2));
  ASSERT_FALSE(w1.empty());
  ASSERT_FALSE(w2.empty());
  Bytes out(1502);
  // Frame 0 lost: frame 1 carries the wrong number.
  EXPECT_EQ(p.decomp->decompress(w2, out), Decompressor::kError);
  EXPECT_EQ(p.decomp->decompress(w2, out), Decompressor::kError);
  // A CCP reset on both ends starts again at 0.
  p.comp->reset();
  p.decomp->reset();
  Bytes w3(600);
  w3.resize(p.comp->compress(f2, w3));
  EXPECT_EQ(w3[2], std::byte{0});
  EXPECT_EQ(w3[3], std::byte{0});
  ASSERT_EQ(p.decomp->decompress(w3, out), static_cast<int>(f2.size()));
  EXPECT_TRUE(std::equal(f2.begin(), f2.end(), out.begin()));
}

TEST_F(Deflate, ShortFramesAndSmallBuffers) {
  Pair p;
  Bytes out(1502);
  for (size_t n = 0; n <= 4; ++n) {
    Bytes f(n, std::byte{0});
    if (n > 1) f[1] = std::byte{0xfd};
    EXPECT_EQ(p.decomp->decompress(f, out), Decompressor::kError) << n;
  }
  std::mt19937 rng(5);
  Bytes f = text_frame(rng, 0x0021, 1000);
  Bytes wire(1100);
  wire.resize(p.comp->compress(f, wire));
  ASSERT_FALSE(wire.empty());
  // One byte short of the frame: the kernel's "ran out of mru".
  Bytes small(f.size() - 1);
  EXPECT_EQ(p.decomp->decompress(wire, small), Decompressor::kFatalError);
  // Exactly enough.
  Pair q;
  Bytes w2(1100);
  w2.resize(q.comp->compress(f, w2));
  Bytes exact(f.size());
  EXPECT_EQ(q.decomp->decompress(w2, exact), static_cast<int>(f.size()));
  EXPECT_EQ(exact, f);
  // The compressor never writes past out and sends uncompressed instead.
  Pair r;
  Bytes tight(w2.size() - 1);
  EXPECT_EQ(r.comp->compress(f, tight), 0u);
  EXPECT_EQ(r.comp->stats().inc_packets, 1u);
}

TEST_F(Deflate, StatsCountLikePppDeflate) {
  Pair p;
  std::mt19937 rng(6);
  Bytes text = text_frame(rng, 0x0021, 800);
  Bytes noise = random_frame(rng, 0x0021, 800);
  Bytes wire(900), out(1502);
  size_t n = p.comp->compress(text, wire);
  ASSERT_GT(n, 0u);
  wire.resize(n);
  ASSERT_EQ(p.decomp->decompress(wire, out), static_cast<int>(text.size()));
  Bytes w2(900);
  ASSERT_EQ(p.comp->compress(noise, w2), 0u);
  p.decomp->incomp(noise);
  // The kernel's frames still hold the 2 address/control bytes.
  CompStats c = p.comp->stats();
  EXPECT_EQ(c.unc_packets, 2u);
  EXPECT_EQ(c.unc_bytes, text.size() + 2 + noise.size() + 2);
  EXPECT_EQ(c.comp_packets, 1u);
  EXPECT_EQ(c.comp_bytes, n + 2);
  EXPECT_EQ(c.inc_packets, 1u);
  EXPECT_EQ(c.inc_bytes, noise.size() + 2);
  CompStats d = p.decomp->stats();
  EXPECT_EQ(d.comp_packets, 1u);
  EXPECT_EQ(d.comp_bytes, n + 2);
  EXPECT_EQ(d.unc_packets, 2u);
  EXPECT_EQ(d.unc_bytes, text.size() + 2 + noise.size() + 2);
  EXPECT_EQ(d.inc_packets, 1u);
  EXPECT_EQ(d.inc_bytes, noise.size() + 2);
}

TEST_F(Deflate, DecompressedProtocolByteDecidesItsWidth) {
  Pair p;
  Bytes out(1502);
  for (uint16_t proto : {0x0021, 0x0057, 0x0281, 0x3e01, 0x0001}) {
    Bytes f = frame(proto, std::string(200, 'a'));
    Bytes wire(300);
    wire.resize(p.comp->compress(f, wire));
    ASSERT_FALSE(wire.empty()) << proto;
    ASSERT_EQ(p.decomp->decompress(wire, out), static_cast<int>(f.size())) << proto;
    EXPECT_EQ(out[0], f[0]);
    EXPECT_EQ(out[1], f[1]);
  }
}

TEST_F(Deflate, GarbageNeverCrashes) {
  std::mt19937 rng(8);
  Pair src;
  std::vector<Bytes> valid;
  for (int i = 0; i < 30; ++i) {
    Bytes f = text_frame(rng, 0x0021, 50 + rng() % 500);
    Bytes w(f.size());
    w.resize(src.comp->compress(f, w));
    if (!w.empty()) valid.push_back(w);
  }
  ASSERT_FALSE(valid.empty());
  Pair p;
  Bytes out(1502);
  int ok = 0;
  for (int i = 0; i < 20000; ++i) {
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
    // Keep the sequence number right often enough to reach inflate.
    if (in.size() >= 4 && rng() % 4) {
      in[2] = std::byte{0};
      in[3] = std::byte{0};
      p.decomp->reset();
    }
    std::span<std::byte> o(out.data(), rng() % 8 ? out.size() : rng() % 50);
    int n = p.decomp->decompress(in, o);
    ASSERT_TRUE(n == Decompressor::kError || n == Decompressor::kFatalError ||
                (n >= 2 && n <= static_cast<int>(o.size())));
    if (n > 0) ++ok;
    if (rng() % 10 == 0) p.decomp->incomp(in);
  }
  EXPECT_GT(ok, 0);
}

}  // namespace
}  // namespace cusenet
