#pragma once
// Frames on the packet path and the bounded lock-free queues that carry them
// between the frontends' threads and the interface I/O thread.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include <boost/lockfree/queue.hpp>

namespace cusenet {

class Frame {
 public:
  static constexpr size_t kMax = 65536 + 64;  // largest frame plus headroom

  size_t size() const { return len_; }
  std::byte* data() { return buf_; }
  const std::byte* data() const { return buf_; }
  std::span<const std::byte> bytes() const { return {buf_, len_}; }
  void resize(size_t n) { len_ = n; }

 private:
  friend struct FrameDeleter;
  friend std::unique_ptr<Frame, struct FrameDeleter> make_frame(std::span<const std::byte>);
  friend std::unique_ptr<Frame, struct FrameDeleter> make_frame(size_t);
  Frame() = default;
  static size_t alloc_size(size_t cap) { return offsetof(Frame, buf_) + cap; }
  size_t len_ = 0;
  size_t cap_ = 0;
  std::byte buf_[1];
};

struct FrameDeleter {
  void operator()(Frame* f) const;
};
using FramePtr = std::unique_ptr<Frame, FrameDeleter>;

// Small frames come from a lock-free free list; large ones from the heap.
FramePtr make_frame(size_t len);
FramePtr make_frame(std::span<const std::byte> bytes);

// Bounded multi-producer multi-consumer queue; a full queue refuses the frame
// so the caller counts a drop (as the kernel's tun ring does at tx_queue_len).
// Its nodes are allocated as it first grows to each depth and kept until it
// goes: after that, push and pop allocate nothing.
class FrameQueue {
 public:
  explicit FrameQueue(size_t capacity);
  ~FrameQueue();
  FrameQueue(const FrameQueue&) = delete;
  FrameQueue& operator=(const FrameQueue&) = delete;

  // Hands the frame back (non-null) when the queue is full.
  FramePtr push(FramePtr f);
  FramePtr pop();
  bool empty() const { return size_.load(std::memory_order_acquire) == 0; }
  size_t size() const { return size_.load(std::memory_order_relaxed); }
  size_t capacity() const { return capacity_; }
  void clear();

 private:
  boost::lockfree::queue<Frame*> q_;
  std::atomic<size_t> size_{0};
  size_t capacity_;
};

}  // namespace cusenet
