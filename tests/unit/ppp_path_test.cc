// Frames through /dev/ppp in-process: two units joined by a pipe channel
// pair, or a unit and a recording channel. Both directions between the
// stacks, pppd's read queues, read/write/poll semantics, npmode,
// SC_LOOP_TRAFFIC, flow control, the pass and active filters and the idle
// times, and many threads at once.
#include <thread>

#include "tests/unit/ppp_fixture.h"

namespace cusenet::ppp_test {
namespace {

using PppPathTest = PppTest;

// A unit with one recording channel connected.
class PppChannelTest : public PppTest {
 protected:
  void SetUp() override {
    chan = register_channel(tty);
    c = channel_file(chan->index());
    u = unit_file();
    ASSERT_EQ(set_int(c, PPPIOCCONNECT, 0), 0);
    link = factory.link("ppp0");
  }
  void TearDown() override {
    c.reset();
    u.reset();
    chan.reset();
  }
  TestChannel tty;
  std::unique_ptr<PppChannel> chan;
  Opened c, u;
  FakeLink* link = nullptr;
};

TEST_F(PppPairTest, IpPacketsCrossBetweenTheTwoStacks) {
  const Bytes v4 = udp4(), v6 = ipv6_packet();
  link_a->transmit(v4);
  link_a->transmit(v6);
  EXPECT_EQ(link_b->received(), (std::vector<Bytes>{v4, v6}));
  link_b->transmit(v4);
  EXPECT_EQ(link_a->received(), std::vector<Bytes>{v4});
  EXPECT_EQ(wire->carried(0), 2u);
  EXPECT_EQ(wire->carried(1), 1u);
  EXPECT_EQ(read(ub), std::nullopt) << "network frames are the stack's, not pppd's";

  link_a->transmit(bytes({0x50, 0, 0, 0}));  // neither IPv4 nor IPv6
  link_a->transmit({});
  EXPECT_EQ(unit_info(0).tx_dropped, 2u);
  EXPECT_EQ(unit_info(0).tx_packets, 2u);
  EXPECT_EQ(unit_info(0).tx_bytes, v4.size() + v6.size());
  EXPECT_EQ(unit_info(1).rx_packets, 2u);
  EXPECT_EQ(unit_info(1).rx_bytes, v4.size() + v6.size());
}

TEST_F(PppPairTest, WireEndsAnswerPppdsChannelIoctlsAsSyncTtyDoes) {
  EXPECT_EQ(set_int(ca, PPPIOCSFLAGS, SC_COMP_PROT | SC_COMP_AC), 0);
  EXPECT_EQ(get_int(ca, PPPIOCGFLAGS), SC_COMP_PROT | SC_COMP_AC);
  EXPECT_EQ(get_int(cb, PPPIOCGFLAGS), 0) << "each end its own";
  EXPECT_EQ(set_int(ca, PPPIOCSASYNCMAP, 0x000a0000), 0);
  EXPECT_EQ(get_int(ca, PPPIOCGASYNCMAP), 0x000a0000);
  EXPECT_EQ(set_int(ca, PPPIOCSRASYNCMAP, 0), 0);
  EXPECT_EQ(get_int(ca, PPPIOCGRASYNCMAP), 0);
  uint32_t accm[8] = {1, 0, 0xffffffff, 0};
  EXPECT_EQ(ioctl(ca, PPPIOCSXASYNCMAP, accm), 0);
  uint32_t got[8] = {};
  EXPECT_EQ(ioctl(ca, PPPIOCGXASYNCMAP, got), 0);
  EXPECT_EQ(got[0], 1u);
  EXPECT_EQ(got[2], 0xbfffffffu) << "0x5e never escaped";
  EXPECT_EQ(got[3], 0x60000000u) << "0x7d and 0x7e always";
  EXPECT_EQ(set_int(ca, PPPIOCSMRU, 296), 0);
  EXPECT_EQ(get_int(ca, PPPIOCGMRU), PPP_MRU) << "raised to the default";
  EXPECT_EQ(set_int(ca, PPPIOCSMRU, 4000), 0);
  EXPECT_EQ(get_int(ca, PPPIOCGMRU), 4000);
  int v = 0;
  EXPECT_EQ(ioctl(ca, PPPIOCGCHAN, &v), -ENOTTY);
  EXPECT_EQ(ioctl(ca, PPPIOCSFLAGS, nullptr), -EFAULT);
}

TEST_F(PppPairTest, ControlFramesReachTheRightFileOnTheOtherSide) {
  const Bytes ipcp = ppp(PPP_IPCP, bytes({1, 1, 0, 4}));
  const Bytes lcp = ppp(PPP_LCP, bytes({9, 1, 0, 8, 1, 2, 3, 4}));
  const Bytes unknown = ppp(0x4021, bytes({7}));
  EXPECT_EQ(write(ua, ipcp), 6);
  EXPECT_EQ(write(ca, lcp), ssize_t(lcp.size()));
  EXPECT_EQ(write(ua, lcp), ssize_t(lcp.size())) << "LCP through the unit still lands on the channel";
  EXPECT_EQ(write(ua, unknown), 3);
  EXPECT_EQ(read(ub), ipcp);
  EXPECT_EQ(read(ub), unknown) << "protocols with no npmode are pppd's";
  EXPECT_EQ(read(ub), std::nullopt);
  EXPECT_EQ(read(cb), lcp);
  EXPECT_EQ(read(cb), lcp);
  EXPECT_EQ(read(cb), std::nullopt);
}

TEST_F(PppPathTest, BeforeConnectEveryFrameIsTheChannelFilesAndCcpFragmentsAlways) {
  TestChannel tty;
  auto chan = register_channel(tty);
  Opened c = channel_file(1);
  Opened u = unit_file();
  input(*chan, ppp(PPP_IPCP, bytes({1, 1, 0, 4})));
  input(*chan, ppp(PPP_IP, udp4()));
  EXPECT_EQ(read(c), ppp(PPP_IPCP, bytes({1, 1, 0, 4})));
  EXPECT_EQ(read(c), ppp(PPP_IP, udp4()));
  ASSERT_EQ(set_int(c, PPPIOCCONNECT, 0), 0);
  input(*chan, ppp(PPP_CCPFRAG, bytes({1, 1, 0, 4})));
  EXPECT_EQ(read(c), ppp(PPP_CCPFRAG, bytes({1, 1, 0, 4})));
  EXPECT_EQ(read(u), std::nullopt);
}

TEST_F(PppChannelTest, ReadReturnsOneFrameAndRefusesShortBuffers) {
  EXPECT_EQ(read(u), std::nullopt);
  EXPECT_EQ(u->poll(), unsigned(POLLOUT | POLLWRNORM));
  const int before = notified;
  input(*chan, ppp(PPP_IPCP, bytes({1, 1, 0, 4})));
  input(*chan, ppp(PPP_IPCP, bytes({1, 2, 0, 4})));
  EXPECT_GT(notified, before) << "a parked read or poll is woken";
  EXPECT_EQ(u->poll(), unsigned(POLLOUT | POLLWRNORM | POLLIN | POLLRDNORM));
  Bytes small(5);
  EXPECT_EQ(u->read(small), -EOVERFLOW);
  EXPECT_EQ(read(u), ppp(PPP_IPCP, bytes({1, 2, 0, 4}))) << "the refused frame is gone";
  Bytes exact(6);
  input(*chan, ppp(PPP_IPCP, bytes({1, 3, 0, 4})));
  EXPECT_EQ(u->read(exact), 6);
  EXPECT_EQ(exact, ppp(PPP_IPCP, bytes({1, 3, 0, 4})));
}

TEST_F(PppChannelTest, WritesShorterThanAProtocolAreRefused) {
  for (const Opened& f : {u, c}) {
    EXPECT_EQ(write(f, {}), -EINVAL);
    EXPECT_EQ(write(f, bytes({0xc0})), -EINVAL);
  }
  EXPECT_TRUE(tty.take().empty());
  EXPECT_EQ(write(c, bytes({0xc0, 0x21})), 2) << "a bare protocol is a frame";
  EXPECT_EQ(tty.take(), std::vector<Bytes>{bytes({0xc0, 0x21})});
}

// ppp_read: end of file on a unit with no channel unless it loops traffic
// (demand mode); ppp_poll says POLLIN then.
TEST_F(PppPathTest, AUnitWithoutChannelsReadsEndOfFileUnlessItLoopsTraffic) {
  Opened u = unit_file();
  Bytes buf(100);
  EXPECT_EQ(u->read(buf), 0);
  EXPECT_EQ(u->poll(), unsigned(POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM));
  int flags = SC_LOOP_TRAFFIC;
  ASSERT_EQ(ioctl(u, PPPIOCSFLAGS, &flags), 0);
  EXPECT_EQ(u->read(buf), -EAGAIN);
  EXPECT_EQ(u->poll(), unsigned(POLLOUT | POLLWRNORM));
  flags = 0;
  ASSERT_EQ(ioctl(u, PPPIOCSFLAGS, &flags), 0);
  EXPECT_EQ(u->read(buf), 0);
  EXPECT_EQ(write(u, ppp(PPP_IPCP, bytes({1, 1, 0, 4}))), 6) << "nowhere to go: dropped";
  factory.link("ppp0")->transmit(udp4());
  EXPECT_EQ(unit_info(0).tx_packets, 2u);
  EXPECT_EQ(unit_info(0).xmit_queue, 0u);
}

TEST_F(PppPairTest, NpModeDecidesWhatEachSideLetsThrough) {
  const Bytes v4 = udp4(), v6 = ipv6_packet();
  for (NPmode mode : {NPMODE_DROP, NPMODE_QUEUE, NPMODE_ERROR}) {
    npioctl npi{PPP_IP, mode};
    ASSERT_EQ(ioctl(ua, PPPIOCSNPMODE, &npi), 0);
    link_a->transmit(v4);
    link_a->transmit(v6);
  }
  EXPECT_EQ(link_b->received(), (std::vector<Bytes>{v6, v6, v6})) << "only IPv4 stopped";
  EXPECT_EQ(unit_info(0).tx_dropped, 3u);
  // A mode no case names passes on transmit, as the kernel's switch falls
  // through, and stops on receive (anything but PASS).
  struct {
    int protocol, mode;
  } odd{PPP_IP, 7};  // an npioctl whose mode no NPmode names
  ASSERT_EQ(ioctl(ua, PPPIOCSNPMODE, &odd), 0);
  odd.mode = 0;
  ASSERT_EQ(ioctl(ua, PPPIOCGNPMODE, &odd), 0);
  EXPECT_EQ(odd.mode, 7) << "kept as given";
  link_a->transmit(v4);
  EXPECT_EQ(link_b->received().size(), 4u);

  npioctl npi;

  npi = {PPP_IPV6, NPMODE_DROP};
  ASSERT_EQ(ioctl(ub, PPPIOCSNPMODE, &npi), 0);
  link_a->transmit(v6);
  EXPECT_EQ(link_b->received().size(), 4u) << "B drops what it receives";
  EXPECT_EQ(read(ub), std::nullopt) << "and does not hand it to pppd";
  EXPECT_EQ(unit_info(1).rx_packets, 5u) << "counted before the npmode check";
  // pppd's own writes on the unit ignore npmode.
  npi = {PPP_IP, NPMODE_DROP};
  ASSERT_EQ(ioctl(ua, PPPIOCSNPMODE, &npi), 0);
  EXPECT_EQ(write(ua, ppp(PPP_IP, v4)), ssize_t(v4.size() + 2));
  EXPECT_EQ(link_b->received().back(), v4);
}

TEST_F(PppPairTest, LoopTrafficHandsTheStacksFramesToPppd) {
  ASSERT_EQ(set_int(ua, PPPIOCSFLAGS, SC_LOOP_TRAFFIC), 0);
  const Bytes v4 = udp4();
  link_a->transmit(v4);
  EXPECT_EQ(read(ua), ppp(PPP_IP, v4)) << "demand dialling: pppd sees what would bring the link up";
  EXPECT_EQ(wire->carried(0), 0u);
  EXPECT_TRUE(link_b->received().empty());
  for (int i = 0; i < 40; ++i) link_a->transmit(v4);
  int queued = 0;
  while (read(ua)) ++queued;
  EXPECT_EQ(queued, 33) << "the kernel stops at a queue longer than PPP_MAX_RQLEN";
  EXPECT_EQ(unit_info(0).tx_errors, 7u);
  ASSERT_EQ(set_int(ua, PPPIOCSFLAGS, 0), 0);
  link_a->transmit(v4);
  EXPECT_EQ(link_b->received(), std::vector<Bytes>{v4});
}

TEST_F(PppChannelTest, ACompressedProtocolFieldIsExpandedOnInput) {
  input(*chan, concat(bytes({0x21}), udp4()));
  EXPECT_EQ(link->received(), std::vector<Bytes>{udp4()});
  input(*chan, bytes({0x80}));  // one even byte: no protocol
  EXPECT_EQ(unit_info(0).rx_length_errors, 1u);
  EXPECT_EQ(unit_info(0).rx_errors, 1u);
  EXPECT_EQ(link->received().size(), 1u);
}

TEST_F(PppChannelTest, ReadQueuesKeepTheNewestFrames) {
  for (int i = 0; i < 40; ++i) input(*chan, ppp(PPP_LCP, bytes({9, i, 0, 4})));
  for (int i = 8; i < 40; ++i) EXPECT_EQ(read(c), ppp(PPP_LCP, bytes({9, i, 0, 4})));
  EXPECT_EQ(read(c), std::nullopt);
  for (int i = 0; i < 40; ++i) input(*chan, ppp(PPP_IPCP, bytes({9, i, 0, 4})));
  EXPECT_EQ(read(u), ppp(PPP_IPCP, bytes({9, 8, 0, 4})));
}

TEST_F(PppChannelTest, InputErrorsCountAsReceiveErrors) {
  chan->input_error();
  chan->input_error();
  EXPECT_EQ(unit_info(0).rx_errors, 2u);
}

TEST_F(PppChannelTest, ARefusingChannelGetsItsFramesAgainAfterOutputWakeup) {
  tty.refuse = true;
  for (int i = 0; i < 5; ++i) write(u, ppp(PPP_IPCP, bytes({1, i, 0, 4})));
  write(c, ppp(PPP_LCP, bytes({9, 9, 0, 4})));
  EXPECT_TRUE(tty.take().empty());
  EXPECT_GT(dev.channels()[0].xmit_queue, 0u);
  tty.refuse = false;
  chan->output_wakeup();
  std::vector<Bytes> sent = tty.take();
  ASSERT_EQ(sent.size(), 6u);
  std::vector<Bytes> from_unit;
  for (const Bytes& f : sent)
    if (proto_of(f) == PPP_IPCP) from_unit.push_back(f);
  ASSERT_EQ(from_unit.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(from_unit[i], ppp(PPP_IPCP, bytes({1, i, 0, 4}))) << "in order";
  EXPECT_EQ(dev.channels()[0].xmit_queue, 0u);
  EXPECT_EQ(unit_info(0).xmit_queue, 0u);
}

TEST_F(PppPairTest, APausedWireDeliversInOrderOnResume) {
  wire->pause(0);
  std::vector<Bytes> sent;
  for (int i = 0; i < 10; ++i) {
    sent.push_back(ipv4(IPPROTO_UDP, 1, 2, 3, 4, 10, 0, static_cast<uint16_t>(i)));
    link_a->transmit(sent.back());
  }
  EXPECT_TRUE(link_b->received().empty());
  wire->resume(0);
  EXPECT_EQ(link_b->received(), sent);
}

// BPF over the pseudo header: [direction][0][protocol 2][IPv4...].
std::vector<sock_filter> drop_udp_port(uint16_t port) {
  return {
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 2),        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PPP_IP, 0, 5),
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 4 + 9),    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, 3),
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 4 + 22),   BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 0),                 BPF_STMT(BPF_RET | BPF_K, 0xffff),
  };
}
std::vector<sock_filter> only_tcp() {
  return {
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 4 + 9),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 0xffff),
      BPF_STMT(BPF_RET | BPF_K, 0),
  };
}
std::vector<sock_filter> only_outbound() {
  return {
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 0xffff),
      BPF_STMT(BPF_RET | BPF_K, 0),
  };
}
std::vector<sock_filter> reject_all() { return {BPF_STMT(BPF_RET | BPF_K, 0)}; }

TEST_F(PppPairTest, ThePassFilterDropsDataFramesEachWay) {
  ASSERT_EQ(set_filter(ua, PPPIOCSPASS, drop_udp_port(9)), 0);
  link_a->transmit(udp4(9));
  link_a->transmit(udp4(10));
  EXPECT_EQ(link_b->received(), std::vector<Bytes>{udp4(10)});
  EXPECT_EQ(unit_info(0).tx_packets, 1u) << "dropped before it is counted";

  ASSERT_EQ(set_filter(ub, PPPIOCSPASS, drop_udp_port(10)), 0);
  link_a->transmit(udp4(10));
  EXPECT_EQ(link_b->received().size(), 1u) << "B's filter drops it on the way in";

  // The first byte says which way the frame goes.
  ASSERT_EQ(set_filter(ua, PPPIOCSPASS, only_outbound()), 0);
  ASSERT_EQ(set_filter(ub, PPPIOCSPASS, only_outbound()), 0);
  link_a->transmit(udp4(11));
  EXPECT_EQ(link_b->received().size(), 1u) << "left A, refused by B as inbound";
  EXPECT_EQ(wire->carried(0), 3u);

  // Control frames are never filtered.
  ASSERT_EQ(set_filter(ua, PPPIOCSPASS, reject_all()), 0);
  ASSERT_EQ(set_filter(ub, PPPIOCSPASS, reject_all()), 0);
  write(ua, ppp(PPP_IPCP, bytes({1, 1, 0, 4})));
  EXPECT_EQ(read(ub), ppp(PPP_IPCP, bytes({1, 1, 0, 4})));
  sock_fprog none{0, nullptr};
  ASSERT_EQ(ioctl(ua, PPPIOCSPASS, &none), 0);
  ASSERT_EQ(ioctl(ub, PPPIOCSPASS, &none), 0);
  link_a->transmit(udp4(9));
  EXPECT_EQ(link_b->received().back(), udp4(9));
}

TEST_F(PppPairTest, OnlyActiveTrafficResetsTheIdleTimes) {
  auto idle = [&](const Opened& f) {
    ppp_idle64 i{};
    EXPECT_EQ(ioctl(f, PPPIOCGIDLE64, &i), 0);
    return std::pair<int64_t, int64_t>{i.xmit_idle, i.recv_idle};
  };
  advance(100);
  link_a->transmit(udp4());
  EXPECT_EQ(idle(ua), (std::pair<int64_t, int64_t>{0, 100})) << "without filters all data counts";
  EXPECT_EQ(idle(ub), (std::pair<int64_t, int64_t>{100, 0}));

  ASSERT_EQ(set_filter(ua, PPPIOCSACTIVE, only_tcp()), 0);
  ASSERT_EQ(set_filter(ub, PPPIOCSACTIVE, only_tcp()), 0);
  advance(30);
  link_a->transmit(udp4());
  EXPECT_EQ(link_b->received().size(), 2u) << "inactive traffic still flows";
  EXPECT_EQ(idle(ua).first, 30);
  EXPECT_EQ(idle(ub).second, 30);
  write(ua, ppp(PPP_IPCP, bytes({1, 1, 0, 4})));
  EXPECT_EQ(idle(ua).first, 30) << "control frames are never activity";
  link_a->transmit(ipv4(IPPROTO_TCP, 1, 2, 80, 81, 5));
  EXPECT_EQ(idle(ua).first, 0);
  EXPECT_EQ(idle(ub).second, 0);
  EXPECT_EQ(idle(ub).first, 130);
}

TEST_F(PppPairTest, ManyThreadsAtOnceLoseNothingUnaccounted) {
  constexpr int kThreads = 4, kPerThread = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // The source port says which thread, the IP id which packet.
        link_a->transmit(ipv4(IPPROTO_UDP, 1, 2, static_cast<uint16_t>(t), 9, 8, 0, static_cast<uint16_t>(i)));
        // LCP on the channel file, in between the unit's frames.
        if (i % 100 == 0) write(ca, ppp(PPP_LCP, bytes({9, 1, 0, 4})));
        if (i % 50 == 0) link_b->transmit(udp4());
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 200; ++i) {
      npioctl npi{PPP_IPV6, i % 2 ? NPMODE_PASS : NPMODE_DROP};
      ioctl(ua, PPPIOCSNPMODE, &npi);
      set_int(ua, PPPIOCSDEBUG, i);
    }
  });
  for (auto& t : threads) t.join();
  const std::vector<Bytes> got = link_b->received();
  const auto a = unit_info(0), b = unit_info(1);
  EXPECT_EQ(got.size() + a.tx_dropped + b.rx_dropped, size_t{kThreads * kPerThread});
  EXPECT_GT(got.size(), 0u);
  std::vector<int> last(kThreads, -1);
  for (const Bytes& p : got) {
    const int t = std::to_integer<int>(p[21]);
    const int id = std::to_integer<int>(p[4]) << 8 | std::to_integer<int>(p[5]);
    EXPECT_GT(id, last[t]) << "one sender's packets stay in order";
    last[t] = id;
  }
  EXPECT_EQ(link_a->received().size() + b.tx_dropped + a.rx_dropped, size_t{kThreads * kPerThread / 50});
}

}  // namespace
}  // namespace cusenet::ppp_test
