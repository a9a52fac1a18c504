#pragma once
// A grace period for the tun packet path, the role synchronize_net() plays in
// drivers/net/tun.c. Readers (Deliver, write) mark a short read-side section
// with two atomic increments and never wait; a writer that has unpublished a
// queue set or a Link waits in synchronize() until every reader that may
// still hold the old pointer has left, and only then frees or purges it.
//
// Two counters indexed by the parity of an epoch: synchronize() moves the
// epoch on, so readers arriving afterwards count in the other slot and the
// old slot drains even under steady traffic. A reader re-checks the epoch
// after counting itself in, so it never counts in a slot a writer has stopped
// watching. Writers must be serialized by the caller (the registry mutex).
#include <atomic>
#include <thread>

namespace cusenet {

class TunGrace {
 public:
  class Reader {
   public:
    explicit Reader(TunGrace& g) : g_(g), slot_(g.enter()) {}
    ~Reader() { g_.readers_[slot_].fetch_sub(1, std::memory_order_release); }
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;

   private:
    TunGrace& g_;
    unsigned slot_;
  };

  // Returns once no reader that started before the call is still inside.
  void synchronize() {
    unsigned old = epoch_.fetch_add(1, std::memory_order_seq_cst);
    while (readers_[old & 1].load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
  }

 private:
  unsigned enter() {
    for (;;) {
      unsigned e = epoch_.load(std::memory_order_seq_cst);
      readers_[e & 1].fetch_add(1, std::memory_order_seq_cst);
      if (epoch_.load(std::memory_order_seq_cst) == e) return e & 1;
      readers_[e & 1].fetch_sub(1, std::memory_order_release);
    }
  }

  std::atomic<unsigned> epoch_{0};
  std::atomic<int> readers_[2] = {0, 0};
};

}  // namespace cusenet
