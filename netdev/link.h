#pragma once
// The network-stack side of an emulated interface. An emulated tun/tap (and
// later a PPP unit) owns one Link: frames the application writes are
// received by the stack through it (the kernel's netif_rx), and frames the
// stack transmits on the interface (ndo_start_xmit) come back through
// Deliver. Counters follow the kernel's view of the interface: rx = from the
// application into the stack, tx = from the stack to the application.
#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "core/caller.h"
#include "core/frame.h"

namespace cusenet {

// Frames transmitted by the stack on the interface. Called on the interface
// I/O thread; must not block.
using Deliver = std::function<void(FramePtr)>;

class Link {
 public:
  virtual ~Link() = default;
  // The interface's name as the stack knows it (the kernel resolves "%d").
  virtual std::string name() const = 0;
  // Identifies the network namespace the interface lives in (its nsfs inode).
  virtual uint64_t netns() const = 0;
  // A frame from the application into the stack: 0 or -errno (EIO while the
  // interface is administratively down, EINVAL for a malformed frame).
  virtual int receive(std::span<const std::byte> frame) = 0;
  virtual int set_carrier(bool on) = 0;
  // Hardware address (tap): sa_family ARPHRD_ETHER and 6 bytes of sa_data.
  virtual int get_hwaddr(sockaddr* addr) = 0;
  virtual int set_hwaddr(const sockaddr& addr) = 0;
};

class LinkFactory {
 public:
  virtual ~LinkFactory() = default;
  // A new interface named `name` ("tun%d" allowed) in the caller's network
  // namespace; tap: Ethernet frames, else raw IP. nullptr with -errno in *err
  // (EBUSY when the name is taken in that namespace).
  virtual std::unique_ptr<Link> create(const Caller& caller, const std::string& name, bool tap,
                                       Deliver deliver, int* err) = 0;
  // The nsfs inode of the caller's network namespace (what Link::netns()
  // returns for interfaces created there); 0 with -errno in *err.
  virtual uint64_t netns_of(const Caller& caller, int* err) = 0;
};

}  // namespace cusenet
