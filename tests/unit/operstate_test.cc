// RFC 2863 operstate as operstates.txt defines it and net/core implements it
// (link_watch.c default_operstate/rfc2863_policy, rtnetlink.c set_operstate,
// dev.c dev_get_flags): every row of the driver-flag mapping, every
// userspace transition allowed and refused, and what NetDevice announces.
#include "netdev/operstate.h"

#include <gtest/gtest.h>
#include <linux/rtnetlink.h>
#include <net/if_arp.h>

#include <vector>

#include "netdev/net_device.h"

namespace cusenet {
namespace {

// The flags as plain numbers: glibc's and the kernel's enums do not mix.
constexpr unsigned kUp = IFF_UP, kLowerUp = IFF_LOWER_UP, kRunning = IFF_RUNNING, kDormant = IFF_DORMANT;

Operstate up_interface() {
  Operstate o;
  o.set_admin_up(true);
  return o;
}

// ------------------------------------------------------ the driver's mapping

TEST(Operstate, NewInterfaceIsUnknownWithCarrier) {
  Operstate o = up_interface();
  EXPECT_TRUE(o.carrier());
  EXPECT_FALSE(o.dormant());
  EXPECT_EQ(o.state(), IF_OPER_UNKNOWN);
  EXPECT_EQ(o.reported(), IF_OPER_UNKNOWN);
  EXPECT_EQ(o.flags(), kUp | kRunning | kLowerUp);  // UNKNOWN counts as running
}

TEST(Operstate, NoCarrierIsDown) {
  Operstate o = up_interface();
  EXPECT_TRUE(o.set_carrier(false));
  EXPECT_EQ(o.reported(), IF_OPER_DOWN);
  EXPECT_EQ(o.flags(), unsigned{kUp});
}

TEST(Operstate, NoCarrierOnAStackedInterfaceWhoseLowerIsDownIsLowerLayerDown) {
  Operstate o = up_interface();
  o.set_lower(false);
  o.set_carrier(false);
  EXPECT_EQ(o.reported(), IF_OPER_LOWERLAYERDOWN);
  EXPECT_EQ(o.flags(), unsigned{kUp});
}

TEST(Operstate, NoCarrierOnAStackedInterfaceWhoseLowerIsUpIsDown) {
  Operstate o = up_interface();
  o.set_lower(true);
  o.set_carrier(false);
  EXPECT_EQ(o.reported(), IF_OPER_DOWN);
}

TEST(Operstate, CarrierAndDormantIsDormant) {
  Operstate o = up_interface();
  EXPECT_TRUE(o.set_dormant(true));
  EXPECT_EQ(o.reported(), IF_OPER_DORMANT);
  EXPECT_EQ(o.flags(), unsigned{kUp | kLowerUp | kDormant});
}

TEST(Operstate, CarrierNotDormantIsUpInDefaultMode) {
  Operstate o = up_interface();
  o.set_carrier(false);
  EXPECT_TRUE(o.set_carrier(true));
  EXPECT_EQ(o.reported(), IF_OPER_UP);
  EXPECT_EQ(o.flags(), kUp | kRunning | kLowerUp);
}

TEST(Operstate, CarrierNotDormantIsDormantInDormantMode) {
  Operstate o = up_interface();
  o.set_linkmode(IF_LINK_MODE_DORMANT);
  o.set_carrier(false);
  o.set_carrier(true);
  EXPECT_EQ(o.reported(), IF_OPER_DORMANT);
  // Lower layer up and the driver not dormant: the supplicant's cue.
  EXPECT_EQ(o.flags(), unsigned{kUp | kLowerUp});
}

TEST(Operstate, CarrierNotDormantIsTestingInTestingMode) {
  Operstate o = up_interface();
  o.set_linkmode(IF_LINK_MODE_TESTING);
  o.set_carrier(false);
  o.set_carrier(true);
  EXPECT_EQ(o.reported(), IF_OPER_TESTING);
  EXPECT_EQ(o.flags(), unsigned{kUp | kLowerUp});
}

TEST(Operstate, AdminDownReportsDownAndNoDerivedFlags) {
  Operstate o;  // never up
  EXPECT_EQ(o.reported(), IF_OPER_DOWN);
  EXPECT_EQ(o.flags(), 0u);
  o.set_dormant(true);
  EXPECT_EQ(o.state(), IF_OPER_DORMANT);  // the policy still ran
  EXPECT_EQ(o.reported(), IF_OPER_DOWN);
  EXPECT_EQ(o.flags(), 0u);
  EXPECT_TRUE(o.set_admin_up(true));
  EXPECT_EQ(o.reported(), IF_OPER_DORMANT);
  EXPECT_FALSE(o.set_admin_up(true));
}

TEST(Operstate, UnchangedDriverFlagsAreNoEvent) {
  Operstate o = up_interface();
  EXPECT_FALSE(o.set_carrier(true));  // tun's netif_carrier_on at TUNSETIFF
  EXPECT_EQ(o.state(), IF_OPER_UNKNOWN);
  EXPECT_FALSE(o.set_dormant(false));
}

TEST(Operstate, LinkModeAloneDoesNotMoveTheState) {
  Operstate o = up_interface();
  o.set_carrier(false);
  o.set_carrier(true);
  ASSERT_EQ(o.state(), IF_OPER_UP);
  EXPECT_TRUE(o.set_linkmode(IF_LINK_MODE_DORMANT));
  EXPECT_EQ(o.state(), IF_OPER_UP);
  EXPECT_FALSE(o.set_linkmode(IF_LINK_MODE_DORMANT));
}

TEST(Operstate, UserSetUpSurvivesAnEventThatStillMapsToUp) {
  Operstate o = up_interface();
  o.set_linkmode(IF_LINK_MODE_DORMANT);
  o.set_carrier(false);
  o.set_carrier(true);
  ASSERT_TRUE(o.set_operstate(IF_OPER_UP));
  // dormant on and off: the second event maps to UP again, which differs
  // from DORMANT, so the link mode puts it back to DORMANT.
  o.set_dormant(true);
  EXPECT_EQ(o.state(), IF_OPER_DORMANT);
  o.set_dormant(false);
  EXPECT_EQ(o.state(), IF_OPER_DORMANT);
}

// --------------------------------------------------- userspace transitions

struct Transition {
  uint8_t from;
  bool driver_dormant;
  uint8_t request;
  uint8_t expect;
};

// A state reached the way the kernel reaches it.
Operstate in_state(uint8_t state, bool driver_dormant) {
  Operstate o = up_interface();
  switch (state) {
    case IF_OPER_UNKNOWN: break;
    case IF_OPER_DOWN: o.set_carrier(false); break;
    case IF_OPER_LOWERLAYERDOWN:
      o.set_lower(false);
      o.set_carrier(false);
      break;
    case IF_OPER_UP:
      o.set_carrier(false);
      o.set_carrier(true);
      break;
    case IF_OPER_DORMANT:
      o.set_linkmode(IF_LINK_MODE_DORMANT);
      o.set_carrier(false);
      o.set_carrier(true);
      break;
    case IF_OPER_TESTING:
      o.set_linkmode(IF_LINK_MODE_TESTING);
      o.set_carrier(false);
      o.set_carrier(true);
      break;
  }
  if (driver_dormant) o.set_dormant(true);  // the policy makes it DORMANT unless carrier is off
  return o;
}

class UserTransition : public ::testing::TestWithParam<Transition> {};

TEST_P(UserTransition, FollowsSetOperstate) {
  const Transition& t = GetParam();
  Operstate o = in_state(t.from, t.driver_dormant);
  const uint8_t before = o.state();
  EXPECT_EQ(o.set_operstate(t.request), before != t.expect);
  EXPECT_EQ(o.state(), t.expect) << "from " << operstate_name(before) << " asking "
                                 << operstate_name(t.request);
  EXPECT_EQ(bool(o.flags() & kRunning), t.expect == IF_OPER_UP || t.expect == IF_OPER_UNKNOWN);
}

INSTANTIATE_TEST_SUITE_P(
    Allowed, UserTransition,
    ::testing::Values(Transition{IF_OPER_DORMANT, false, IF_OPER_UP, IF_OPER_UP},
                      Transition{IF_OPER_UNKNOWN, false, IF_OPER_UP, IF_OPER_UP},
                      Transition{IF_OPER_TESTING, false, IF_OPER_UP, IF_OPER_UP},
                      Transition{IF_OPER_UP, false, IF_OPER_DORMANT, IF_OPER_DORMANT},
                      Transition{IF_OPER_UNKNOWN, false, IF_OPER_DORMANT, IF_OPER_DORMANT},
                      Transition{IF_OPER_UP, false, IF_OPER_TESTING, IF_OPER_TESTING},
                      Transition{IF_OPER_UNKNOWN, false, IF_OPER_TESTING, IF_OPER_TESTING}));

INSTANTIATE_TEST_SUITE_P(
    Refused, UserTransition,
    ::testing::Values(
        // UP only while the driver is not dormant, and not from the L1 states.
        Transition{IF_OPER_DORMANT, true, IF_OPER_UP, IF_OPER_DORMANT},
        Transition{IF_OPER_DOWN, false, IF_OPER_UP, IF_OPER_DOWN},
        Transition{IF_OPER_LOWERLAYERDOWN, false, IF_OPER_UP, IF_OPER_LOWERLAYERDOWN},
        // DORMANT and TESTING only from an operational state.
        Transition{IF_OPER_DOWN, false, IF_OPER_DORMANT, IF_OPER_DOWN},
        Transition{IF_OPER_LOWERLAYERDOWN, false, IF_OPER_DORMANT, IF_OPER_LOWERLAYERDOWN},
        Transition{IF_OPER_TESTING, false, IF_OPER_DORMANT, IF_OPER_TESTING},
        Transition{IF_OPER_DORMANT, false, IF_OPER_TESTING, IF_OPER_DORMANT},
        Transition{IF_OPER_DOWN, false, IF_OPER_TESTING, IF_OPER_DOWN},
        // Userspace never sets the driver's states.
        Transition{IF_OPER_UP, false, IF_OPER_DOWN, IF_OPER_UP},
        Transition{IF_OPER_UP, false, IF_OPER_LOWERLAYERDOWN, IF_OPER_UP},
        Transition{IF_OPER_UP, false, IF_OPER_NOTPRESENT, IF_OPER_UP},
        Transition{IF_OPER_DORMANT, false, IF_OPER_UNKNOWN, IF_OPER_DORMANT},
        Transition{IF_OPER_DORMANT, false, 200, IF_OPER_DORMANT},
        // Asking for the state it is in changes nothing.
        Transition{IF_OPER_UP, false, IF_OPER_UP, IF_OPER_UP},
        Transition{IF_OPER_DORMANT, false, IF_OPER_DORMANT, IF_OPER_DORMANT}));

TEST(Operstate, SupplicantRecipe) {
  Operstate o = up_interface();
  o.set_linkmode(IF_LINK_MODE_DORMANT);
  o.set_operstate(IF_OPER_DORMANT);
  EXPECT_EQ(o.reported(), IF_OPER_DORMANT);
  EXPECT_EQ(o.flags(), unsigned{kUp | kLowerUp});
  // Authenticated.
  EXPECT_TRUE(o.set_operstate(IF_OPER_UP));
  EXPECT_EQ(o.flags(), unsigned{kUp | kLowerUp | kRunning});
  // The lower layer bounces: back to DORMANT, and UP is refused meanwhile.
  o.set_carrier(false);
  EXPECT_FALSE(o.set_operstate(IF_OPER_UP));
  EXPECT_EQ(o.reported(), IF_OPER_DOWN);
  o.set_carrier(true);
  EXPECT_EQ(o.reported(), IF_OPER_DORMANT);
  // Reauthentication fails.
  o.set_operstate(IF_OPER_UP);
  EXPECT_TRUE(o.set_operstate(IF_OPER_DORMANT));
  // The supplicant leaves: link mode 0 and a sane operstate.
  o.set_linkmode(IF_LINK_MODE_DEFAULT);
  o.set_operstate(IF_OPER_UP);
  EXPECT_EQ(o.reported(), IF_OPER_UP);
}

// ----------------------------------------------------------- announcements

struct Event {
  uint16_t type;
  LinkState state;
  unsigned change;
};

class NetDeviceEvents : public ::testing::Test {
 protected:
  void SetUp() override {
    dev_ = std::make_shared<NetDevice>(NetDevice::Identity{"tun", ARPHRD_NONE, 7, 42, "cnunit0"},
                                       [this] {
                                         LinkStats s;
                                         s.rx_packets = rx_packets_;
                                         return s;
                                       });
    id_ = table_.subscribe([this](uint16_t type, const LinkState& s, unsigned change) {
      events_.push_back({type, s, change});
    });
    table_.add(dev_);
  }
  void TearDown() override { table_.unsubscribe(id_); }

  LinkTable table_;
  std::shared_ptr<NetDevice> dev_;
  std::vector<Event> events_;
  int id_ = 0;
  uint64_t rx_packets_ = 3;
};

TEST_F(NetDeviceEvents, RegisterAndUnregisterAreAnnounced) {
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].type, RTM_NEWLINK);
  EXPECT_EQ(events_[0].state.ifindex, 42);
  EXPECT_EQ(events_[0].state.operstate, IF_OPER_DOWN);
  EXPECT_EQ(events_[0].state.stats.rx_packets, 3u);
  EXPECT_EQ(table_.by_index(7, 42), dev_);
  EXPECT_EQ(table_.by_name(7, "cnunit0"), dev_);
  EXPECT_EQ(table_.by_index(8, 42), nullptr);  // another namespace
  table_.remove(*dev_);
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_[1].type, RTM_DELLINK);
  EXPECT_EQ(table_.by_index(7, 42), nullptr);
}

TEST_F(NetDeviceEvents, DriverChangesWhileDownAreSilent) {
  dev_->set_carrier(false);
  dev_->set_carrier(true);
  EXPECT_EQ(events_.size(), 1u);
  dev_->stack_changed({true, 1500, "cnunit0"});
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_[1].change, kUp | kRunning | kLowerUp);
  EXPECT_EQ(events_[1].state.operstate, IF_OPER_UP);  // the policy ran while down
  dev_->set_carrier(false);
  ASSERT_EQ(events_.size(), 3u);
  EXPECT_EQ(events_[2].state.flags, unsigned{kUp});
  EXPECT_EQ(events_[2].state.operstate, IF_OPER_DOWN);
  EXPECT_FALSE(events_[2].state.carrier);
}

TEST_F(NetDeviceEvents, StackRenamesAndMtuAreAnnouncedEvenWhileDown) {
  dev_->stack_changed({false, 1400, "cnunit1"});
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_[1].state.name, "cnunit1");
  EXPECT_EQ(events_[1].state.mtu, 1400u);
  EXPECT_EQ(table_.by_name(7, "cnunit1"), dev_);
  dev_->stack_changed({false, 1400, "cnunit1"});
  EXPECT_EQ(events_.size(), 2u);  // nothing changed
}

TEST_F(NetDeviceEvents, SetlinkWithoutAStackIsApplied) {
  class NoStack final : public Link {
   public:
    std::string name() const override { return "cnunit0"; }
    uint64_t netns() const override { return 7; }
    int receive(std::span<const std::byte>) override { return 0; }
    int set_carrier(bool) override { return 0; }
    int get_hwaddr(sockaddr*) override { return -EOPNOTSUPP; }
    int set_hwaddr(const sockaddr&) override { return -EOPNOTSUPP; }
  } link;
  EXPECT_EQ(dev_->setlink({true, std::nullopt, std::nullopt, std::nullopt}), -ENODEV);  // not bound
  dev_->bind(&link);
  EXPECT_EQ(dev_->setlink({true, std::nullopt, IF_LINK_MODE_DORMANT, IF_OPER_DORMANT}), 0);
  LinkState s = dev_->state();
  EXPECT_EQ(s.operstate, IF_OPER_DORMANT);
  EXPECT_EQ(s.linkmode, IF_LINK_MODE_DORMANT);
  EXPECT_EQ(s.flags, unsigned{kUp | kLowerUp});
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(dev_->setlink({std::nullopt, std::nullopt, std::nullopt, IF_OPER_UP}), 0);
  ASSERT_EQ(events_.size(), 3u);
  EXPECT_EQ(events_[2].state.operstate, IF_OPER_UP);
  EXPECT_EQ(events_[2].change, unsigned{kRunning});
  dev_->bind(nullptr);
  rx_packets_ = 99;  // the driver is gone: the last counters stay
  EXPECT_EQ(dev_->state().stats.rx_packets, 3u);
}

}  // namespace
}  // namespace cusenet
