#pragma once
// PPP multilink (RFC 1990) as ppp_generic does it: a unit with SC_MULTILINK
// splits each frame into fragments with a multilink header (protocol 0x003d,
// B/E bits, a 24-bit or, with SC_MP_XSHORTSEQ, 12-bit sequence number) over
// the channels that are free, and the receive side puts fragments back in
// sequence order and rebuilds frames of at most MRRU bytes, giving up on a
// fragment once every channel has received past it.
//
// Both sides run on the unit's packet path only: MultilinkTx inside its
// transmit Serializer, MultilinkRx inside its receive Serializer.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <span>

#include "core/frame.h"

namespace cusenet {

class Channel;

// What multilink keeps per channel.
struct MpChannelState {
  uint32_t lastseq = 0xffffffff;  // receive: sequence number last seen on it
  uint8_t avail = 0;              // transmit: 0 unusable, 1 busy, 2 free (this frame)
  bool had_frag = false;          // transmit: has carried a fragment
};

class MultilinkTx {
 public:
  // ppp_mp_explode: fragments the frame over the channels in connection
  // order, starting after the one used last; a channel is free when nothing
  // waits in its queue. Channels report no speed, so fragments are equal
  // (the kernel's speed-0 case), never above a channel's mtu. False when
  // fewer than half the usable channels are free: keep the frame and retry
  // once one drains.
  bool explode(const Frame& frame, std::span<Channel* const> channels, bool short_seq);

 private:
  size_t nxchan_ = 0;   // next channel to start with
  uint32_t nxseq_ = 0;  // next sequence number to send
};

class MultilinkRx {
 public:
  // PPP_MP_MAX_QLEN: past this many queued fragments, stop waiting for the
  // ones before the queue's head.
  static constexpr size_t kMaxQueue = 128;

  class Sink {
   public:
    virtual void frame(FramePtr frame) = 0;  // a rebuilt frame, protocol first
    virtual void error() = 0;                // ppp_receive_error
   protected:
    ~Sink() = default;
  };

  // SC_MULTILINK was just turned on: expect sequence number 0 next.
  void restart() { nextseq_ = 0; }
  // ppp_receive_mp_frame: frame starts with the 0x003d protocol. from: the
  // channel it came on (null when it has been disconnected since);
  // channels: those connected now. short_seq: SC_MP_SHORTSEQ.
  void input(FramePtr frame, Channel* from, std::span<Channel* const> channels, bool short_seq,
             int mrru, int debug, Sink& sink);

  size_t queued() const { return queued_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  uint64_t length_errors() const { return length_errors_.load(std::memory_order_relaxed); }

 private:
  struct Fragment {
    uint32_t seq;
    uint8_t bits;      // B and E
    FramePtr frame;
    size_t offset;     // where the data starts, past the multilink header
    bool expand;       // first fragment with a compressed protocol field
    size_t len() const { return frame->size() - offset + (expand ? 1 : 0); }
  };
  // ppp_mp_reconstruct: the next complete frame, or null.
  FramePtr reconstruct(int mrru, int debug, Sink& sink);

  std::list<Fragment> mrq_;  // ordered by sequence number
  uint32_t nextseq_ = 0;
  uint32_t minseq_ = 0xffffffff;
  std::atomic<size_t> queued_{0};
  std::atomic<uint64_t> dropped_{0}, length_errors_{0};
};

}  // namespace cusenet
