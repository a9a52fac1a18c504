#include "engine/pipe_channel.h"

#include <linux/ppp-ioctl.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

namespace cusenet {

std::unique_ptr<PipeChannelPair> PipeChannelPair::create(PppDevice& device, const Caller& caller,
                                                         int mtu, int* err) {
  std::unique_ptr<PipeChannelPair> pair(new PipeChannelPair);
  for (int end = 0; end < 2; ++end) {
    pair->channels_[end] = device.register_channel(caller, pair->ends_[end], mtu, err);
    if (!pair->channels_[end]) return nullptr;
  }
  pair->ends_[0].peer.store(pair->channels_[1].get(), std::memory_order_release);
  pair->ends_[1].peer.store(pair->channels_[0].get(), std::memory_order_release);
  return pair;
}

PipeChannelPair::~PipeChannelPair() { hangup(); }

void PipeChannelPair::pause(int end) { ends_[end].paused.store(true, std::memory_order_release); }

void PipeChannelPair::resume(int end) {
  ends_[end].paused.store(false, std::memory_order_release);
  channels_[end]->output_wakeup();
}

void PipeChannelPair::hangup() {
  for (auto& channel : channels_)
    if (channel) channel->unregister();
}

FramePtr PipeChannelPair::End::start_xmit(FramePtr frame) {
  if (paused.load(std::memory_order_acquire)) return frame;
  PppChannel* other = peer.load(std::memory_order_acquire);
  if (!other) return nullptr;  // the pair is still being made: lost on the wire
  carried.fetch_add(1, std::memory_order_relaxed);
  other->input(std::move(frame));
  return nullptr;
}

long PipeChannelPair::End::ioctl(const Caller&, unsigned cmd, uint64_t arg, UserMemory& mem) {
  int val;
  switch (cmd) {
    case PPPIOCGFLAGS:
      return mem.put(arg, flags) ? 0 : -EFAULT;
    case PPPIOCSFLAGS:
      return mem.get(arg, &flags) ? 0 : -EFAULT;
    case PPPIOCGASYNCMAP:
      return mem.put(arg, xaccm[0]) ? 0 : -EFAULT;
    case PPPIOCSASYNCMAP:
      return mem.get(arg, &xaccm[0]) ? 0 : -EFAULT;
    case PPPIOCGRASYNCMAP:
      return mem.put(arg, raccm) ? 0 : -EFAULT;
    case PPPIOCSRASYNCMAP:
      return mem.get(arg, &raccm) ? 0 : -EFAULT;
    case PPPIOCGXASYNCMAP:
      return mem.write(arg, xaccm, sizeof xaccm) ? 0 : -EFAULT;
    case PPPIOCSXASYNCMAP: {
      uint32_t accm[8];
      if (!mem.read(arg, accm, sizeof accm)) return -EFAULT;
      accm[2] &= ~0x40000000u;  // 0x5e must not be escaped
      accm[3] |= 0x60000000u;   // 0x7d and 0x7e always are
      std::memcpy(xaccm, accm, sizeof xaccm);
      return 0;
    }
    case PPPIOCGMRU:
      return mem.put(arg, mru) ? 0 : -EFAULT;
    case PPPIOCSMRU:
      if (!mem.get(arg, &val)) return -EFAULT;
      mru = val < PPP_MRU ? PPP_MRU : val;
      return 0;
    default:
      return -ENOTTY;
  }
}

}  // namespace cusenet
