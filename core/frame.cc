#include "core/frame.h"

#include <boost/lockfree/stack.hpp>
#include <cstring>
#include <new>

namespace cusenet {
namespace {

constexpr size_t kPooledCapacity = 2048;  // an Ethernet frame with headers
constexpr size_t kPoolDepth = 4096;

// Frames are never returned to the system once pooled: the pool is a cache
// bounded by kPoolDepth, emptied when the process exits.
struct Pool {
  boost::lockfree::stack<Frame*> free{kPoolDepth};
  ~Pool() {
    Frame* f;
    while (free.pop(f)) ::operator delete(f);
  }
};

Pool& pool() {
  static Pool p;
  return p;
}

}  // namespace

void FrameDeleter::operator()(Frame* f) const {
  if (f->cap_ == kPooledCapacity && pool().free.bounded_push(f)) return;
  f->~Frame();
  ::operator delete(f);
}

FramePtr make_frame(size_t len) {
  Frame* f = nullptr;
  if (len <= kPooledCapacity) {
    if (!pool().free.pop(f)) {
      f = new (::operator new(Frame::alloc_size(kPooledCapacity))) Frame();
      f->cap_ = kPooledCapacity;
    }
  } else {
    if (len > Frame::kMax) len = Frame::kMax;
    f = new (::operator new(Frame::alloc_size(len))) Frame();
    f->cap_ = len;
  }
  f->len_ = len;
  return FramePtr(f);
}

FramePtr make_frame(std::span<const std::byte> bytes) {
  FramePtr f = make_frame(bytes.size());
  if (!bytes.empty()) std::memcpy(f->data(), bytes.data(), f->size());  // an empty span's data may be null
  return f;
}

// No node reserved but the queue's dummy: a queue costs what its deepest
// moment needed, not its capacity (500 nodes of a cache line each for a tun
// queue, most of them never used).
FrameQueue::FrameQueue(size_t capacity) : q_(0), capacity_(capacity) {}

FrameQueue::~FrameQueue() { clear(); }

FramePtr FrameQueue::push(FramePtr f) {
  // Reserve a slot first so the bound holds under concurrent producers.
  size_t n = size_.load(std::memory_order_relaxed);
  do {
    if (n >= capacity_) return f;
  } while (!size_.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel));
  Frame* raw = f.release();
  // A node from the queue's free list, or a new one past its deepest moment
  // so far.
  if (!q_.push(raw)) {
    size_.fetch_sub(1, std::memory_order_acq_rel);
    return FramePtr(raw);
  }
  return nullptr;
}

FramePtr FrameQueue::pop() {
  Frame* raw;
  if (!q_.pop(raw)) return nullptr;
  size_.fetch_sub(1, std::memory_order_acq_rel);
  return FramePtr(raw);
}

void FrameQueue::clear() {
  while (pop()) {
  }
}

}  // namespace cusenet
