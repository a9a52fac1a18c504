#pragma once
// What the daemon's rtnl socket (tools/rtnl_server.h) answers to one
// client's datagram, apart from the socket: the requests and replies are
// bytes, so the answering can be driven in-process (tests/fuzz).
#include <cstdint>
#include <functional>
#include <span>

#include "core/caller.h"
#include "netdev/net_device.h"
#include "netdev/rtnl_message.h"

namespace cusenet {

// One client as a NETLINK_ROUTE socket sees it.
struct RtnlPeer {
  Caller caller;
  uint64_t netns = 0;   // its namespace when it connected
  uint32_t portid = 0;  // nlmsg_pid of the replies
  uint32_t groups = 0;  // joined with rtnl::kJoinGroups
};

// Sends one reply datagram to the peer.
using RtnlSend = std::function<void(const rtnl::Bytes&)>;

// Whether the peer may have one more message served now (its budget);
// a message refused is answered NLMSG_ERROR -ENOBUFS unread.
using RtnlAdmit = std::function<bool()>;

// Answers every message of one datagram, in order, through send. False when
// the datagram is malformed (its messages before the fault are answered,
// the rest ignored, as netlink_rcv_skb stops there).
bool rtnl_answer(LinkTable& table, RtnlPeer& peer, std::span<const std::byte> datagram,
                 const RtnlSend& send, const RtnlAdmit& admit);

}  // namespace cusenet
