#pragma once
// Two PPP channels joined back to back in this process, as a null-modem
// cable joins two serial ports: a frame one end transmits is received by the
// other (ppp_input) at once, on the transmitting thread. Two units can talk
// through it without a tty: tests, and wiring two emulated peers together.
// Either end can be paused to exercise flow control: it then refuses frames
// (start_xmit hands them back) until resumed, which calls output_wakeup.
// Each end answers the channel ioctls pppd issues on its channel file as
// ppp_synctty does (flags, async maps, MRU): kept and reported, with no
// framing to apply them to, so an unmodified pppd's sequence runs over it.
#include <linux/ppp_defs.h>

#include <atomic>
#include <cstdint>
#include <memory>

#include "engine/ppp_channel.h"
#include "engine/ppp_device.h"

namespace cusenet {

class PipeChannelPair {
 public:
  // Registers both ends in the caller's network namespace (indexes in
  // index(0), index(1)); nullptr with -errno in *err.
  static std::unique_ptr<PipeChannelPair> create(PppDevice& device, const Caller& caller, int mtu,
                                                 int* err);
  // Hangs up.
  ~PipeChannelPair();
  PipeChannelPair(const PipeChannelPair&) = delete;
  PipeChannelPair& operator=(const PipeChannelPair&) = delete;

  // end: 0 or 1.
  int index(int end) const { return channels_[end]->index(); }
  PppChannel& channel(int end) { return *channels_[end]; }
  void pause(int end);
  void resume(int end);
  // Both ends unregister: their /dev/ppp files read 0 and poll POLLHUP.
  void hangup();
  // Frames end has carried across to the other.
  uint64_t carried(int end) const { return ends_[end].carried.load(std::memory_order_relaxed); }

 private:
  struct End final : PppChannelOps {
    FramePtr start_xmit(FramePtr frame) override;
    long ioctl(const Caller& caller, unsigned cmd, uint64_t arg, UserMemory& mem) override;

    std::atomic<PppChannel*> peer{nullptr};
    // The ioctls' settings; the generic layer runs one ioctl at a time.
    int flags = 0;
    uint32_t xaccm[8] = {0xffffffff};
    uint32_t raccm = 0xffffffff;
    int mru = PPP_MRU;
    std::atomic<bool> paused{false};
    std::atomic<uint64_t> carried{0};
  };

  PipeChannelPair() = default;

  End ends_[2];  // outlive the channels, which are unregistered first
  std::unique_ptr<PppChannel> channels_[2];
};

}  // namespace cusenet
