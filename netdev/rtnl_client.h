#pragma once
// A client of rtnetlink link messages over either transport: the daemon's
// rtnl socket (a unix socket, see tools/rtnl_server.h) or the kernel's own
// NETLINK_ROUTE. Everything above the transport is the same, so a program
// written against it (cusenetctl link and monitor, the supplicant test)
// runs unchanged against the daemon or the kernel.
//
// Multicast messages (nlmsg_seq 0) that arrive while a request waits for its
// answer are kept, in order, for next_event().
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "core/fd.h"
#include "netdev/rtnl_message.h"

namespace cusenet {

class RtnlClient {
 public:
  // nullptr with -errno in *err.
  static std::unique_ptr<RtnlClient> connect(const std::string& socket_path, int* err);
  static std::unique_ptr<RtnlClient> kernel(int* err);

  // Joins multicast groups given as a RTMGRP_* mask: 0 or -errno.
  int join(uint32_t groups);
  // RTM_GETLINK dump: every interface, until NLMSG_DONE.
  int dump(std::vector<rtnl::LinkMessage>* links);
  // RTM_GETLINK by ifindex (> 0), else by name.
  int get(int ifindex, const std::string& name, rtnl::LinkMessage* out);
  // RTM_SETLINK with NLM_F_ACK; request's header type, flags and seq are
  // filled in. 0 or the -errno of the NLMSG_ERROR answer.
  int set(rtnl::LinkMessage request);
  // The next RTM_NEWLINK/RTM_DELLINK multicast: 0, -ETIMEDOUT, -EPIPE when
  // the daemon closed the socket, -ENOBUFS when the kernel dropped some.
  int next_event(rtnl::LinkMessage* out, int timeout_ms);

  int fd() const { return fd_.get(); }

 private:
  RtnlClient(UniqueFd fd, bool kernel) : fd_(std::move(fd)), kernel_(kernel) {}
  int send(const rtnl::Bytes& out);
  // One datagram's messages: 0, -ETIMEDOUT, -EPIPE or -errno.
  int receive(std::vector<rtnl::Bytes>* messages, int timeout_ms);
  // Waits for the messages answering seq; multicasts on the way are queued.
  int answer(uint32_t seq, std::vector<rtnl::Bytes>* out);

  UniqueFd fd_;
  bool kernel_;
  uint32_t seq_ = 0;
  std::deque<rtnl::LinkMessage> events_;
};

}  // namespace cusenet
