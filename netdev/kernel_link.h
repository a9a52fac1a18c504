#pragma once
// The kernel backend of emulated interfaces: each Link is a real kernel
// TUN/TAP interface of the same name, created in the caller's network
// namespace, so that ip/ifconfig/rtnetlink from pppd or vtund configure it
// and the kernel routes through it. Frames the application writes are
// written to the kernel's tun fd; frames the kernel transmits on the
// interface are read from it on the IoLoop and handed to Deliver.
//
// The interface is created with IFF_TUN_EXCL, so an existing interface is
// never taken over (EBUSY), and IFF_NO_PI: frames are bare IP or Ethernet.
// It lives as long as the Link: destroying the Link closes the tun fd and
// the kernel removes the interface (when that happens inside the Link's own
// Deliver, at the end of the loop's current batch).
#include <cstdint>
#include <memory>
#include <string>

#include "netdev/io_loop.h"
#include "netdev/link.h"

namespace cusenet {

class KernelLinkFactory final : public LinkFactory {
 public:
  // tun_path: the kernel's TUN node (the CUSE VM tier reaches it through a
  // node of its own). The loop must outlive every Link created here.
  explicit KernelLinkFactory(IoLoop& loop, std::string tun_path = "/dev/net/tun");

  std::unique_ptr<Link> create(const Caller& caller, const std::string& name, bool tap,
                               Deliver deliver, int* err) override;
  uint64_t netns_of(const Caller& caller, int* err) override;

 private:
  IoLoop& loop_;
  std::string tun_path_;
};

}  // namespace cusenet
