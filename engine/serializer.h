#pragma once
// Mutual exclusion for the packet path without locks: the job the kernel's
// ppp_generic gives to a unit's wlock/rlock and a channel's downl. Work on an
// object (a unit's transmit side, its receive side, a channel's output) is
// asked for with request(); the body that does it never runs on two threads
// at once, and nobody waits: a request made while the body runs elsewhere is
// left to that thread, which runs the body again before it lets go.
//
// Bodies run only when the outermost PacketScope of the requesting thread
// ends, one bounded batch per grace Reader, outside any Reader the entry
// point held. So a long burst never holds off TunGrace::synchronize() (the
// control plane's wait for the packet path) for more than one batch, and a
// body that asks for work on another object (a unit handing a frame to its
// channel) does not recurse: that work runs after the current batch.
//
// An object with pending or running requests must stay alive: its owner
// calls wait_idle() before destroying it, after unpublishing every pointer
// the packet path could use to request more.
#include <atomic>
#include <cstdint>
#include <deque>

#include "netdev/tun_grace.h"

namespace cusenet {

class Serializer {
 public:
  // One batch of work; true when more is left (the batch limit was hit).
  using Body = bool (*)(void* self);

  // Must be called inside a PacketScope, with `self` reachable (inside a
  // grace Reader, or holding a reference).
  void request(TunGrace& grace, void* self, Body body);

  bool idle() const { return requests_.load(std::memory_order_acquire) == 0; }
  // Control plane only, never from inside a PacketScope.
  void wait_idle() const;

 private:
  friend class PacketScope;
  struct Work {
    Serializer* serializer;
    TunGrace* grace;
    void* self;
    Body body;
    uint64_t seen;  // requests this runner has taken on
  };
  // Runs one batch; true when the work must be queued again.
  static bool step(Work& w);
  // This thread's requests waiting for its outermost PacketScope to end.
  static std::deque<Work>& work_list();

  std::atomic<uint64_t> requests_{0};
};

// Marks a packet-path entry point: a file's write, the Link's Deliver,
// ppp_input, ppp_output_wakeup. Declare it before any TunGrace::Reader of the
// same call, so the Reader has ended when the scope runs the requested work.
class PacketScope {
 public:
  PacketScope();
  ~PacketScope();
  PacketScope(const PacketScope&) = delete;
  PacketScope& operator=(const PacketScope&) = delete;

  static bool active();
};

}  // namespace cusenet
