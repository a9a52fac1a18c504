#pragma once
// rtnetlink link messages in the kernel's wire format: struct nlmsghdr,
// struct ifinfomsg, then IFLA_* attributes (struct nlattr), each padded to 4
// bytes. The daemon's rtnl socket speaks it, its clients speak it, and the
// kernel backend uses it with the kernel's own NETLINK_ROUTE sockets.
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "netdev/net_device.h"

namespace cusenet::rtnl {

using Bytes = std::vector<std::byte>;

// The daemon's rtnl socket is a unix socket, where neither bind(nl_groups)
// nor NETLINK_ADD_MEMBERSHIP exists: a client joins multicast groups with
// this message, whose payload is a __u32 group mask as in
// sockaddr_nl.nl_groups (RTMGRP_LINK). It is a control type (below
// NLMSG_MIN_TYPE), which the kernel acknowledges and otherwise ignores.
constexpr uint16_t kJoinGroups = NLMSG_MIN_TYPE - 1;

// An RTM_*LINK message; the attributes present are the ones set.
struct LinkMessage {
  nlmsghdr hdr{};  // nlmsg_len is computed when encoding
  ifinfomsg ifi{};
  std::optional<std::string> ifname;
  std::optional<std::string> kind;  // IFLA_LINKINFO / IFLA_INFO_KIND
  std::optional<uint32_t> mtu;
  std::optional<uint8_t> operstate, linkmode, carrier;
  std::optional<rtnl_link_stats64> stats;  // IFLA_STATS64
  std::vector<uint16_t> others;  // attribute types present but not decoded
};

void append_link(Bytes* out, const LinkMessage& m);
// NLMSG_ERROR: error 0 (an acknowledgement) or -errno, followed by the
// request's header (as with NETLINK_CAP_ACK: not its payload).
void append_error(Bytes* out, const nlmsghdr& request, int error);
// NLMSG_DONE closing a dump: NLM_F_MULTI, an int 0 as payload.
void append_done(Bytes* out, uint32_t seq, uint32_t pid);
void append_join(Bytes* out, uint32_t seq, uint32_t groups, uint16_t flags);

// The messages of one datagram, or false when a header is truncated or a
// length points past the end.
bool split(std::span<const std::byte> datagram, std::vector<std::span<const std::byte>>* messages);
nlmsghdr header_of(std::span<const std::byte> message);

// RTM_*LINK: 0; -EINVAL when shorter than an ifinfomsg or an attribute is
// malformed; -ERANGE when an attribute does not hold its type (nla_policy:
// a u8/u32 shorter than that, an IFLA_IFNAME longer than IFNAMSIZ - 1).
int parse_link(std::span<const std::byte> message, LinkMessage* out);
// NLMSG_ERROR: its error (0 for an acknowledgement); false when malformed.
bool parse_error(std::span<const std::byte> message, int* error);
// kJoinGroups: its group mask; false when malformed.
bool parse_join(std::span<const std::byte> message, uint32_t* groups);

// What rtnl_fill_ifinfo sends for an interface.
LinkMessage link_message(const LinkState& s, uint16_t type, unsigned change);

}  // namespace cusenet::rtnl
