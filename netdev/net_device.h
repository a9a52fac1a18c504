#pragma once
// The stack's view of one emulated interface, shared by tun/tap interfaces
// and PPP units (what the kernel keeps in struct net_device): its identity
// (ifindex, name, namespace, kind, ARPHRD type), its RFC 2863 operstate, MTU,
// counters, and the capture taps of its packet path.
//
// Three parties change it, as in the kernel:
// - the driver: carrier and dormant (netif_carrier_on/off on tun attach and
//   detach, TUNSETCARRIER, IFF_NO_CARRIER; PPP channel up/down, hangup);
// - the stack, through the Link's watcher: admin state, MTU, renames
//   (`ip link set up` goes to the kernel interface);
// - userspace, through RTM_SETLINK on the daemon's rtnl socket: link mode,
//   operstate, admin state and MTU, mirrored onto the stack's interface.
//
// Every change the kernel would announce reaches the LinkTable's listeners
// as RTM_NEWLINK: admin, MTU and name changes always; operstate, flag, carrier
// and link mode changes while the interface is up (netdev_state_change).
//
// Thread safety: all methods may be called from any thread; they serialise
// on one mutex per device, which is also held while the table's listeners
// run. The packet path only touches capture() and up(), which are lock-free.
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "netdev/capture_tap.h"
#include "netdev/link.h"
#include "netdev/operstate.h"

namespace cusenet {

// rx: frames the interface received (from the application into the stack);
// tx: frames the stack sent on it.
struct LinkStats {
  uint64_t rx_packets = 0, rx_bytes = 0, rx_dropped = 0;
  uint64_t tx_packets = 0, tx_bytes = 0, tx_dropped = 0;
};

// One RTM_NEWLINK's worth of an interface.
struct LinkState {
  int ifindex = 0;
  uint64_t netns = 0;        // nsfs inode of its network namespace
  std::string name;
  std::string kind;          // IFLA_INFO_KIND: "tun" (tun and tap alike, as the kernel), "ppp"
  unsigned short type = 0;   // ARPHRD_*
  unsigned flags = 0;        // ifi_flags: IFF_UP and the derived IFF_RUNNING, IFF_LOWER_UP, IFF_DORMANT
  uint8_t operstate = 0;     // IFLA_OPERSTATE as reported
  uint8_t linkmode = 0;
  bool carrier = false;
  uint32_t mtu = 0;
  LinkStats stats;
};

class NetDevice {
 public:
  struct Identity {
    std::string kind;
    unsigned short type = 0;
    uint64_t netns = 0;
    int ifindex = 0;
    std::string name;
  };
  using StatsFn = std::function<LinkStats()>;
  // ndo_open / ndo_stop: the admin state became `up`.
  using OpenFn = std::function<void(bool up)>;

  // stats: reads the driver's counters; open: hears admin state changes.
  // Both are called with the device's mutex held (they must not call back
  // into the device), until bind(nullptr).
  NetDevice(Identity id, StatsFn stats, OpenFn open = nullptr);
  NetDevice(const NetDevice&) = delete;
  NetDevice& operator=(const NetDevice&) = delete;

  // ---- The driver ----
  void set_carrier(bool on);
  void set_dormant(bool on);
  bool carrier() const;

  // ---- The stack ----
  // The Link that setlink() mirrors onto. nullptr: the driver and its Link
  // are going; waits for calls in progress, after which neither the Link nor
  // the stats function is used again (the counters stay as last read).
  void bind(Link* link);
  // What the Link's watcher reports.
  void stack_changed(const LinkEvent& event);
  // IFF_UP as last reported; lock-free, for the packet path.
  bool up() const { return up_.load(std::memory_order_acquire); }
  // IFF_UP as the stack has it now: asked of the Link where it can answer
  // (its reports may lag behind `ip link set up` by a moment), and taken as
  // a report; else up().
  bool up_now();

  // ---- Userspace (RTM_SETLINK) ----
  // Applied in do_setlink's order (MTU, admin state, operstate, link mode)
  // after the stack's interface took the same request: 0 or its -errno;
  // -ENODEV once the Link is gone.
  int setlink(const LinkRequest& request);

  LinkState state() const;
  int ifindex() const { return id_.ifindex; }
  uint64_t netns() const { return id_.netns; }
  std::string name() const;
  CaptureTap& capture() { return capture_; }

 private:
  friend class LinkTable;
  LinkState state_locked() const;
  void stack_changed_locked(const LinkEvent& event);
  // Announces what changed since `before`, under the kernel's rules.
  void commit(const LinkState& before);

  const Identity id_;
  StatsFn stats_;
  OpenFn open_;
  LinkStats last_stats_;
  std::atomic<bool> up_{false};
  CaptureTap capture_;
  mutable std::mutex mu_;
  Operstate op_;
  // What op_'s carrier is made of: the driver's netif_carrier_on/off and
  // the medium's, as the Link reports it.
  bool driver_carrier_ = true;
  bool medium_carrier_ = true;
  std::string name_;
  uint32_t mtu_ = 1500;
  Link* link_ = nullptr;
  LinkTable* table_ = nullptr;
};

// The emulated interfaces, by namespace and ifindex (the kernel's per-netns
// device lists), and who listens to their RTM_NEWLINK/RTM_DELLINK (the
// RTNLGRP_LINK multicast group).
class LinkTable {
 public:
  // type: RTM_NEWLINK or RTM_DELLINK; change: ifi_change (flags that
  // changed; ~0u for a new or removed interface). Runs with the device's
  // mutex held, in the order of the changes: it must not call back into the
  // device or the table, nor block (post the work elsewhere).
  using Listener = std::function<void(uint16_t type, const LinkState& state, unsigned change)>;

  // Announces RTM_NEWLINK (register) / RTM_DELLINK (unregister).
  void add(std::shared_ptr<NetDevice> dev);
  void remove(NetDevice& dev);

  // In ifindex order.
  std::vector<std::shared_ptr<NetDevice>> in_netns(uint64_t netns) const;
  std::shared_ptr<NetDevice> by_index(uint64_t netns, int ifindex) const;
  std::shared_ptr<NetDevice> by_name(uint64_t netns, const std::string& name) const;

  int subscribe(Listener listener);
  // Once it returns, the listener is not running and will not run again.
  void unsubscribe(int id);

 private:
  friend class NetDevice;
  void announce(uint16_t type, const LinkState& state, unsigned change);

  mutable std::mutex mu_;
  std::vector<std::shared_ptr<NetDevice>> devices_;
  std::mutex listeners_mu_;
  std::map<int, Listener> listeners_;
  int next_id_ = 1;
};

// A driver's NetDevice over its Link's life (tun/tap interfaces, PPP
// units): publish_netdev() binds it to the Link, has the Link's watcher feed
// it and adds it to the table (nullptr: none); withdraw_netdev() undoes
// that, and must return before the Link goes.
void publish_netdev(const std::shared_ptr<NetDevice>& dev, Link& link, LinkTable* table);
void withdraw_netdev(NetDevice& dev, Link& link, LinkTable* table);

}  // namespace cusenet
