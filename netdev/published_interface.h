#pragma once
// What a driver (a tun/tap interface, a PPP unit) owns of its interface from
// creation to shutdown: the Link to the stack, and the NetDevice published in
// the factory's LinkTable behind it. The order of the steps is the point:
// - adopt() makes the capture tap reachable as soon as the NetDevice exists:
//   the Link may deliver before the driver's creation is done.
// - publish() adds the NetDevice to the table (RTM_NEWLINK); a driver that
//   wants the first announcement to show its carrier sets it in between.
// - unpublish() withdraws it (RTM_DELLINK) while the Link still exists.
// - shutdown() hides the Link from the packet path, waits out the driver's
//   grace readers, then destroys the Link, whose destructor waits for a
//   Deliver in progress. A driver that retires more of its packet path in the
//   same grace period unpublishes first and swaps its own pointers before.
// - Destroyed without shutdown(), it destroys the Link first; a driver holds
//   it as its own last member, since the Link's Deliver points at the driver.
//
// Control plane (adopt, publish, unpublish, shutdown, link, netdev): the
// driver's registry mutex is held. Packet path: packet_link() and capture(),
// lock-free, inside a TunGrace read section of the grace shutdown() is given.
#include <atomic>
#include <memory>

#include "netdev/capture_tap.h"
#include "netdev/link.h"
#include "netdev/net_device.h"
#include "netdev/tun_grace.h"

namespace cusenet {

class PublishedInterface {
 public:
  PublishedInterface() = default;
  PublishedInterface(const PublishedInterface&) = delete;
  PublishedInterface& operator=(const PublishedInterface&) = delete;

  // Once, with the Link the factory made and the NetDevice that stands for it.
  void adopt(std::unique_ptr<Link> link, std::shared_ptr<NetDevice> netdev);
  // publish_netdev into table (nullptr: none), until unpublish().
  void publish(LinkTable* table);
  // withdraw_netdev while the Link exists; idempotent.
  void unpublish();
  // Unpublishes if not yet done, and destroys the Link once no reader of
  // `grace` can still hold it; idempotent.
  void shutdown(TunGrace& grace);

  // The Link; nullptr before adopt() and after shutdown().
  Link* link() const { return link_owner_.get(); }
  // After adopt(); it outlives shutdown() (the counters stay as last read).
  NetDevice& netdev() const { return *netdev_; }

  // ---- Packet path ----
  // nullptr once shutdown() has begun.
  Link* packet_link() const { return link_.load(std::memory_order_acquire); }
  CaptureTap* capture() const { return capture_.load(std::memory_order_acquire); }

 private:
  std::shared_ptr<NetDevice> netdev_;
  LinkTable* table_ = nullptr;  // where netdev_ is published, until unpublish()
  std::atomic<CaptureTap*> capture_{nullptr};

  // Last, so it goes first: a Deliver in progress may still use the
  // capture tap in netdev_.
  std::atomic<Link*> link_{nullptr};
  std::unique_ptr<Link> link_owner_;
};

}  // namespace cusenet
