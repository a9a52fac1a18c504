#pragma once
// The channel side of the PPP generic layer (include/linux/ppp_channel.h and
// ppp_generic.txt, "PPP channel API"): how a line discipline such as N_PPP
// async, or the in-process pipe channel, carries a unit's frames. Frames are
// the 2-byte PPP protocol followed by the data: no address/control bytes, no
// escaping, no FCS.
//
// A channel is made with PppDevice::register_channel(), which returns the
// PppChannel handle the channel code keeps; its index() is what PPPIOCGCHAN
// reports so that pppd can PPPIOCATTCHAN a /dev/ppp file to it.
//
// Guarantees to the channel (the "SMP safety" section of ppp_generic.txt):
// - start_xmit() is never entered for a channel while a thread is already in
//   it for that channel, nor is ioctl();
// - once unregister() has returned, no thread is in start_xmit() or ioctl()
//   and neither is called again.
// Requirements on the channel:
// - the ops object lives until unregister() has returned;
// - start_xmit() never blocks and never calls unregister(); unregister() is
//   never called while holding a lock that ioctl() takes (it waits for a
//   running ioctl()).
// Beyond the kernel: input(), input_error() and output_wakeup() may be
// called from any thread at any time, even racing with unregister(); after
// it they do nothing.
#include <cstdint>
#include <memory>

#include "core/caller.h"
#include "core/frame.h"
#include "core/user_memory.h"

namespace cusenet {

struct PppRegistry;
class Channel;

class PppChannelOps {
 public:
  virtual ~PppChannelOps() = default;
  // A frame to send. nullptr: taken. The frame handed back: refused for
  // flow control; it is offered again, first, after output_wakeup().
  virtual FramePtr start_xmit(FramePtr frame) = 0;
  // An ioctl a process issued on a /dev/ppp file attached to this channel
  // that the generic layer does not handle itself (PPPIOCSASYNCMAP,
  // PPPIOCSMRU...): 0 or -errno, -ENOTTY for commands it does not know.
  virtual long ioctl(const Caller& caller, unsigned cmd, uint64_t arg, UserMemory& mem) = 0;
};

class PppChannel {
 public:
  // Made by PppDevice::register_channel.
  PppChannel(std::shared_ptr<PppRegistry> registry, std::shared_ptr<Channel> channel);
  // Unregisters the channel if it still is.
  ~PppChannel();
  PppChannel(const PppChannel&) = delete;
  PppChannel& operator=(const PppChannel&) = delete;

  // ppp_channel_index: what PPPIOCGCHAN answers on the channel's tty.
  int index() const;
  // ppp_unit_number: the unit the channel is connected to, or -1.
  int unit_number() const;

  // ppp_input: a complete frame received. A compressed protocol field (one
  // odd byte) is expanded here.
  void input(FramePtr frame);
  // ppp_input_error: a frame was lost (bad FCS, overrun).
  void input_error();
  // ppp_output_wakeup: the channel can take frames again after refusing one.
  void output_wakeup();
  // ppp_unregister_channel: the channel is gone (hangup, ldisc changed). Its
  // /dev/ppp files read 0 and poll POLLHUP from now on.
  void unregister();

 private:
  const std::shared_ptr<PppRegistry> registry_;
  const std::shared_ptr<Channel> channel_;
};

}  // namespace cusenet
