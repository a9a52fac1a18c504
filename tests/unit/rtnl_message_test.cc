// rtnetlink link messages: what we encode is laid out as the kernel's
// (nlmsghdr, ifinfomsg, 4-byte aligned nlattrs, checked with the uapi
// macros), decodes back, and bad input answers the kernel's errors.
#include "netdev/rtnl_message.h"

#include <gtest/gtest.h>
#include <net/if_arp.h>

#include <cstring>

namespace cusenet {
namespace {

// The flags as plain numbers: glibc's and the kernel's enums do not mix.
constexpr unsigned kUp = IFF_UP, kLowerUp = IFF_LOWER_UP;

using rtnl::Bytes;

LinkState sample() {
  LinkState s;
  s.ifindex = 12;
  s.netns = 99;
  s.name = "cnmsg0";
  s.kind = "tun";
  s.type = ARPHRD_NONE;
  s.flags = kUp | kLowerUp;
  s.operstate = IF_OPER_DORMANT;
  s.linkmode = IF_LINK_MODE_DORMANT;
  s.carrier = true;
  s.mtu = 1400;
  s.stats.rx_packets = 5;
  s.stats.tx_bytes = 777;
  return s;
}

TEST(RtnlMessage, LinkMessageHasTheKernelsLayout) {
  Bytes b;
  rtnl::LinkMessage m = rtnl::link_message(sample(), RTM_NEWLINK, kUp);
  m.hdr.nlmsg_seq = 7;
  m.hdr.nlmsg_pid = 3;
  m.hdr.nlmsg_flags = NLM_F_MULTI;
  rtnl::append_link(&b, m);

  auto* nlh = reinterpret_cast<nlmsghdr*>(b.data());
  ASSERT_TRUE(NLMSG_OK(nlh, b.size()));
  EXPECT_EQ(nlh->nlmsg_len, b.size());
  EXPECT_EQ(nlh->nlmsg_type, RTM_NEWLINK);
  EXPECT_EQ(nlh->nlmsg_seq, 7u);
  EXPECT_EQ(nlh->nlmsg_flags, NLM_F_MULTI);
  auto* ifi = static_cast<ifinfomsg*>(NLMSG_DATA(nlh));
  EXPECT_EQ(ifi->ifi_family, AF_UNSPEC);
  EXPECT_EQ(ifi->ifi_index, 12);
  EXPECT_EQ(ifi->ifi_type, ARPHRD_NONE);
  EXPECT_EQ(ifi->ifi_flags, unsigned{kUp | kLowerUp});
  EXPECT_EQ(ifi->ifi_change, unsigned{kUp});

  int len = static_cast<int>(IFLA_PAYLOAD(nlh));
  bool name = false, oper = false, mode = false, mtu = false, stats = false, kind = false;
  for (rtattr* a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % RTA_ALIGNTO, 0u);
    switch (a->rta_type) {
      case IFLA_IFNAME:
        name = true;
        EXPECT_STREQ(static_cast<const char*>(RTA_DATA(a)), "cnmsg0");
        break;
      case IFLA_OPERSTATE:
        oper = true;
        EXPECT_EQ(RTA_PAYLOAD(a), 1u);
        EXPECT_EQ(*static_cast<uint8_t*>(RTA_DATA(a)), IF_OPER_DORMANT);
        break;
      case IFLA_LINKMODE:
        mode = true;
        EXPECT_EQ(*static_cast<uint8_t*>(RTA_DATA(a)), IF_LINK_MODE_DORMANT);
        break;
      case IFLA_MTU:
        mtu = true;
        EXPECT_EQ(*static_cast<uint32_t*>(RTA_DATA(a)), 1400u);
        break;
      case IFLA_STATS64: {
        stats = true;
        ASSERT_EQ(RTA_PAYLOAD(a), sizeof(rtnl_link_stats64));
        rtnl_link_stats64 st;
        std::memcpy(&st, RTA_DATA(a), sizeof st);
        EXPECT_EQ(st.rx_packets, 5u);
        EXPECT_EQ(st.tx_bytes, 777u);
        break;
      }
      case IFLA_LINKINFO: {
        auto* inner = static_cast<rtattr*>(RTA_DATA(a));
        int inner_len = static_cast<int>(RTA_PAYLOAD(a));
        ASSERT_TRUE(RTA_OK(inner, inner_len));
        EXPECT_EQ(inner->rta_type, IFLA_INFO_KIND);
        EXPECT_STREQ(static_cast<const char*>(RTA_DATA(inner)), "tun");
        kind = true;
        break;
      }
    }
  }
  EXPECT_EQ(len, 0);
  EXPECT_TRUE(name && oper && mode && mtu && stats && kind);
}

TEST(RtnlMessage, EncodeDecodeRoundTrip) {
  Bytes b;
  rtnl::append_link(&b, rtnl::link_message(sample(), RTM_DELLINK, ~0u));
  rtnl::LinkMessage m;
  ASSERT_EQ(rtnl::parse_link(b, &m), 0);
  EXPECT_EQ(m.hdr.nlmsg_type, RTM_DELLINK);
  EXPECT_EQ(m.ifi.ifi_index, 12);
  EXPECT_EQ(m.ifi.ifi_change, ~0u);
  EXPECT_EQ(m.ifname, "cnmsg0");
  EXPECT_EQ(m.kind, "tun");
  EXPECT_EQ(m.mtu, 1400u);
  EXPECT_EQ(m.operstate, IF_OPER_DORMANT);
  EXPECT_EQ(m.linkmode, IF_LINK_MODE_DORMANT);
  EXPECT_EQ(m.carrier, 1);
  ASSERT_TRUE(m.stats);
  EXPECT_EQ(m.stats->rx_packets, 5u);
  EXPECT_TRUE(m.others.empty());
}

TEST(RtnlMessage, SeveralMessagesInOneDatagramSplit) {
  Bytes b;
  rtnl::append_link(&b, rtnl::link_message(sample(), RTM_NEWLINK, 0));
  rtnl::append_done(&b, 4, 5);
  std::vector<std::span<const std::byte>> parts;
  ASSERT_TRUE(rtnl::split(b, &parts));
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(rtnl::header_of(parts[1]).nlmsg_type, NLMSG_DONE);
  EXPECT_EQ(rtnl::header_of(parts[1]).nlmsg_flags, NLM_F_MULTI);
  EXPECT_EQ(parts[1].size(), NLMSG_LENGTH(sizeof(int)));
  b.resize(b.size() - 2);  // the last message now claims more than there is
  parts.clear();
  EXPECT_FALSE(rtnl::split(b, &parts));
}

TEST(RtnlMessage, ErrorCarriesTheRequestHeader) {
  nlmsghdr req{32, RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK, 77, 1234};
  Bytes b;
  rtnl::append_error(&b, req, -ENODEV);
  auto* nlh = reinterpret_cast<nlmsghdr*>(b.data());
  EXPECT_EQ(nlh->nlmsg_type, NLMSG_ERROR);
  EXPECT_EQ(nlh->nlmsg_seq, 77u);
  EXPECT_EQ(nlh->nlmsg_len, NLMSG_LENGTH(sizeof(nlmsgerr)));
  auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(nlh));
  EXPECT_EQ(e->error, -ENODEV);
  EXPECT_EQ(e->msg.nlmsg_type, RTM_SETLINK);
  EXPECT_EQ(e->msg.nlmsg_seq, 77u);
  int error = 0;
  EXPECT_TRUE(rtnl::parse_error(b, &error));
  EXPECT_EQ(error, -ENODEV);
}

TEST(RtnlMessage, JoinGroupsIsAControlMessage) {
  Bytes b;
  rtnl::append_join(&b, 3, RTMGRP_LINK, NLM_F_ACK);
  EXPECT_LT(rtnl::header_of(b).nlmsg_type, NLMSG_MIN_TYPE);
  uint32_t groups = 0;
  ASSERT_TRUE(rtnl::parse_join(b, &groups));
  EXPECT_EQ(groups, unsigned{RTMGRP_LINK});
}

// A request as a client builds it by hand: header, ifinfomsg, attributes.
Bytes request(std::initializer_list<std::pair<uint16_t, Bytes>> attrs, size_t ifi_len = sizeof(ifinfomsg)) {
  Bytes b(NLMSG_HDRLEN + NLMSG_ALIGN(ifi_len));
  for (const auto& [type, payload] : attrs) {
    size_t at = b.size();
    b.resize(at + RTA_ALIGN(RTA_LENGTH(payload.size())));
    rtattr a{static_cast<unsigned short>(RTA_LENGTH(payload.size())), type};
    std::memcpy(b.data() + at, &a, sizeof a);
    if (!payload.empty()) std::memcpy(b.data() + at + RTA_LENGTH(0), payload.data(), payload.size());
  }
  nlmsghdr h{static_cast<uint32_t>(b.size()), RTM_SETLINK, NLM_F_REQUEST, 1, 0};
  std::memcpy(b.data(), &h, sizeof h);
  return b;
}

TEST(RtnlMessage, BadInputGetsTheKernelsErrors) {
  rtnl::LinkMessage m;
  EXPECT_EQ(rtnl::parse_link(request({}, 8), &m), -EINVAL);  // shorter than ifinfomsg
  EXPECT_EQ(rtnl::parse_link(request({{IFLA_OPERSTATE, {}}}), &m), -ERANGE);
  EXPECT_EQ(rtnl::parse_link(request({{IFLA_MTU, Bytes(2)}}), &m), -ERANGE);
  Bytes long_name(IFNAMSIZ + 1, std::byte{'a'});
  long_name.back() = std::byte{0};
  EXPECT_EQ(rtnl::parse_link(request({{IFLA_IFNAME, long_name}}), &m), -ERANGE);
  Bytes b = request({{IFLA_LINKMODE, Bytes(1, std::byte{1})}});
  b[NLMSG_HDRLEN + sizeof(ifinfomsg)] = std::byte{2};  // nla_len 2 < NLA_HDRLEN
  EXPECT_EQ(rtnl::parse_link(b, &m), -EINVAL);
  ASSERT_EQ(rtnl::parse_link(request({{IFLA_LINKMODE, Bytes(1, std::byte{1})}, {IFLA_TXQLEN, Bytes(4)}}), &m), 0);
  EXPECT_EQ(m.linkmode, 1);
  ASSERT_EQ(m.others.size(), 1u);
  EXPECT_EQ(m.others[0], IFLA_TXQLEN);
}

}  // namespace
}  // namespace cusenet
