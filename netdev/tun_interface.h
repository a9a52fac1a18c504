#pragma once
// One emulated tun/tap interface (the kernel's struct tun_struct): its flags,
// owner and group, the queues of the files attached to it, its counters, and
// the Link through which the network stack sees it.
//
// Concurrency, as in drivers/net/tun.c:
// - Control plane (attach, detach, flags, owner, carrier, destroy): callers
//   hold the registry mutex (the kernel's rtnl_lock).
// - Packet path (deliver on the Link's I/O thread; read and write on any
//   frontend thread, several at once): lock-free. The set of enabled queues
//   and the Link pointer are published with release stores and read inside
//   a TunGrace read section; whoever unpublishes one waits for the grace
//   period before purging a ring or destroying the Link, so Deliver never
//   pushes into a queue after its detach returned and never runs against a
//   destroyed Link. Flags and the virtio header size are atomics read once
//   per frame. Counters are relaxed atomics.
//
// The interface's NetDevice (net_device.h) carries its operstate, link
// events and capture taps: carrier changes go to it as to the kernel's
// netif_carrier_on/off, the Link's watcher reports the stack's admin state
// (which gates POLLOUT and TUNSETLINK), and both directions of the packet
// path pass its (lock-free) capture tap.
// It is published in the factory's LinkTable, if any, until destroy().
#include <linux/if_tun.h>
#include <sys/types.h>

#include <atomic>
#include <climits>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/file.h"
#include "core/frame.h"
#include "core/namespace.h"
#include "netdev/link.h"
#include "netdev/net_device.h"
#include "netdev/published_interface.h"
#include "netdev/tun.h"
#include "netdev/tun_flow.h"
#include "netdev/tun_grace.h"

namespace cusenet {

class TunInterface;

// TUN_READQ_SIZE: the tx_queue_len each queue's ring holds.
constexpr size_t kTunTxQueueLen = 500;
// MAX_TAP_QUEUES.
constexpr unsigned kTunMaxQueues = 256;
// TUN_FEATURES: the TUNSETIFF flags an interface keeps and TUNGETIFF reports.
constexpr unsigned kTunFeatures =
    IFF_NO_PI | IFF_ONE_QUEUE | IFF_VNET_HDR | IFF_MULTI_QUEUE | IFF_NAPI | IFF_NAPI_FRAGS;

// What one open file contributes to an interface: a queue (the kernel's
// struct tun_file). Owned by the file; an interface holds raw pointers to its
// attached queues and drops them in detach(), which the file calls before it
// goes away.
struct TunQueue {
  explicit TunQueue(Notify n) : notify(std::move(n)) {}

  FrameQueue ring{kTunTxQueueLen};  // frames from the stack waiting for read()
  const Notify notify;
  // Set while the file is attached, enabled or not; read lock-free.
  std::atomic<TunInterface*> iface{nullptr};
  std::atomic<unsigned> index{0};     // position among the enabled queues
  std::atomic<bool> disabled{false};  // detached by TUNSETQUEUE
  // Guarded by the registry mutex. `keep` holds the interface for as long as
  // the file lives, so a reader that loaded `iface` just before a detach
  // still has a live object.
  std::shared_ptr<TunInterface> keep;
  int sndbuf = INT_MAX;  // the file socket's sk_sndbuf
};

class TunInterface : public std::enable_shared_from_this<TunInterface> {
 public:
  // A new interface and its Link (the factory resolves "%d"); nullptr with
  // -errno in *err. flags: IFF_TUN or IFF_TAP plus kTunFeatures bits.
  static std::shared_ptr<TunInterface> create(LinkFactory& factory, const Caller& caller,
                                              const std::string& name, unsigned flags, int* err);
  ~TunInterface();
  TunInterface(const TunInterface&) = delete;
  TunInterface& operator=(const TunInterface&) = delete;

  // The name the stack knows now (renames included); control plane only.
  std::string name() const;
  uint64_t netns() const { return netns_; }
  bool tap() const { return (flags() & TUN_TYPE_MASK) == IFF_TAP; }
  bool multi_queue() const { return flags() & IFF_MULTI_QUEUE; }
  // Type, kTunFeatures bits, IFF_PERSIST and TUN_VNET_LE.
  unsigned flags() const { return flags_.load(std::memory_order_relaxed); }

  // ---- Control plane: the registry mutex is held. ----
  void set_flags(unsigned clear, unsigned set);
  void set_vnet_hdr_sz(int sz) { vnet_hdr_sz_.store(sz, std::memory_order_relaxed); }
  int vnet_hdr_sz() const { return vnet_hdr_sz_.load(std::memory_order_relaxed); }
  // tun_not_capable: an owner or group is set, the caller matches neither
  // where set, and lacks CAP_NET_ADMIN over the interface's network
  // namespace (net->user_ns). Owner and group both set: both must match.
  bool not_capable(const Caller& caller) const;
  uid_t owner = static_cast<uid_t>(-1);
  gid_t group = static_cast<gid_t>(-1);
  unsigned short link_type;  // dev->type: ARPHRD_NONE (tun) or ARPHRD_ETHER (tap)
  // netif_carrier_on/off, mirrored on the Link: 0, or the Link's -errno
  // with the carrier left as it was.
  int set_carrier(bool on);
  bool carrier() const { return carrier_; }
  Link& link() { return *iface_.link(); }
  // IFF_UP: as last reported by the stack (lock-free), and as the stack has
  // it now (asks it).
  bool up() const { return iface_.netdev().up(); }
  bool up_now() { return iface_.netdev().up_now(); }

  // tun_attach of a file that is not attached: -EBUSY (single queue taken),
  // -E2BIG (MAX_TAP_QUEUES).
  int attach(TunQueue* q);
  // TUNSETQUEUE: IFF_ATTACH_QUEUE on a disabled queue, IFF_DETACH_QUEUE on
  // an enabled one (multi-queue only; checked by the caller).
  void enable(TunQueue* q);
  void disable(TunQueue* q);
  // The file is going away. True when no file is attached any more.
  bool detach(TunQueue* q);
  const std::vector<TunQueue*>& enabled_queues() const { return queues_; }
  size_t attached_files() const { return queues_.size() + disabled_.size(); }
  // The interface leaves the stack: the Link is destroyed and every file
  // still attached reads EBADFD and polls POLLERR from now on.
  void destroy();
  void fill(TunCharDevice::InterfaceInfo* info) const;

  // ---- Packet path: lock-free, any thread. ----
  // A frame the stack transmitted (tun_net_xmit).
  void deliver(FramePtr frame);
  // A frame the application wrote on `from` (tun_get_user): bytes consumed
  // or -errno.
  ssize_t write(std::span<const std::byte> in, const TunQueue& from);
  // A frame popped from a queue, into a read() buffer (tun_put_user).
  ssize_t read(const Frame& frame, std::span<std::byte> buf);
  // A queue found empty: takes a frame the stack transmitted that the Link
  // has not delivered yet (Link::pull), into whichever queue it belongs to.
  // reader: a queue whose reader is here to take the frame at once, which
  // it then does not notify (nullptr: notify as usual). True when a frame
  // was pulled.
  bool pull(const TunQueue* reader);

 private:
  struct QueueSet {
    std::vector<TunQueue*> queues;
  };
  explicit TunInterface(unsigned flags);
  // Publishes queues_ to the packet path and waits out the old set's readers.
  void publish();
  void remove_enabled(TunQueue* q);
  // NETDEV_UP (tun_device_event): the interface came up, POLLOUT with it.
  void wake_writers();

  std::string name_;  // as created: for the packet path's log lines
  uint64_t netns_ = 0;
  // The user namespace that owns netns_ (net->user_ns), for capable().
  std::shared_ptr<const Namespace> user_ns_;
  std::atomic<unsigned> flags_;
  std::atomic<int> vnet_hdr_sz_;
  bool carrier_ = false;
  std::vector<TunQueue*> queues_;    // enabled, in index order
  std::vector<TunQueue*> disabled_;  // attached but detached by TUNSETQUEUE

  TunGrace grace_;
  std::atomic<const QueueSet*> published_;
  // Multi-queue interfaces only (IFF_MULTI_QUEUE is fixed at creation, as
  // the kernel's): 8 KiB a single queue never uses.
  const std::unique_ptr<TunFlowTable> flows_;
  std::atomic<uint64_t> rx_packets_{0}, rx_bytes_{0}, rx_dropped_{0};
  std::atomic<uint64_t> tx_packets_{0}, tx_bytes_{0}, tx_dropped_{0};

  // Last, so it goes first: its Link's Deliver callback points at this object.
  PublishedInterface iface_;
};

}  // namespace cusenet
