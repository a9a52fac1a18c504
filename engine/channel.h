#pragma once
// One PPP channel as the generic layer keeps it (the kernel's struct
// channel): the ops of the channel code that registered it, the unit it is
// connected to or the channel it is bridged with, its transmit queue (frames
// written on its /dev/ppp files, a unit's frames and multilink fragments)
// and its read queue (frames for pppd: LCP and everything received while it
// is not connected).
//
// Concurrency, as ppp_generic's downl/upl/chan_sem:
// - Control plane (connect, disconnect, bridge, unregister, files): the
//   registry mutex is held.
// - The ops' ioctl runs under this channel's own mutex, which unregister
//   takes too, so none runs once unregister has returned.
// - start_xmit runs only in the push body, one thread at a time (Serializer),
//   with the ops pointer read inside a grace Reader: unregister clears it and
//   waits out the readers, so none is running once it returns.
// - The connected unit and the bridge are published pointers: connect and
//   disconnect publish, wait out the packet path, then drop references.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "core/frame.h"
#include "engine/multilink.h"
#include "engine/ppp_channel.h"
#include "engine/ppp_device.h"
#include "engine/read_queue.h"
#include "engine/serializer.h"

namespace cusenet {

struct PppRegistry;
class Unit;

class Channel : public std::enable_shared_from_this<Channel> {
 public:
  // Frames waiting to be sent on one channel.
  static constexpr size_t kXmitQueueLen = 256;

  Channel(PppRegistry& registry, PppChannelOps& ops, int index, uint64_t netns, int mtu);
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  int index() const { return index_; }
  uint64_t netns() const { return netns_; }
  int mtu() const { return mtu_; }
  // The connected unit's number or -1 (ppp_unit_number); any thread.
  int unit_number() const { return unit_number_.load(std::memory_order_acquire); }

  // ---- Control plane: the registry mutex is held. ----
  // ppp_connect_channel after the unit was found: -EINVAL when connected or
  // bridged, -ENOTCONN once unregistered.
  int connect(std::shared_ptr<Unit> unit);
  // -EINVAL when not connected.
  int disconnect();
  // ppp_bridge_channels / ppp_unbridge_channels: -EALREADY when either side
  // is connected or bridged; -EINVAL when not bridged.
  int bridge(Channel& other);
  int unbridge();
  // ppp_unregister_channel, from PppChannel.
  void unregister();
  bool registered() const { return registered_; }
  Unit* unit() const { return unit_ref_.get(); }
  ReadQueue& read_queue() { return rq_; }
  void fill(PppDevice::ChannelInfo* info) const;

  // The ops' own ioctl (not under the registry mutex); -ENOTTY once
  // unregistered.
  long ops_ioctl(const Caller& caller, unsigned cmd, uint64_t arg, UserMemory& mem);

  // ---- Packet path. Entry points: they open their own scope. ----
  void input(FramePtr frame);
  void input_error();
  void output_wakeup();
  // A frame written on an attached /dev/ppp file: sent as it is.
  void write(FramePtr frame);

  // ---- Packet path, inside a PacketScope and a grace Reader. ----
  // Queues a frame and asks for the queue to be pushed to start_xmit.
  void transmit(FramePtr frame);
  // No frame waits to be sent: multilink's "free" channel, and the unit's
  // cue to hand its next frame over.
  bool tx_idle() const { return queued_.load(std::memory_order_acquire) == 0; }
  // Not unregistered yet (pch->chan != NULL).
  bool usable() const { return ops_.load(std::memory_order_acquire) != nullptr; }
  // Touched only by the packet path of the unit the channel is connected to.
  MpChannelState mp;

 private:
  static bool push_body(void* self);
  bool push();
  // Frames queued to be sent, dropped: the channel was unregistered.
  void purge();

  PppRegistry& registry_;
  const int index_;
  const uint64_t netns_;
  const int mtu_;

  std::mutex ioctl_mu_;  // chan_sem
  std::atomic<PppChannelOps*> ops_;
  bool registered_ = true;  // control plane's view of ops_

  std::shared_ptr<Unit> unit_ref_;            // holds the unit while connected
  std::atomic<Unit*> unit_{nullptr};          // the packet path's view
  std::atomic<int> unit_number_{-1};
  std::shared_ptr<Channel> bridge_ref_;       // holds the bridged channel
  std::atomic<Channel*> bridge_{nullptr};

  FrameQueue xq_{kXmitQueueLen};
  FramePtr refused_;  // the frame start_xmit handed back; push body only
  std::atomic<size_t> queued_{0};  // in xq_ or refused_
  Serializer push_serial_;
  ReadQueue rq_;
};

}  // namespace cusenet
