#pragma once
// Frames from a unit's channels waiting for its receive side, each with the
// index of the channel it came on (multilink keeps per-channel sequence
// state). Bounded, multi-producer, lock-free, as FrameQueue.
#include <atomic>
#include <cstddef>

#include <boost/lockfree/queue.hpp>

#include "core/frame.h"

namespace cusenet {

class RecvQueue {
 public:
  explicit RecvQueue(size_t capacity) : q_(capacity), capacity_(capacity) {}
  ~RecvQueue() {
    int channel;
    while (pop(&channel)) {
    }
  }
  RecvQueue(const RecvQueue&) = delete;
  RecvQueue& operator=(const RecvQueue&) = delete;

  // Hands the frame back (non-null) when the queue is full.
  FramePtr push(FramePtr f, int channel) {
    size_t n = size_.load(std::memory_order_relaxed);
    do {
      if (n >= capacity_) return f;
    } while (!size_.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel));
    Frame* raw = f.release();
    if (!q_.bounded_push(Item{raw, channel})) {
      size_.fetch_sub(1, std::memory_order_acq_rel);
      return FramePtr(raw);
    }
    return nullptr;
  }
  FramePtr pop(int* channel) {
    Item item;
    if (!q_.pop(item)) return nullptr;
    size_.fetch_sub(1, std::memory_order_acq_rel);
    *channel = item.channel;
    return FramePtr(item.frame);
  }
  size_t size() const { return size_.load(std::memory_order_relaxed); }

 private:
  struct Item {
    Frame* frame;
    int channel;
  };
  boost::lockfree::queue<Item> q_;
  std::atomic<size_t> size_{0};
  const size_t capacity_;
};

}  // namespace cusenet
