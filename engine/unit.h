#pragma once
// One PPP unit (the kernel's struct ppp): a multilink bundle and its network
// interface pppN, a Link from the factory. Its transmit side takes frames
// from the stack (Deliver) and from pppd (writes on its files) through
// npmode, the pass/active filters, VJ and CCP compression and multilink to
// its channels; its receive side takes frames from its channels through
// multilink reassembly, decompression and VJ to the stack (Link::receive)
// or pppd's read queue.
//
// The interface's NetDevice (netdev/net_device.h) is published in the
// factory's LinkTable from creation to shutdown, kind "ppp", ARPHRD_PPP: the
// Link's watcher reports the stack's admin state, MTU and name, both
// directions of the packet path pass its capture tap, and the unit drives its
// carrier (see update_carrier()).
//
// Concurrency, as ppp_generic's wlock/rlock:
// - Control plane (ioctls, channels joining and leaving, shutdown): the
//   registry mutex is held. Settings are atomics; what the packet path
//   dereferences (the channel list, filters, VJ state, CCP states, the Link)
//   is published and freed only after a grace period.
// - The transmit side runs in one Serializer, the receive side in another:
//   each has its own state (pending frame, VJ transmit slots, compressor,
//   multilink sequence numbers / decompressor, reassembly queue) and the
//   two run concurrently, as the kernel's two spinlocks let them.
#include <linux/ppp_defs.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/caller.h"
#include "core/frame.h"
#include "core/user_memory.h"
#include "engine/ccp.h"
#include "engine/multilink.h"
#include "engine/ppp_device.h"
#include "engine/ppp_filter.h"
#include "engine/ppp_proto.h"
#include "engine/published.h"
#include "engine/read_queue.h"
#include "engine/recv_queue.h"
#include "engine/serializer.h"
#include "engine/vj.h"
#include "netdev/link.h"
#include "netdev/net_device.h"
#include "netdev/published_interface.h"

namespace cusenet {

struct PppRegistry;
class Channel;

class Unit final : private MultilinkRx::Sink {
 public:
  // Frames waiting for the transmit side: the stack's and pppd's writes.
  static constexpr size_t kXmitQueueLen = 256;
  // Frames from the channels waiting for the receive side.
  static constexpr size_t kRecvQueueLen = 1024;

  // ppp_create_interface, the registry mutex held: unit < 0 takes the lowest
  // free number whose interface name pppN is free too. Registers the unit
  // and creates its Link before returning. nullptr with -errno in *err:
  // EEXIST (number taken, or its name), ENOSPC, or the factory's error.
  static std::shared_ptr<Unit> create(PppRegistry& registry, const Caller& caller, uint64_t netns,
                                      int unit, int* err);
  ~Unit();
  Unit(const Unit&) = delete;
  Unit& operator=(const Unit&) = delete;

  int index() const { return index_; }
  uint64_t netns() const { return netns_; }
  // Shut down: its owner closed or the device went.
  bool dead() const { return closing_.load(std::memory_order_acquire); }
  // No channel connected and no SC_LOOP_TRAFFIC: ppp_read answers 0 (end
  // of file) and ppp_poll POLLIN when nothing is queued.
  bool reads_eof() const { return reads_eof_.load(std::memory_order_acquire); }

  // ---- Control plane: the registry mutex is held. ----
  // The file that made the unit (identity only); null once it has closed.
  const void* owner = nullptr;
  // The owner closed (unregister_netdevice, ppp_dev_uninit): the number is
  // free again, the Link is destroyed, attached files read EOF. Channels
  // stay connected to the dead unit, as in the kernel, until they
  // disconnect or unregister; it carries no more data.
  void shutdown();
  void add_channel(Channel* channel);
  void remove_channel(Channel* channel);
  ReadQueue& read_queue() { return rq_; }
  // The unit-file ioctls of ppp_ioctl: 0 or -errno, -ENOTTY for the rest.
  long ioctl(unsigned cmd, uint64_t arg, UserMemory& mem);
  void fill(PppDevice::UnitInfo* info) const;
  // The interface's name now (it may have been renamed).
  std::string name() const;
  // ppp_get_stats (SIOCGPPPSTATS): the interface's counters and VJ's, the
  // latter zero while no VJ state exists.
  void get_stats(ppp_stats* st) const;
  // SIOCGPPPCSTATS: the compressor's and decompressor's counters.
  void get_comp_stats(ppp_comp_stats* st) const;

  // ---- Packet path. Entry points: they open their own scope. ----
  // The Link's Deliver: an IP packet the stack sends (ppp_start_xmit).
  void deliver(FramePtr ip);
  // A frame written on an attached file.
  void write(FramePtr frame);

  // ---- Packet path, inside a PacketScope and a grace Reader. ----
  // ppp_xmit_process(ppp, NULL): a channel drained.
  void kick_xmit();
  // ppp_do_recv: a frame (or, empty, an error) from channel `channel`.
  void receive(FramePtr frame, int channel);
  // A frame too short to hold a protocol arrived on a connected channel.
  void receive_length_error();

 private:
  using Clock = PppHooks::Clock;

  Unit(PppRegistry& registry, int index, uint64_t netns);
  // A unit numbered n with its Link, registered; nullptr and the factory's
  // -errno otherwise.
  static std::shared_ptr<Unit> make(PppRegistry& registry, const Caller& caller, uint64_t netns,
                                    int n, int* err);
  int64_t now_ns() const;
  // Carrier on while the unit has a connected channel or loops traffic to
  // pppd (demand mode), mirrored onto the Link; control plane only.
  void update_carrier();

  // Transmit side (unit_xmit.cc).
  static bool xmit_body(void* self);
  bool xmit();
  void queue_xmit(FramePtr frame);
  void send_frame(FramePtr frame);
  void push_pending();
  FramePtr vj_compress(FramePtr frame, VjCompression& vj, unsigned flags);
  // Receive side (unit_recv.cc).
  static bool recv_body(void* self);
  bool recv();
  void receive_nonmp(FramePtr frame);
  void receive_error();
  void frame(FramePtr frame) override;  // MultilinkRx::Sink
  void error() override;
  FramePtr vj_uncompress(FramePtr frame, VjCompression& vj, bool compressed);
  // ioctls (unit_ioctl.cc).
  long set_flags(int val);
  long set_max_cid(int val);
  long set_filter(unsigned cmd, uint64_t arg, UserMemory& mem);
  long set_compress(uint64_t arg, UserMemory& mem);
  long np_mode(unsigned cmd, uint64_t arg, UserMemory& mem);
  long get_idle(unsigned cmd, uint64_t arg, UserMemory& mem);

  PppRegistry& registry_;
  const int index_;
  const uint64_t netns_;
  const std::string created_name_;  // pppN: what the packet path logs

  // Settings, read once per frame.
  std::atomic<bool> closing_{false};
  std::atomic<bool> reads_eof_{true};
  std::atomic<unsigned> flags_{0};  // SC_FLAG_BITS
  std::atomic<int> mru_{PPP_MRU};
  std::atomic<int> mrru_{0};
  std::atomic<int> debug_{0};
  std::atomic<int> npmode_[kNumNp] = {};  // NPMODE_PASS
  std::atomic<bool> mp_restart_{false};   // SC_MULTILINK turned on
  std::atomic<int64_t> last_xmit_, last_recv_;  // ns on the hooks' clock

  // Published to the packet path.
  std::vector<Channel*> channel_list_;  // control plane's copy
  Published<std::vector<Channel*>> channels_;
  Published<std::unique_ptr<const PppFilter>> pass_filter_, active_filter_;
  Published<std::unique_ptr<VjCompression>> vj_;
  Ccp ccp_;

  // Transmit side.
  FrameQueue xq_{kXmitQueueLen};
  FramePtr pending_;  // ready for a channel (xmit_pending)
  MultilinkTx mp_tx_;
  Serializer xmit_serial_;

  // Receive side.
  RecvQueue rxq_{kRecvQueueLen};
  MultilinkRx mp_rx_;
  Serializer recv_serial_;
  ReadQueue rq_;  // frames for pppd

  std::atomic<uint64_t> rx_packets_{0}, rx_bytes_{0}, rx_errors_{0}, rx_dropped_{0},
      rx_length_errors_{0};
  std::atomic<uint64_t> tx_packets_{0}, tx_bytes_{0}, tx_errors_{0}, tx_dropped_{0};

  // Last, so it goes first: its Link's Deliver callback points at this unit.
  PublishedInterface iface_;
};

}  // namespace cusenet
