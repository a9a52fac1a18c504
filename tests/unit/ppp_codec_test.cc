// The unit with the engine's real VJ and CCP methods (vj.cc, deflate.cc,
// bsd_comp.cc): frames relayed by hand between two units' recording
// channels, so the test sees what crosses the wire as well as what arrives.
#include "tests/unit/ppp_fixture.h"

namespace cusenet::ppp_test {
namespace {

class PppCodecTest : public PppTest {
 protected:
  PppCodecTest() : PppTest(true) {}
  void SetUp() override {
    chan_a = register_channel(tty_a);
    chan_b = register_channel(tty_b);
    ca = channel_file(1);
    cb = channel_file(2);
    ua = unit_file();
    ub = unit_file();
    ASSERT_EQ(set_int(ca, PPPIOCCONNECT, 0), 0);
    ASSERT_EQ(set_int(cb, PPPIOCCONNECT, 1), 0);
    link_a = factory.link("ppp0");
    link_b = factory.link("ppp1");
  }
  void TearDown() override {
    ca.reset();
    cb.reset();
    ua.reset();
    ub.reset();
    chan_a.reset();
    chan_b.reset();
  }
  // Hands everything A sent to B; returns it.
  std::vector<Bytes> relay() {
    std::vector<Bytes> wire = tty_a.take();
    for (const Bytes& f : wire) input(*chan_b, f);
    return wire;
  }

  TestChannel tty_a, tty_b;
  std::unique_ptr<PppChannel> chan_a, chan_b;
  Opened ca, cb, ua, ub;
  FakeLink* link_a = nullptr;
  FakeLink* link_b = nullptr;
};

TEST_F(PppCodecTest, VjCompressesTcpHeadersAcrossTheLink) {
  ASSERT_EQ(set_int(ua, PPPIOCSMAXCID, 15), 0);
  ASSERT_EQ(set_int(ub, PPPIOCSMAXCID, 15), 0);
  ASSERT_EQ(set_int(ua, PPPIOCSFLAGS, SC_COMP_TCP), 0);
  std::vector<Bytes> sent;
  for (uint32_t i = 0; i < 5; ++i) {
    sent.push_back(ipv4(IPPROTO_TCP, 0x0a000001, 0x0a000002, 4000, 80, 40, 1000 + i * 40,
                        static_cast<uint16_t>(10 + i)));
    link_a->transmit(sent.back());
  }
  const std::vector<Bytes> wire = relay();
  ASSERT_EQ(wire.size(), 5u);
  EXPECT_EQ(proto_of(wire[0]), PPP_VJC_UNCOMP) << "the first of a connection sets its state";
  for (size_t i = 1; i < wire.size(); ++i) {
    EXPECT_EQ(proto_of(wire[i]), PPP_VJC_COMP);
    EXPECT_LT(wire[i].size(), sent[i].size() + 2);
  }
  EXPECT_EQ(link_b->received(), sent);

  link_a->transmit(udp4());
  EXPECT_EQ(proto_of(relay().at(0)), PPP_IP) << "not TCP: as it is";
  EXPECT_EQ(link_b->received().back(), udp4());
}

TEST_F(PppCodecTest, VjFramesAreErrorsWithoutVjOrWhenRefused) {
  ASSERT_EQ(set_int(ua, PPPIOCSMAXCID, 15), 0);
  ASSERT_EQ(set_int(ua, PPPIOCSFLAGS, SC_COMP_TCP), 0);
  link_a->transmit(ipv4(IPPROTO_TCP, 1, 2, 3, 4, 10, 1));
  relay();  // B never set PPPIOCSMAXCID: no VJ state
  EXPECT_TRUE(link_b->received().empty());
  EXPECT_EQ(unit_info(1).rx_errors, 1u);
  ASSERT_EQ(set_int(ub, PPPIOCSMAXCID, 15), 0);
  ASSERT_EQ(set_int(ub, PPPIOCSFLAGS, SC_REJ_COMP_TCP), 0);
  link_a->transmit(ipv4(IPPROTO_TCP, 1, 2, 3, 4, 10, 11));
  relay();
  EXPECT_TRUE(link_b->received().empty());
  EXPECT_EQ(unit_info(1).rx_errors, 2u);
}

class PppCcpMethodTest : public PppCodecTest, public ::testing::WithParamInterface<Bytes> {
 protected:
  // pppd's order: PPPIOCSCOMPRESS both ways, SC_CCP_OPEN, A acks B's
  // ConfReq (A starts compressing; B sees the ack, starts decompressing),
  // then SC_CCP_UP.
  void start() {
    Bytes option = GetParam();
    ppp_option_data data{reinterpret_cast<uint8_t*>(option.data()), static_cast<uint32_t>(option.size()), 1};
    ASSERT_EQ(ioctl(ua, PPPIOCSCOMPRESS, &data), 0);
    data.transmit = 0;
    ASSERT_EQ(ioctl(ub, PPPIOCSCOMPRESS, &data), 0);
    ASSERT_EQ(set_int(ua, PPPIOCSFLAGS, SC_CCP_OPEN), 0);
    ASSERT_EQ(set_int(ub, PPPIOCSFLAGS, SC_CCP_OPEN), 0);
    const Bytes ack = concat(bytes({CCP_CONFACK, 1, 0, static_cast<int>(4 + option.size())}), option);
    write(ua, ppp(PPP_CCP, ack));
    relay();
    ASSERT_EQ(read(ub), ppp(PPP_CCP, ack));
    ASSERT_EQ(get_int(ua, PPPIOCGFLAGS), SC_CCP_OPEN | SC_COMP_RUN);
    ASSERT_EQ(get_int(ub, PPPIOCGFLAGS), SC_CCP_OPEN | SC_DECOMP_RUN);
    ASSERT_EQ(set_int(ua, PPPIOCSFLAGS, SC_CCP_OPEN | SC_CCP_UP), 0);
    ASSERT_EQ(set_int(ub, PPPIOCSFLAGS, SC_CCP_OPEN | SC_CCP_UP), 0);
  }
};

TEST_P(PppCcpMethodTest, CompressedFramesCrossAndComeBackWhole) {
  start();
  std::vector<Bytes> sent;
  size_t compressed = 0;
  for (int i = 0; i < 20; ++i) {
    // Repetitive payloads: every method shrinks them.
    sent.push_back(ipv4(IPPROTO_UDP, 0x0a000001, 0x0a000002, 5000, 53, 200, 0, static_cast<uint16_t>(i)));
    link_a->transmit(sent.back());
    for (const Bytes& f : relay()) compressed += proto_of(f) == PPP_COMP;
  }
  EXPECT_GT(compressed, 10u);
  EXPECT_EQ(link_b->received(), sent);
  EXPECT_EQ(get_int(ub, PPPIOCGFLAGS) & (SC_DC_ERROR | SC_DC_FERROR), 0);
  write(ua, ppp(PPP_IPCP, bytes({1, 1, 0, 4})));
  relay();
  EXPECT_EQ(read(ub), ppp(PPP_IPCP, bytes({1, 1, 0, 4})));
}

INSTANTIATE_TEST_SUITE_P(Methods, PppCcpMethodTest,
                         ::testing::Values(bytes({CI_DEFLATE, 4, 0x78, 0}),
                                           bytes({CI_DEFLATE_DRAFT, 4, 0x78, 0}),
                                           bytes({CI_BSD_COMPRESS, 3, 0x2f})));

}  // namespace
}  // namespace cusenet::ppp_test
