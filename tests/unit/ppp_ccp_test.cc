// CCP in the unit, with a fake method whose output is easy to check: the
// run bits follow the CCP packets that pass (ConfReq, ConfAck, TermReq,
// ResetAck, in each direction), frames are compressed only with CCP up,
// decompression failures set SC_DC_ERROR / SC_DC_FERROR and hand the frame
// to pppd, and SC_MUST_COMP drops what cannot be compressed.
#include "tests/unit/ppp_fixture.h"

namespace cusenet::ppp_test {
namespace {

Bytes ccp_packet(int code, int id, const Bytes& options = {}) {
  const size_t len = 4 + options.size();
  const Bytes header = bytes({code, id, static_cast<int>(len >> 8), static_cast<int>(len & 0xff)});
  return ppp(PPP_CCP, concat(header, options));
}

// A compresses towards B, which decompresses.
class PppCcpTest : public PppPairTest {
 protected:
  void SetUp() override {
    PppPairTest::SetUp();
    option = deflate_option();
    ppp_option_data data{reinterpret_cast<uint8_t*>(option.data()), 4, 1};
    ASSERT_EQ(ioctl(ua, PPPIOCSCOMPRESS, &data), 0);
    data.transmit = 0;
    ASSERT_EQ(ioctl(ub, PPPIOCSCOMPRESS, &data), 0);
    ASSERT_EQ(set_int(ua, PPPIOCSFLAGS, SC_CCP_OPEN), 0);
    ASSERT_EQ(set_int(ub, PPPIOCSFLAGS, SC_CCP_OPEN), 0);
  }
  // What pppd does once CCP is negotiated: A acks B's ConfReq for Deflate
  // (A's transmit side starts), B sees that ack come in (its receive side
  // starts), then both set SC_CCP_UP.
  void bring_up() {
    write(ua, ccp_packet(CCP_CONFACK, 1, option));
    ASSERT_EQ(read(ub), ccp_packet(CCP_CONFACK, 1, option));
    ASSERT_EQ(set_int(ua, PPPIOCSFLAGS, SC_CCP_OPEN | SC_CCP_UP), 0);
    ASSERT_EQ(set_int(ub, PPPIOCSFLAGS, SC_CCP_OPEN | SC_CCP_UP), 0);
  }
  int flags(const Opened& f) { return get_int(f, PPPIOCGFLAGS); }
  Bytes option;
};

TEST_F(PppCcpTest, ConfAcksStartEachDirection) {
  EXPECT_EQ(flags(ua), SC_CCP_OPEN);
  write(ua, ccp_packet(CCP_CONFACK, 1, option));
  EXPECT_EQ(flags(ua), SC_CCP_OPEN | SC_COMP_RUN) << "outbound ack: we compress";
  EXPECT_EQ(flags(ub), SC_CCP_OPEN | SC_DECOMP_RUN) << "inbound ack: we decompress";
  EXPECT_EQ(ccp.compress_inits, 1);
  EXPECT_EQ(ccp.decompress_inits, 1);
  EXPECT_EQ(read(ub), ccp_packet(CCP_CONFACK, 1, option)) << "pppd still gets it";
}

TEST_F(PppCcpTest, ConfAcksAreIgnoredUnlessCcpIsOpenAndNotYetUp) {
  ASSERT_EQ(set_int(ua, PPPIOCSFLAGS, SC_CCP_OPEN | SC_CCP_UP), 0);
  write(ua, ccp_packet(CCP_CONFACK, 1, option));
  EXPECT_EQ(flags(ua), SC_CCP_OPEN | SC_CCP_UP);
  EXPECT_EQ(ccp.compress_inits, 0);
  EXPECT_EQ(ccp.decompress_inits, 1) << "B, only CCP_OPEN, did start";
  write(ua, ccp_packet(CCP_CONFACK, 1, bytes({CI_DEFLATE})));  // an option cut short
  EXPECT_EQ(ccp.decompress_inits, 1);
  ccp.init_result = false;
  ASSERT_EQ(set_int(ua, PPPIOCSFLAGS, SC_CCP_OPEN), 0);
  write(ua, ccp_packet(CCP_CONFACK, 2, option));
  EXPECT_EQ(ccp.compress_inits, 1);
  EXPECT_EQ(flags(ua), SC_CCP_OPEN) << "the method refused to start";
}

TEST_F(PppCcpTest, FramesAreCompressedOnlyOnceCcpIsUp) {
  write(ua, ccp_packet(CCP_CONFACK, 1, option));
  ASSERT_EQ(read(ub), ccp_packet(CCP_CONFACK, 1, option));
  const Bytes v4 = udp4();
  link_a->transmit(v4);
  EXPECT_EQ(ccp.compressed, 1) << "the method sees it";
  EXPECT_TRUE(link_b->received().empty())
      << "compressed before SC_CCP_UP: dropped, as pad_compress_skb does";
  EXPECT_EQ(unit_info(0).tx_errors, 1u);
  ASSERT_EQ(set_int(ua, PPPIOCSFLAGS, SC_CCP_OPEN | SC_CCP_UP), 0);
  ASSERT_EQ(set_int(ub, PPPIOCSFLAGS, SC_CCP_OPEN | SC_CCP_UP), 0);
  link_a->transmit(v4);
  EXPECT_EQ(ccp.decompressed, 1) << "it crossed as PPP_COMP";
  EXPECT_EQ(link_b->received(), std::vector<Bytes>{v4});
  // LCP and CCP itself are never compressed.
  write(ua, ccp_packet(CCP_RESETREQ, 7));
  EXPECT_EQ(read(ub), ccp_packet(CCP_RESETREQ, 7));
  write(ca, ppp(PPP_LCP, bytes({9, 1, 0, 4})));
  EXPECT_EQ(read(cb), ppp(PPP_LCP, bytes({9, 1, 0, 4})));
  EXPECT_EQ(ccp.compressed, 2);
}

// SIOCGPPPSTATS and SIOCGPPPCSTATS on a socket naming pppN
// (ppp_net_siocdevprivate): the interface's counters and each direction's
// method's, for the unit of that name in the socket's namespace only.
TEST_F(PppCcpTest, StatisticsIoctlsOnTheInterfaceNameReportEachUnitsCounters) {
  bring_up();
  link_a->transmit(udp4());
  ASSERT_EQ(ccp.decompressed, 1);
  auto ask = [&](uint64_t ns, const char* name, unsigned cmd, void* out, bool* ours) {
    return dev.interface_ioctl(root, ns, name, cmd, reinterpret_cast<uint64_t>(out), mem, ours);
  };
  bool ours = false;
  ppp_comp_stats cs;
  std::memset(&cs, 0xff, sizeof cs);
  ASSERT_EQ(ask(kNetnsA, "ppp0", SIOCGPPPCSTATS, &cs, &ours), 0);
  EXPECT_TRUE(ours);
  EXPECT_EQ(cs.c.comp_packets, 1u) << "A's compressor";
  EXPECT_EQ(cs.d.comp_packets, 0u) << "A has no decompressor: zero";
  EXPECT_EQ(cs.d.unc_bytes, 0u);
  std::memset(&cs, 0xff, sizeof cs);
  ASSERT_EQ(ask(kNetnsA, "ppp1", SIOCGPPPCSTATS, &cs, &ours), 0);
  EXPECT_EQ(cs.c.comp_packets, 0u);
  EXPECT_EQ(cs.d.comp_packets, 1u) << "B's decompressor";

  ppp_stats st;
  std::memset(&st, 0xff, sizeof st);
  ASSERT_EQ(ask(kNetnsA, "ppp0", SIOCGPPPSTATS, &st, &ours), 0);
  EXPECT_EQ(st.p.ppp_opackets, unit_info(0).tx_packets);
  EXPECT_EQ(st.p.ppp_opackets, 2u) << "pppd's CCP ack and the datagram";
  EXPECT_EQ(st.p.ppp_obytes, unit_info(0).tx_bytes);
  EXPECT_EQ(st.p.ppp_ipackets, 0u);
  EXPECT_EQ(st.vj.vjs_packets, 0u) << "no VJ state: zero";
  std::memset(&st, 0xff, sizeof st);
  ASSERT_EQ(ask(kNetnsA, "ppp1", SIOCGPPPSTATS, &st, &ours), 0);
  EXPECT_EQ(st.p.ppp_ipackets, unit_info(1).rx_packets);
  EXPECT_EQ(st.p.ppp_ipackets, 2u);
  EXPECT_EQ(st.p.ppp_ibytes, unit_info(1).rx_bytes);

  char ver[16] = {};
  ASSERT_EQ(ask(kNetnsA, "ppp0", SIOCGPPPVER, ver, &ours), 0);
  EXPECT_STREQ(ver, "2.4.2");
  EXPECT_EQ(ask(kNetnsA, "ppp0", SIOCGPPPSTATS, nullptr, &ours), -EFAULT);
  EXPECT_TRUE(ours);

  // Not this device's: the kernel answers.
  EXPECT_EQ(ask(kNetnsB, "ppp0", SIOCGPPPSTATS, &st, &ours), 0);
  EXPECT_FALSE(ours) << "another namespace's ppp0";
  EXPECT_EQ(ask(kNetnsA, "eth0", SIOCGPPPSTATS, &st, &ours), 0);
  EXPECT_FALSE(ours);
  ua.reset();  // the owner closed: ppp0 is gone
  EXPECT_EQ(ask(kNetnsA, "ppp0", SIOCGPPPSTATS, &st, &ours), 0);
  EXPECT_FALSE(ours);
}

TEST_F(PppCcpTest, DecompressionErrorsAreFlaggedAndHandedToPppd) {
  bring_up();
  const Bytes bad = ppp(PPP_COMP, bytes({0xe0, 1, 2, 3}));
  input(wire->channel(1), bad);
  EXPECT_EQ(flags(ub) & (SC_DC_ERROR | SC_DC_FERROR), SC_DC_ERROR);
  EXPECT_EQ(read(ub), bad) << "pppd sends a Reset-Request";
  EXPECT_EQ(unit_info(1).rx_errors, 1u);
  // Until the reset, nothing is decompressed.
  link_a->transmit(udp4());
  EXPECT_TRUE(link_b->received().empty());
  EXPECT_EQ(proto_of(*read(ub)), PPP_COMP);
  // The peer's Reset-Ack resets the decompressor and clears the error.
  input(wire->channel(1), ccp_packet(CCP_RESETACK, 3));
  EXPECT_EQ(ccp.decompress_resets, 1);
  EXPECT_EQ(flags(ub) & SC_DC_ERROR, 0);
  link_a->transmit(udp4());
  EXPECT_EQ(link_b->received(), std::vector<Bytes>{udp4()});

  input(wire->channel(1), ppp(PPP_COMP, bytes({0xf0, 1})));
  EXPECT_EQ(flags(ub) & (SC_DC_ERROR | SC_DC_FERROR), SC_DC_ERROR | SC_DC_FERROR);
  // With SC_MUST_COMP a fatal error drops everything received.
  ASSERT_EQ(set_int(ub, PPPIOCSFLAGS, SC_CCP_OPEN | SC_CCP_UP | SC_MUST_COMP), 0);
  while (read(ub)) {
  }
  write(ua, ppp(PPP_IPCP, bytes({1, 1, 0, 4})));
  EXPECT_EQ(read(ub), std::nullopt);
  EXPECT_EQ(unit_info(1).rx_errors, 3u);
}

TEST_F(PppCcpTest, MustCompDropsWhileCcpIsDown) {
  write(ua, ccp_packet(CCP_CONFACK, 1, option));
  ASSERT_EQ(set_int(ua, PPPIOCSFLAGS, SC_CCP_OPEN | SC_MUST_COMP), 0);
  link_a->transmit(udp4());
  EXPECT_TRUE(link_b->received().empty());
  EXPECT_EQ(unit_info(0).tx_errors, 1u);
}

TEST_F(PppCcpTest, ConfReqsTermReqsAndResetAcksChangeTheRunBits) {
  bring_up();
  write(ua, ccp_packet(CCP_RESETACK, 4));
  EXPECT_EQ(ccp.compress_resets, 1) << "outbound Reset-Ack resets our compressor";
  // An inbound ConfReq renegotiates what we send.
  input(wire->channel(0), ccp_packet(CCP_CONFREQ, 5, option));
  EXPECT_EQ(flags(ua) & SC_COMP_RUN, 0);
  EXPECT_EQ(read(ua), ccp_packet(CCP_CONFREQ, 5, option));
  // An outbound ConfReq renegotiates what we receive.
  write(ub, ccp_packet(CCP_CONFREQ, 6, option));
  EXPECT_EQ(flags(ub) & SC_DECOMP_RUN, 0);
  // A TermReq either way stops both.
  write(ua, ccp_packet(CCP_CONFACK, 7, option));  // not while CCP_UP
  ASSERT_EQ(set_int(ua, PPPIOCSFLAGS, SC_CCP_OPEN), 0);
  write(ua, ccp_packet(CCP_CONFACK, 7, option));
  EXPECT_EQ(flags(ua) & SC_COMP_RUN, SC_COMP_RUN);
  input(wire->channel(0), ccp_packet(CCP_TERMREQ, 8));
  EXPECT_EQ(flags(ua) & (SC_COMP_RUN | SC_DECOMP_RUN), 0);
}

TEST_F(PppCcpTest, ClosingCcpFreesBothMethods) {
  bring_up();
  ASSERT_NE(flags(ua) & SC_COMP_RUN, 0);
  ASSERT_EQ(set_int(ua, PPPIOCSFLAGS, SC_CCP_UP), 0);  // SC_CCP_OPEN cleared
  EXPECT_EQ(flags(ua), 0) << "SC_CCP_UP goes with it";
  link_a->transmit(udp4());
  EXPECT_EQ(ccp.compressed, 0);
  ASSERT_EQ(set_int(ua, PPPIOCSFLAGS, SC_CCP_OPEN), 0);
  write(ua, ccp_packet(CCP_CONFACK, 1, option));
  EXPECT_EQ(flags(ua) & SC_COMP_RUN, 0) << "no method until PPPIOCSCOMPRESS again";
  // A new method replaces a running one and starts stopped.
  ppp_option_data data{reinterpret_cast<uint8_t*>(option.data()), 4, 0};
  ASSERT_NE(flags(ub) & SC_DECOMP_RUN, 0);
  ASSERT_EQ(ioctl(ub, PPPIOCSCOMPRESS, &data), 0);
  EXPECT_EQ(flags(ub) & SC_DECOMP_RUN, 0);
}

}  // namespace
}  // namespace cusenet::ppp_test
