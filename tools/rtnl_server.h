#pragma once
// The daemon's rtnetlink socket (RUN_DIR/rtnl.sock): a unix SOCK_SEQPACKET
// socket on which each connection behaves as a NETLINK_ROUTE socket opened
// in the client's network namespace (its namespace when it connected), over
// the emulated interfaces of that namespace, in the kernel's wire format
// (netdev/rtnl_message.h):
// - RTM_GETLINK with NLM_F_DUMP: one RTM_NEWLINK (NLM_F_MULTI) per interface
//   in ifindex order, then NLMSG_DONE;
// - RTM_GETLINK by ifi_index, else by IFLA_IFNAME: its RTM_NEWLINK, or
//   NLMSG_ERROR -ENODEV (no such interface) / -EINVAL (neither given);
// - RTM_SETLINK: IFF_UP through ifi_flags/ifi_change, IFLA_MTU,
//   IFLA_OPERSTATE, IFLA_LINKMODE, applied to the kernel interface as well;
//   -EPERM without CAP_NET_ADMIN over the namespace, -EOPNOTSUPP for other
//   attributes;
// - rtnl::kJoinGroups with RTMGRP_LINK: from then on every RTM_NEWLINK and
//   RTM_DELLINK of the namespace's emulated interfaces (the kernel's
//   RTNLGRP_LINK multicast).
// Errors always answer NLMSG_ERROR; successes only with NLM_F_ACK. Other
// message types answer -EOPNOTSUPP. The answering is tools/rtnl_requests.h.
//
// Runs on a thread of its own. A client too slow to take its multicast
// loses messages (the kernel would report ENOBUFS); each loss is logged.
// Anyone may connect (the socket is 0666, as anyone may open NETLINK_ROUTE):
// tools/client_limits.h bounds what an unprivileged client takes; a request
// beyond its connection's budget is answered NLMSG_ERROR -ENOBUFS unread.
#include <map>
#include <memory>
#include <string>

#include "core/fd.h"
#include "netdev/io_loop.h"
#include "netdev/net_device.h"
#include "netdev/rtnl_message.h"
#include "tools/client_limits.h"
#include "tools/rtnl_requests.h"

namespace cusenet {

class RtnlServer {
 public:
  // The table must outlive the server.
  RtnlServer(LinkTable& table, const ClientLimits& limits);
  ~RtnlServer();
  RtnlServer(const RtnlServer&) = delete;
  RtnlServer& operator=(const RtnlServer&) = delete;

  // Serves the listening socket (RunDir::listen, non-blocking): 0 or -errno.
  int start(UniqueFd listening);
  void stop();

 private:
  struct Connection {
    UniqueFd fd;
    RtnlPeer peer;
    bool limited = true;  // not privileged(): held to the limits
    MessageBudget budget{0};
  };

  void accept_one();
  UniqueFd accept_or_shed();
  void receive(Connection& c);
  bool admit(Connection& c);
  void send(Connection& c, const rtnl::Bytes& out);
  void multicast(uint16_t type, const LinkState& state, unsigned change);
  void close(int fd);

  LinkTable& table_;
  const ClientLimits limits_;
  ConnectionCount per_uid_;  // loop thread only
  UniqueFd spare_;  // given up to accept and shed a connection when out of descriptors
  int subscription_ = 0;
  UniqueFd listen_;
  uint32_t next_portid_ = 1;
  std::map<int, std::unique_ptr<Connection>> connections_;  // loop thread only
  std::unique_ptr<IoLoop> loop_;  // last: its callbacks use the members above
};

}  // namespace cusenet
