// A PPP unit's interface in the LinkTable: published with the unit (kind
// "ppp", ARPHRD_PPP, the unit's counters), carrier on while a channel is
// connected or the unit loops traffic to pppd (mirrored onto the Link, as
// TUNSETCARRIER on the kernel interface), the operstate and flags that
// follow, RTM_DELLINK when the unit is destroyed, and both directions of
// its packet path in a capture ring as an AF_PACKET socket on pppN sees them.
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/rtnetlink.h>
#include <net/if_arp.h>

#include "netdev/capture_ring.h"
#include "tests/unit/ppp_fixture.h"

namespace cusenet::ppp_test {
namespace {

constexpr unsigned kUp = IFF_UP, kRunning = IFF_RUNNING, kLowerUp = IFF_LOWER_UP;

struct Event {
  uint16_t type;
  LinkState state;
  unsigned change;
};

class PppLinkTest : public PppTest {
 protected:
  PppLinkTest() {
    id_ = factory.table()->subscribe([this](uint16_t type, const LinkState& s, unsigned change) {
      events.push_back({type, s, change});
    });
  }
  ~PppLinkTest() override { factory.table()->unsubscribe(id_); }

  std::shared_ptr<NetDevice> netdev(const std::string& name, uint64_t ns = kNetnsA) {
    return factory.table()->by_name(ns, name);
  }
  // `ip link set NAME up`: the fake stack has no interface of its own, so
  // the NetDevice takes the request itself.
  void set_up(const std::string& name, bool up) {
    auto d = netdev(name);
    ASSERT_TRUE(d);
    ASSERT_EQ(d->setlink({up, std::nullopt, std::nullopt, std::nullopt}), 0);
  }

  std::vector<Event> events;

 private:
  int id_ = 0;
};

TEST_F(PppLinkTest, NewUnitIsPublishedAsPppWithoutCarrier) {
  Opened u = unit_file();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, RTM_NEWLINK);
  EXPECT_EQ(events[0].change, ~0u);
  const LinkState& s = events[0].state;
  EXPECT_EQ(s.name, "ppp0");
  EXPECT_EQ(s.kind, "ppp");
  EXPECT_EQ(s.type, ARPHRD_PPP);
  EXPECT_EQ(s.netns, kNetnsA);
  EXPECT_EQ(s.ifindex, factory.link("ppp0")->ifindex());
  EXPECT_EQ(s.mtu, 1500u);
  EXPECT_FALSE(s.carrier) << "no channel connected yet";
  EXPECT_EQ(s.flags, 0u);
  EXPECT_EQ(s.operstate, IF_OPER_DOWN);
  EXPECT_EQ(factory.link("ppp0")->carrier_changes, std::vector<bool>{false})
      << "the stack's interface is told before anyone sees it";
  ASSERT_TRUE(netdev("ppp0"));
  EXPECT_EQ(netdev("ppp0")->state().ifindex, s.ifindex);
  EXPECT_EQ(factory.table()->in_netns(kNetnsB).size(), 0u);
}

TEST_F(PppLinkTest, CarrierFollowsConnectAndDisconnect) {
  TestChannel ops;
  auto ch = register_channel(ops);
  Opened c = channel_file(ch->index());
  Opened u = unit_file();
  set_up("ppp0", true);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].state.flags, kUp) << "up, no carrier: neither LOWER_UP nor RUNNING";
  EXPECT_EQ(events[1].state.operstate, IF_OPER_DOWN);

  ASSERT_EQ(set_int(c, PPPIOCCONNECT, 0), 0);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].type, RTM_NEWLINK);
  EXPECT_TRUE(events[2].state.carrier);
  EXPECT_EQ(events[2].state.flags, kUp | kLowerUp | kRunning);
  EXPECT_EQ(events[2].change, kLowerUp | kRunning);
  EXPECT_EQ(events[2].state.operstate, IF_OPER_UP);
  EXPECT_EQ(factory.link("ppp0")->carrier_changes, (std::vector<bool>{false, true}));

  ASSERT_EQ(ioctl(c, PPPIOCDISCONN, nullptr), 0);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_FALSE(events[3].state.carrier);
  EXPECT_EQ(events[3].state.flags, kUp);
  EXPECT_EQ(events[3].state.operstate, IF_OPER_DOWN);
  EXPECT_EQ(factory.link("ppp0")->carrier_changes, (std::vector<bool>{false, true, false}));
}

TEST_F(PppLinkTest, CarrierChangesWhileDownShowWhenTheInterfaceComesUp) {
  TestChannel ops;
  auto ch = register_channel(ops);
  Opened c = channel_file(ch->index());
  Opened u = unit_file();
  ASSERT_EQ(set_int(c, PPPIOCCONNECT, 0), 0);
  EXPECT_EQ(events.size(), 1u) << "netdev_state_change is silent while the interface is down";
  EXPECT_TRUE(netdev("ppp0")->carrier());
  set_up("ppp0", true);  // what pppd's sifup does once IPCP is up
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].state.flags, kUp | kLowerUp | kRunning);
  EXPECT_EQ(events[1].state.operstate, IF_OPER_UP);
  set_up("ppp0", false);  // sifdown
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].state.flags, 0u);
  EXPECT_EQ(events[2].state.operstate, IF_OPER_DOWN);
}

TEST_F(PppLinkTest, HangupUnregisteringTheChannelDropsTheCarrier) {
  TestChannel ops;
  auto ch = register_channel(ops);
  Opened c = channel_file(ch->index());
  Opened u = unit_file();
  set_up("ppp0", true);
  ASSERT_EQ(set_int(c, PPPIOCCONNECT, 0), 0);
  ASSERT_TRUE(netdev("ppp0")->carrier());
  ch->unregister();  // ppp_asynctty_hangup / the N_PPP close
  EXPECT_FALSE(netdev("ppp0")->carrier());
  EXPECT_EQ(netdev("ppp0")->state().operstate, IF_OPER_DOWN);
  EXPECT_EQ(events.back().state.flags, kUp);
  EXPECT_EQ(factory.link("ppp0")->carrier_changes.back(), false);
}

TEST_F(PppLinkTest, ABundleKeepsItsCarrierUntilItsLastChannelGoes) {
  TestChannel ops1, ops2;
  auto ch1 = register_channel(ops1);
  auto ch2 = register_channel(ops2);
  Opened c1 = channel_file(ch1->index());
  Opened c2 = channel_file(ch2->index());
  Opened u = unit_file();
  ASSERT_EQ(set_int(c1, PPPIOCCONNECT, 0), 0);
  ASSERT_EQ(set_int(c2, PPPIOCCONNECT, 0), 0);
  EXPECT_EQ(factory.link("ppp0")->carrier_changes, (std::vector<bool>{false, true}))
      << "the second channel changes nothing";
  ASSERT_EQ(ioctl(c1, PPPIOCDISCONN, nullptr), 0);
  EXPECT_TRUE(netdev("ppp0")->carrier());
  ch2->unregister();
  EXPECT_FALSE(netdev("ppp0")->carrier());
  EXPECT_EQ(factory.link("ppp0")->carrier_changes, (std::vector<bool>{false, true, false}));
}

TEST_F(PppLinkTest, LoopingTrafficToPppdCountsAsCarrier) {
  Opened u = unit_file();
  set_up("ppp0", true);
  EXPECT_EQ(set_int(u, PPPIOCSFLAGS, SC_LOOP_TRAFFIC), 0);  // pppd's demand mode
  EXPECT_TRUE(netdev("ppp0")->carrier());
  EXPECT_EQ(events.back().state.operstate, IF_OPER_UP);
  EXPECT_EQ(set_int(u, PPPIOCSFLAGS, SC_LOOP_TRAFFIC | SC_COMP_TCP), 0);
  EXPECT_EQ(factory.link("ppp0")->carrier_changes, (std::vector<bool>{false, true}));
  EXPECT_EQ(set_int(u, PPPIOCSFLAGS, 0), 0);
  EXPECT_FALSE(netdev("ppp0")->carrier());
  EXPECT_EQ(events.back().state.operstate, IF_OPER_DOWN);
}

TEST_F(PppLinkTest, ARefusedCarrierIsLoggedAndTheTableStillFollowsTheChannels) {
  TestChannel ops;
  auto ch = register_channel(ops);
  Opened c = channel_file(ch->index());
  Opened u = unit_file();
  factory.link("ppp0")->carrier_error = -EPERM;
  ASSERT_EQ(set_int(c, PPPIOCCONNECT, 0), 0);
  EXPECT_TRUE(netdev("ppp0")->carrier());
}

TEST_F(PppLinkTest, DestroyingTheUnitRemovesItsInterface) {
  TestChannel ops;
  auto ch = register_channel(ops);
  Opened c = channel_file(ch->index());
  Opened u = unit_file();
  set_up("ppp0", true);
  ASSERT_EQ(set_int(c, PPPIOCCONNECT, 0), 0);
  std::shared_ptr<NetDevice> d = netdev("ppp0");
  const size_t before = events.size();
  u.reset();  // the owner closes: unregister_netdevice
  ASSERT_EQ(events.size(), before + 1);
  EXPECT_EQ(events.back().type, RTM_DELLINK);
  EXPECT_EQ(events.back().change, ~0u);
  EXPECT_EQ(events.back().state.name, "ppp0");
  EXPECT_EQ(netdev("ppp0"), nullptr);
  EXPECT_TRUE(factory.table()->in_netns(kNetnsA).empty());
  EXPECT_EQ(d->setlink({false, std::nullopt, std::nullopt, std::nullopt}), -ENODEV);
  // The channel leaves the dead unit later, as in the kernel: nothing is
  // announced, and no Link is asked for anything.
  ASSERT_EQ(ioctl(c, PPPIOCDISCONN, nullptr), 0);
  EXPECT_EQ(events.size(), before + 1);
  // The number and the name are free for a new unit, announced anew.
  Opened u2 = unit_file();
  EXPECT_EQ(events.back().type, RTM_NEWLINK);
  EXPECT_EQ(events.back().state.name, "ppp0");
  EXPECT_NE(netdev("ppp0"), d);
}

TEST_F(PppLinkTest, DestroyingTheDeviceRemovesEveryUnitsInterface) {
  auto other = std::make_unique<PppDevice>(factory, hooks());
  int err = 0;
  Opened f0 = other->open(root, O_RDWR, [] {}, &err);
  Opened f1 = other->open(root, O_RDWR, [] {}, &err);
  ASSERT_TRUE(f0 && f1) << err;
  ASSERT_GE(new_unit(f0), 0);
  ASSERT_GE(new_unit(f1), 0);
  ASSERT_EQ(factory.table()->in_netns(kNetnsA).size(), 2u);
  other.reset();
  EXPECT_TRUE(factory.table()->in_netns(kNetnsA).empty());
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[2].type, RTM_DELLINK);
  EXPECT_EQ(events[3].type, RTM_DELLINK);
}

// ---------------------------------------------------------------- counters, capture

class PppLinkPairTest : public PppPairTest {
 protected:
  std::shared_ptr<NetDevice> netdev(const std::string& name) {
    return factory.table()->by_name(kNetnsA, name);
  }
};

TEST_F(PppLinkPairTest, TheTableShowsTheUnitsCountersAndCarrier) {
  const Bytes v4 = udp4();
  link_a->transmit(v4);
  link_a->transmit(bytes({0x50, 0, 0, 0}));  // neither IPv4 nor IPv6: dropped
  ASSERT_EQ(link_b->received().size(), 1u);
  const LinkState a = netdev("ppp0")->state(), b = netdev("ppp1")->state();
  EXPECT_TRUE(a.carrier);
  EXPECT_TRUE(b.carrier);
  EXPECT_EQ(a.stats.tx_packets, 1u);
  EXPECT_EQ(a.stats.tx_bytes, v4.size());
  EXPECT_EQ(a.stats.tx_dropped, 1u);
  EXPECT_EQ(b.stats.rx_packets, 1u);
  EXPECT_EQ(b.stats.rx_bytes, v4.size());
  ua.reset();
  EXPECT_EQ(netdev("ppp0"), nullptr);
  EXPECT_TRUE(netdev("ppp1"));
}

TEST_F(PppLinkPairTest, CaptureSeesBothDirectionsAsAPacketSocketOnPppN) {
  int err = 0;
  std::shared_ptr<CaptureRing> ring_a = CaptureRing::create({4096, 1, 2048, 2}, &err);
  std::shared_ptr<CaptureRing> ring_b = CaptureRing::create({4096, 1, 2048, 2}, &err);
  ASSERT_TRUE(ring_a && ring_b) << err;
  auto reader_a = RingReader::map(ring_a->memfd(), ring_a->geometry(), &err);
  auto reader_b = RingReader::map(ring_b->memfd(), ring_b->geometry(), &err);
  ASSERT_TRUE(reader_a && reader_b) << err;
  netdev("ppp0")->capture().attach(ring_a);
  netdev("ppp1")->capture().attach(ring_b);
  ASSERT_EQ(netdev("ppp1")->setlink({true, std::nullopt, std::nullopt, std::nullopt}), 0);

  const Bytes v4 = udp4();
  link_a->transmit(v4);
  ASSERT_EQ(link_b->received(), std::vector<Bytes>{v4});

  const tpacket_hdr* h = reader_a->next();
  ASSERT_NE(h, nullptr) << "ppp0 saw what its stack sent";
  const sockaddr_ll* ll = RingReader::address(h);
  EXPECT_EQ(ll->sll_pkttype, PACKET_OUTGOING);
  EXPECT_EQ(ll->sll_hatype, ARPHRD_PPP);
  EXPECT_EQ(ll->sll_protocol, htons(ETH_P_IP));
  EXPECT_EQ(ll->sll_ifindex, link_a->ifindex());
  auto data = RingReader::data(h);
  EXPECT_EQ(Bytes(data.begin(), data.end()), v4) << "from the IP header: no PPP header";

  h = reader_b->next();
  ASSERT_NE(h, nullptr) << "ppp1 saw what it received";
  ll = RingReader::address(h);
  EXPECT_EQ(ll->sll_pkttype, PACKET_HOST);
  EXPECT_EQ(ll->sll_protocol, htons(ETH_P_IP));
  data = RingReader::data(h);
  EXPECT_EQ(Bytes(data.begin(), data.end()), v4);
  reader_b->release();
  EXPECT_EQ(reader_b->next(), nullptr);

  // ppp0 is down: its taps see nothing it receives.
  link_b->transmit(v4);
  reader_a->release();
  EXPECT_EQ(reader_a->next(), nullptr);
  h = reader_b->next();
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(RingReader::address(h)->sll_pkttype, PACKET_OUTGOING);
  netdev("ppp0")->capture().detach(ring_a.get());
  netdev("ppp1")->capture().detach(ring_b.get());
}

}  // namespace
}  // namespace cusenet::ppp_test
