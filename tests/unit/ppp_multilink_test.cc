// Multilink (RFC 1990) as ppp_generic does it: a unit with SC_MULTILINK
// splitting frames over its channels (headers, sizes, order, busy and
// unusable channels, short sequence numbers), and the receive side
// rebuilding them from fragments that arrive reordered or not at all.
#include "tests/unit/ppp_fixture.h"

namespace cusenet::ppp_test {
namespace {

constexpr uint8_t kB = 0x80, kE = 0x40;

// A multilink fragment as a channel carries it.
Bytes frag(uint32_t seq, uint8_t bits, const Bytes& data, bool short_seq = false) {
  const auto at = [seq](int shift) { return static_cast<int>((seq >> shift) & 0xff); };
  const Bytes header = short_seq ? bytes({bits | (at(8) & 0x0f), at(0)})
                                 : bytes({bits, at(16), at(8), at(0)});
  return ppp(PPP_MP, concat(header, data));
}

// The frame's data as the first fragment carries it: protocol compressed.
Bytes pfc(const Bytes& ip) {
  Bytes b(ip.size() + 1);
  b[0] = std::byte{PPP_IP};
  std::copy(ip.begin(), ip.end(), b.begin() + 1);
  return b;
}

Bytes slice(const Bytes& b, size_t from, size_t n) { return Bytes(b.begin() + from, b.begin() + from + n); }

// Unit 0 with `n` recording channels connected, in order.
class PppMultilinkTest : public PppTest {
 protected:
  void connect(int n, int mtu = 1500) {
    u = unit_file();
    for (int i = 0; i < n; ++i) {
      ttys.push_back(std::make_unique<TestChannel>());
      chans.push_back(register_channel(*ttys.back(), mtu));
      files.push_back(channel_file(chans.back()->index()));
      ASSERT_EQ(set_int(files.back(), PPPIOCCONNECT, 0), 0);
    }
    link = factory.link("ppp0");
  }
  void TearDown() override {
    files.clear();
    u.reset();
    chans.clear();
  }
  std::vector<Bytes> sent(int i) { return ttys[i]->take(); }

  std::vector<std::unique_ptr<TestChannel>> ttys;
  std::vector<std::unique_ptr<PppChannel>> chans;
  std::vector<Opened> files;
  Opened u;
  FakeLink* link = nullptr;
};

TEST_F(PppMultilinkTest, AFrameIsSplitEvenlyOverTheFreeChannels) {
  connect(3);
  ASSERT_EQ(set_int(u, PPPIOCSFLAGS, SC_MULTILINK), 0);
  const Bytes ip = ipv4(IPPROTO_UDP, 1, 2, 3, 4, 272);  // 300 bytes
  link->transmit(ip);
  // 301 bytes with the compressed protocol: 101 + 100 + 100.
  const Bytes data = pfc(ip);
  EXPECT_EQ(sent(0), std::vector<Bytes>{frag(0, kB, slice(data, 0, 101))});
  EXPECT_EQ(sent(1), std::vector<Bytes>{frag(1, 0, slice(data, 101, 100))});
  EXPECT_EQ(sent(2), std::vector<Bytes>{frag(2, kE, slice(data, 201, 100))});

  // The next frame starts after the channel used last (wrapping to the
  // first), and a 0x80xx protocol cannot be compressed.
  const Bytes ipcp = ppp(PPP_IPCP, bytes({1, 1, 0, 4}));
  write(u, ipcp);
  EXPECT_EQ(sent(0), std::vector<Bytes>{frag(3, kB, slice(ipcp, 0, 2))});
  EXPECT_EQ(sent(1), std::vector<Bytes>{frag(4, 0, slice(ipcp, 2, 2))});
  EXPECT_EQ(sent(2), std::vector<Bytes>{frag(5, kE, slice(ipcp, 4, 2))});
  // Writes on a channel file go out as they are, no multilink header.
  write(files[1], ppp(PPP_LCP, bytes({9, 1, 0, 4})));
  EXPECT_EQ(sent(1), std::vector<Bytes>{ppp(PPP_LCP, bytes({9, 1, 0, 4}))});
}

TEST_F(PppMultilinkTest, ShortSequenceNumbersTakeTwelveBits) {
  connect(2);
  ASSERT_EQ(set_int(u, PPPIOCSFLAGS, SC_MULTILINK | SC_MP_XSHORTSEQ), 0);
  const Bytes ipcp = ppp(PPP_IPCP, bytes({1, 1, 0, 4}));
  for (int i = 0; i < 0x1000 / 2; ++i) write(u, ipcp);  // up to sequence 0xfff
  ttys[0]->take();
  ttys[1]->take();
  write(u, ipcp);
  // 0x1000 goes out as 0x000: the low twelve bits.
  EXPECT_EQ(sent(0), std::vector<Bytes>{ppp(PPP_MP, bytes({kB, 0x00, 0x80, 0x21, 0x01}))});
  EXPECT_EQ(sent(1), std::vector<Bytes>{frag(0x1001, kE, slice(ipcp, 3, 3), true)});
}

TEST_F(PppMultilinkTest, FragmentsRespectEachChannelsMtu) {
  connect(2, 50);
  ASSERT_EQ(set_int(u, PPPIOCSFLAGS, SC_MULTILINK), 0);
  const Bytes ip = ipv4(IPPROTO_UDP, 1, 2, 3, 4, 172);  // 200 bytes, 201 with the protocol
  link->transmit(ip);
  // 46 bytes of data per fragment (mtu 50 less the 4 header bytes past the
  // protocol), handed round until the frame is out.
  std::vector<Bytes> a = sent(0), b = sent(1);
  ASSERT_EQ(a.size() + b.size(), 5u);
  Bytes rebuilt;
  for (uint32_t seq = 0; seq < 5; ++seq) {
    const std::vector<Bytes>& from = seq % 2 ? b : a;
    const Bytes& f = from[seq / 2];
    EXPECT_LE(f.size(), 50u + 2u);
    EXPECT_EQ(std::to_integer<uint32_t>(f[5]), seq);
    rebuilt = concat(rebuilt, Bytes(f.begin() + 6, f.end()));
  }
  EXPECT_EQ(rebuilt, pfc(ip));
  EXPECT_EQ(a.front()[2], std::byte{kB});
  EXPECT_EQ(a.back()[2], std::byte{kE});
}

TEST_F(PppMultilinkTest, BusyChannelsHoldTheFrameUntilHalfAreFree) {
  connect(4);
  ASSERT_EQ(set_int(u, PPPIOCSFLAGS, SC_MULTILINK), 0);
  for (int i = 1; i < 4; ++i) ttys[i]->refuse = true;
  const Bytes ipcp = ppp(PPP_IPCP, bytes({1, 1, 0, 4, 5, 6, 7, 8}));
  write(u, ipcp);  // four fragments; three channels keep theirs queued
  EXPECT_EQ(sent(0).size(), 1u);
  write(u, ipcp);  // one free channel of four: wait
  EXPECT_TRUE(sent(0).empty());
  EXPECT_EQ(unit_info(0).xmit_queue, 0u) << "held as the pending frame";
  ttys[1]->refuse = false;
  chans[1]->output_wakeup();  // two free: go
  EXPECT_EQ(sent(1).size(), 2u) << "its old fragment and a new one";
  EXPECT_EQ(sent(0).size(), 1u);
  for (int i = 2; i < 4; ++i) {
    ttys[i]->refuse = false;
    chans[i]->output_wakeup();
    EXPECT_EQ(sent(i).size(), 1u);
  }
}

TEST_F(PppMultilinkTest, UnregisteredChannelsLeaveTheBundle) {
  connect(3);
  ASSERT_EQ(set_int(u, PPPIOCSFLAGS, SC_MULTILINK), 0);
  chans[1]->unregister();
  const Bytes ipcp = ppp(PPP_IPCP, bytes({1, 1, 0, 4}));
  write(u, ipcp);
  EXPECT_EQ(sent(0), std::vector<Bytes>{frag(0, kB, slice(ipcp, 0, 3))});
  EXPECT_EQ(sent(2), std::vector<Bytes>{frag(1, kE, slice(ipcp, 3, 3))});
}

// The receive side: fragments fed to unit 0's channels by hand.
class PppReassemblyTest : public PppMultilinkTest {
 protected:
  void SetUp() override {
    connect(2);
    ASSERT_EQ(set_int(u, PPPIOCSMRRU, 1500), 0);
  }
  void in(int channel, const Bytes& f) { input(*chans[channel], f); }
};

TEST_F(PppReassemblyTest, FragmentsArrivingOutOfOrderAreRebuilt) {
  const Bytes ip = ipv4(IPPROTO_UDP, 1, 2, 3, 4, 100);
  const Bytes data = pfc(ip);
  in(1, frag(1, 0, slice(data, 40, 40)));
  in(1, frag(2, kE, slice(data, 80, data.size() - 80)));
  EXPECT_TRUE(link->received().empty()) << "fragment 0 may still come on channel 1";
  in(0, frag(0, kB, slice(data, 0, 40)));
  EXPECT_EQ(link->received(), std::vector<Bytes>{ip});
  // A whole frame in one fragment, protocol uncompressed this time.
  in(0, frag(3, kB | kE, ppp(PPP_IP, ip)));
  EXPECT_EQ(link->received().size(), 2u);
  // Control protocols inside go to pppd.
  in(1, frag(4, kB | kE, ppp(PPP_IPCP, bytes({1, 1, 0, 4}))));
  EXPECT_EQ(read(u), ppp(PPP_IPCP, bytes({1, 1, 0, 4})));
  EXPECT_EQ(unit_info(0).rx_errors, 0u);
  EXPECT_EQ(unit_info(0).mp_queue, 0u);
}

TEST_F(PppReassemblyTest, ALostFragmentIsGivenUpOnceEveryChannelHasPassedIt) {
  const Bytes ip3 = ipv4(IPPROTO_UDP, 1, 2, 3, 4, 30, 0, 3);
  const Bytes ip4 = ipv4(IPPROTO_UDP, 1, 2, 3, 4, 30, 0, 4);
  in(0, frag(0, kB, bytes({PPP_IP, 1, 2})));
  // fragment 1 is lost
  in(0, frag(2, kE, bytes({3, 4})));
  in(0, frag(3, kB | kE, pfc(ip3)));
  EXPECT_TRUE(link->received().empty()) << "channel 1 could still deliver 1";
  EXPECT_EQ(unit_info(0).mp_queue, 3u);
  in(1, frag(4, kB | kE, pfc(ip4)));  // now both channels are past 1
  EXPECT_EQ(link->received(), (std::vector<Bytes>{ip3, ip4}));
  EXPECT_EQ(unit_info(0).rx_dropped, 1u);
  EXPECT_EQ(unit_info(0).rx_errors, 1u);
  EXPECT_EQ(unit_info(0).mp_queue, 0u);
  in(1, frag(2, kB | kE, pfc(ip3)));
  EXPECT_EQ(link->received().size(), 2u) << "older than the next expected: dropped";
  EXPECT_EQ(unit_info(0).rx_dropped, 2u);
}

TEST_F(PppReassemblyTest, ALongQueueStopsWaitingForASilentChannel) {
  // Fragment 0 is lost and channel 1 never speaks: only the queue's length
  // (PPP_MP_MAX_QLEN) lets the rest through.
  in(0, frag(1, kE, bytes({1, 2})));
  std::vector<Bytes> sent;
  for (uint32_t seq = 2; seq < 128; ++seq) {
    sent.push_back(ipv4(IPPROTO_UDP, 1, 2, 3, 4, 8, 0, static_cast<uint16_t>(seq)));
    in(0, frag(seq, kB | kE, pfc(sent.back())));
  }
  EXPECT_TRUE(link->received().empty());
  EXPECT_EQ(unit_info(0).mp_queue, 127u);
  sent.push_back(ipv4(IPPROTO_UDP, 1, 2, 3, 4, 8, 0, 128));
  in(0, frag(128, kB | kE, pfc(sent.back())));
  EXPECT_EQ(link->received(), sent);
  EXPECT_EQ(unit_info(0).mp_queue, 0u);
}

TEST_F(PppReassemblyTest, FramesOverTheMrruAndFragmentsWithoutOneAreErrors) {
  ASSERT_EQ(set_int(u, PPPIOCSMRRU, 60), 0);
  const Bytes big = ipv4(IPPROTO_UDP, 1, 2, 3, 4, 40);   // 68 bytes + 1
  const Bytes fits = ipv4(IPPROTO_UDP, 1, 2, 3, 4, 20);  // 48 + 1
  in(0, frag(0, kB, slice(pfc(big), 0, 30)));
  in(0, frag(1, kE, slice(pfc(big), 30, 39)));
  in(0, frag(2, kB | kE, pfc(fits)));
  EXPECT_EQ(link->received(), std::vector<Bytes>{fits});
  EXPECT_EQ(unit_info(0).rx_length_errors, 1u);

  ASSERT_EQ(set_int(u, PPPIOCSMRRU, 0), 0);  // multilink receive off
  in(0, frag(3, kB | kE, pfc(fits)));
  in(0, bytes({0, PPP_MP, kB, 0, 0}));  // too short for a header and data
  EXPECT_EQ(link->received().size(), 1u);
  EXPECT_EQ(unit_info(0).rx_errors, 2u);
}

TEST_F(PppReassemblyTest, ShortSequenceNumbersOnReceive) {
  ASSERT_EQ(set_int(u, PPPIOCSFLAGS, SC_MP_SHORTSEQ), 0);
  const Bytes ip = ipv4(IPPROTO_UDP, 1, 2, 3, 4, 20);
  const Bytes data = pfc(ip);
  in(1, frag(1, kE, slice(data, 10, data.size() - 10), true));
  in(0, frag(0, kB, slice(data, 0, 10), true));
  EXPECT_EQ(link->received(), std::vector<Bytes>{ip});
}

TEST_F(PppReassemblyTest, TurningMultilinkOnExpectsSequenceZeroAgain) {
  const Bytes ip = ipv4(IPPROTO_UDP, 1, 2, 3, 4, 20);
  for (uint32_t seq = 0; seq < 3; ++seq) in(0, frag(seq, kB | kE, pfc(ip)));
  EXPECT_EQ(link->received().size(), 3u);
  ASSERT_EQ(set_int(u, PPPIOCSFLAGS, SC_MULTILINK), 0);
  in(0, frag(0, kB | kE, pfc(ip)));
  EXPECT_EQ(link->received().size(), 4u) << "without the restart it would be old";
  ASSERT_EQ(set_int(u, PPPIOCSFLAGS, SC_MULTILINK), 0);  // already on: no restart
  in(0, frag(0, kB | kE, pfc(ip)));
  EXPECT_EQ(link->received().size(), 4u);
}

// Two units over two pipe channel pairs: A splits, B rebuilds.
TEST_F(PppTest, MultilinkBundleOverTwoWires) {
  auto w1 = pipe(), w2 = pipe();  // channels 1-2 and 3-4
  Opened a1 = channel_file(1), b1 = channel_file(2), a2 = channel_file(3), b2 = channel_file(4);
  Opened ua = unit_file(), ub = unit_file();
  for (const auto& [f, unit] : std::vector<std::pair<Opened, int>>{{a1, 0}, {a2, 0}, {b1, 1}, {b2, 1}})
    ASSERT_EQ(set_int(f, PPPIOCCONNECT, unit), 0);
  ASSERT_EQ(set_int(ua, PPPIOCSFLAGS, SC_MULTILINK), 0);
  ASSERT_EQ(set_int(ub, PPPIOCSFLAGS, SC_MULTILINK), 0);
  ASSERT_EQ(set_int(ub, PPPIOCSMRRU, 1500), 0);
  FakeLink* la = factory.link("ppp0");
  FakeLink* lb = factory.link("ppp1");

  std::vector<Bytes> sent;
  for (int i = 0; i < 5; ++i) {
    sent.push_back(ipv4(IPPROTO_UDP, 1, 2, 3, 4, 1000, 0, static_cast<uint16_t>(i)));
    la->transmit(sent.back());
  }
  EXPECT_EQ(lb->received(), sent);
  EXPECT_EQ(w1->carried(0), 5u);
  EXPECT_EQ(w2->carried(0), 5u);

  // One wire stalls: A carries on over the other, B waits for the stalled
  // one's fragment before it can tell what is lost, then catches up.
  w1->pause(0);
  for (int i = 5; i < 10; ++i) {
    sent.push_back(ipv4(IPPROTO_UDP, 1, 2, 3, 4, 1000, 0, static_cast<uint16_t>(i)));
    la->transmit(sent.back());
  }
  EXPECT_EQ(lb->received().size(), 5u);
  w1->resume(0);
  EXPECT_EQ(lb->received(), sent);
  EXPECT_EQ(unit_info(1).rx_errors, 0u);
}

}  // namespace
}  // namespace cusenet::ppp_test
