#pragma once
// The network-stack side of an emulated interface. An emulated tun/tap (and
// later a PPP unit) owns one Link: frames the application writes are
// received by the stack through it (the kernel's netif_rx), and frames the
// stack transmits on the interface (ndo_start_xmit) come back through
// Deliver. Counters follow the kernel's view of the interface: rx = from the
// application into the stack, tx = from the stack to the application.
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "core/caller.h"
#include "core/frame.h"

namespace cusenet {

// Frames transmitted by the stack on the interface. Called on the interface
// I/O thread (a wire's: the thread writing on its peer); must not block.
using Deliver = std::function<void(FramePtr)>;

// The stack's state of the interface, as its RTM_NEWLINK messages carry it.
struct LinkEvent {
  bool up = false;  // IFF_UP: `ip link set up` goes to the stack
  uint32_t mtu = 0;
  std::string name;
  uint8_t operstate = 0;  // IFLA_OPERSTATE, 0 (IF_OPER_UNKNOWN) when not reported
  // The medium's carrier, where the backend has one of its own (a wire's
  // end: its peer exists); the interface has carrier while both the driver
  // and the medium say so. nullopt: the driver's alone.
  std::optional<bool> carrier = std::nullopt;
};
using LinkWatcher = std::function<void(const LinkEvent&)>;

// RTM_SETLINK on the stack's interface; only what is set is changed.
struct LinkRequest {
  std::optional<bool> up;
  std::optional<uint32_t> mtu;
  std::optional<uint8_t> linkmode;   // IFLA_LINKMODE
  std::optional<uint8_t> operstate;  // IFLA_OPERSTATE (a transition request)
};

class LinkTable;
class TunDriver;

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

  // The stack's index of the interface in its namespace, stable while the
  // interface exists; 0 where the backend has none.
  virtual int ifindex() const { return 0; }
  // Reports the stack's state to watcher: once from watch() with the state
  // now, then after each change on the interface I/O thread. Replaces the
  // previous watcher; an empty one stops the reports. Once watch() returned,
  // the previous watcher is not running and will not run again.
  virtual void watch(LinkWatcher /*watcher*/) {}
  // The stack's state now, asked synchronously, for what must not lag
  // behind the reports (TUNSETLINK's EBUSY, POLLOUT): 0 or -errno;
  // -EOPNOTSUPP where no stack stands behind the Link.
  virtual int query(LinkEvent* /*now*/) { return -EOPNOTSUPP; }
  // 0 or -errno (the stack's, e.g. EINVAL for a bad MTU).
  virtual int set_link(const LinkRequest& /*request*/) { return -EOPNOTSUPP; }
  // Hands one frame the stack has transmitted but the I/O thread has not
  // taken yet to Deliver, on the calling thread: a reader that finds its
  // queue empty gets the frame without waiting for two thread wake-ups (the
  // I/O thread's, then its frontend's). False when the stack had none.
  // Any thread; frames reach Deliver in the stack's order either way.
  virtual bool pull() { return false; }
  // Calls `gone` once the stack's interface has been deleted from outside
  // the daemon (`ip link del`): on the interface I/O thread, or from here
  // if that already happened. Replaces the previous callback; an empty one
  // stops the reports; once on_gone() returned, the previous one is not
  // running. `gone` must not block nor call back into the Link. A backend
  // whose interfaces nobody else can delete never calls it.
  virtual void on_gone(std::function<void()> /*gone*/) {}
  // TUNSETOWNER / TUNSETGROUP on the stack's own tun interface, so that what
  // the stack shows of it (/sys/class/net/NAME/owner and group, `ip tuntap
  // show`) is what the emulated interface has. ids: kernel ids as the
  // daemon's user namespace sees them. 0 or -errno; -EOPNOTSUPP where no
  // kernel tun stands behind the Link.
  virtual int set_owner(uint32_t /*uid*/) { return -EOPNOTSUPP; }
  virtual int set_group(uint32_t /*gid*/) { return -EOPNOTSUPP; }
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
  // Where interfaces backed by this factory's links are published for link
  // queries, events and capture (netdev/net_device.h); nullptr: nowhere.
  virtual LinkTable* table() { return nullptr; }
  // The kernel TUN driver behind this factory's links, as learnt from it
  // (netdev/tun_driver.h); nullptr where there is none, and the emulator
  // follows the release it was written against.
  virtual const TunDriver* tun_driver() { return nullptr; }
};

}  // namespace cusenet
