#pragma once
// The kernel backend of emulated interfaces: each Link is a real kernel
// TUN/TAP interface of the same name, created in the caller's network
// namespace, so that ip/ifconfig/rtnetlink from pppd or vtund configure it
// and the kernel routes through it. Frames the application writes are
// written to the kernel's tun fd; frames the kernel transmits on the
// interface are read from it on the IoLoop and handed to Deliver, or read by
// a reader that found its queue empty (pull()), which then needs no thread
// wake-up: a tun's reply the stack sends during the write that asked for it
// (an echo reply, a TCP ACK) is read back on the same thread.
//
// The interface is created with IFF_TUN_EXCL, so an existing interface is
// never taken over (EBUSY), and IFF_NO_PI: frames are bare IP or Ethernet.
// It lives as long as the Link: destroying the Link closes the tun fd and
// the kernel removes the interface (when that happens inside the Link's own
// Deliver, at the end of the loop's current batch). Deleted from outside
// (`ip link del`), the interface detaches our fd, which then polls POLLERR
// and reads EBADFD: the loop, which polls the fd anyway, learns of it there
// and tells Link::on_gone. (RTM_DELLINK on the namespace's event socket
// would say the same, but is lost when that socket overruns.) The fd holds
// the namespace, as any tun file does: deleting the namespace (`ip netns
// del`) deletes no interface while the daemon has one there.
//
// In each namespace where it has interfaces, the factory keeps a pair of
// rtnetlink sockets (opened there, shared by the links there, closed with
// the last of them): one member of RTNLGRP_LINK, read on the loop, reports
// each interface's admin state, MTU and name to its Link's watcher; the
// other carries the Links' RTM_SETLINK (admin state, MTU, IFLA_LINKMODE,
// IFLA_OPERSTATE) and RTM_GETLINK.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "netdev/io_loop.h"
#include "netdev/link.h"
#include "netdev/tun_driver.h"

namespace cusenet {

class NetnsWatch;

class KernelLinkFactory final : public LinkFactory {
 public:
  // tun_path: the kernel's TUN node (the CUSE VM tier reaches it through a
  // node of its own). table: where the interfaces are published (nullptr:
  // nowhere). The loop and the table must outlive every Link created here.
  explicit KernelLinkFactory(IoLoop& loop, std::string tun_path = "/dev/net/tun",
                             LinkTable* table = nullptr);
  ~KernelLinkFactory() override;

  std::unique_ptr<Link> create(const Caller& caller, const std::string& name, bool tap,
                               Deliver deliver, int* err) override;
  uint64_t netns_of(const Caller& caller, int* err) override;
  LinkTable* table() override { return table_; }
  // TUNGETFEATURES is asked of tun_path at the first call; the offload
  // rules are learnt on the first interface created, while it is still down.
  const TunDriver* tun_driver() override;

 private:
  IoLoop& loop_;
  std::string tun_path_;
  LinkTable* const table_;
  std::mutex mu_;
  std::map<uint64_t, std::weak_ptr<NetnsWatch>> watches_;  // by netns id
  TunDriver driver_;
  std::once_flag features_once_;
};

}  // namespace cusenet
