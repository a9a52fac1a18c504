#pragma once
// What the /dev/ppp files attached to one unit or channel read: the kernel's
// struct ppp_file receive queue (rq), its wait queue (rwait, here the files'
// Notify callbacks) and its dead flag.
#include <atomic>
#include <cstddef>
#include <vector>

#include "core/file.h"
#include "core/frame.h"
#include "engine/published.h"
#include "netdev/tun_grace.h"

namespace cusenet {

class ReadQueue {
 public:
  // PPP_MAX_RQLEN: received frames beyond it push the oldest out.
  static constexpr size_t kMaxLen = 32;

  // ---- Packet path, inside a grace Reader. ----
  // A received frame: the oldest goes when the queue is over kMaxLen.
  void push(FramePtr frame) {
    // Full only while another pusher races us past the spare slot.
    if (q_.push(std::move(frame))) return;
    while (q_.size() > kMaxLen) q_.pop();
    wake();
  }
  // A looped frame (SC_LOOP_TRAFFIC), refused rather than pushing one out;
  // the kernel's test lets the queue reach kMaxLen + 1.
  bool push_unless_full(FramePtr frame) {
    if (q_.size() > kMaxLen || q_.push(std::move(frame))) return false;
    wake();
    return true;
  }
  FramePtr pop() { return q_.pop(); }
  bool empty() const { return q_.empty(); }
  size_t size() const { return q_.size(); }
  bool dead() const { return dead_.load(std::memory_order_acquire); }
  void wake() const {
    for (const Notify* n : waiters_.get()) (*n)();
  }

  // ---- Control plane: the registry mutex is held. ----
  void attach(TunGrace& grace, const Notify* n) {
    std::vector<const Notify*> w = waiters_.get();
    w.push_back(n);
    waiters_.set(grace, std::move(w));
  }
  void detach(TunGrace& grace, const Notify* n) {
    std::vector<const Notify*> w = waiters_.get();
    std::erase(w, n);
    waiters_.set(grace, std::move(w));
  }
  size_t files() const { return waiters_.get().size(); }
  // The unit or channel is gone: readers get 0 (EOF) and POLLHUP once the
  // queue is empty.
  void kill() {
    dead_.store(true, std::memory_order_release);
    wake();
  }

 private:
  FrameQueue q_{kMaxLen + 1};
  std::atomic<bool> dead_{false};
  Published<std::vector<const Notify*>> waiters_;
};

}  // namespace cusenet
