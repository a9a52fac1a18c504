#include "core/heap_trim.h"

#include <malloc.h>

#include "core/log.h"

namespace cusenet {
namespace {
std::atomic<HeapTrimmer*> g_trimmer{nullptr};
}  // namespace

void heap_trim::note_teardown() {
  HeapTrimmer* t = g_trimmer.load(std::memory_order_acquire);
  if (!t) return;
  if (t->pending_.fetch_add(1, std::memory_order_acq_rel) == 0) t->pending_.notify_one();
}

HeapTrimmer::HeapTrimmer() : thread_([this] { run(); }) {
  HeapTrimmer* none = nullptr;
  if (!g_trimmer.compare_exchange_strong(none, this, std::memory_order_acq_rel))
    CN_LOG(daemon, warning) << "a second heap trimmer: only the first is told of teardowns";
}

HeapTrimmer::~HeapTrimmer() {
  HeapTrimmer* self = this;
  g_trimmer.compare_exchange_strong(self, nullptr, std::memory_order_acq_rel);
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  // Wakes the thread if it sleeps on pending_ (it checks stop_ next).
  pending_.fetch_add(1, std::memory_order_acq_rel);
  pending_.notify_one();
  thread_.join();
}

void HeapTrimmer::run() {
  using Clock = std::chrono::steady_clock;
  for (;;) {
    pending_.wait(0, std::memory_order_acquire);
    std::unique_lock lock(mu_);
    // The burst: wait until a quiet second, or kLongest into it.
    const auto started = Clock::now();
    uint64_t seen = pending_.load(std::memory_order_acquire);
    for (;;) {
      if (cv_.wait_for(lock, kQuiet, [this] { return stop_; })) return;
      const uint64_t now = pending_.load(std::memory_order_acquire);
      const bool quiet = now == seen;
      seen = now;
      if (quiet || Clock::now() - started >= kLongest) break;
    }
    lock.unlock();
    // Teardowns counted after the last look make the next burst.
    pending_.fetch_sub(seen, std::memory_order_acq_rel);
    const bool released = ::malloc_trim(0) != 0;
    trims_.fetch_add(1, std::memory_order_relaxed);
    CN_LOG(daemon, debug) << "heap trimmed after " << seen << " teardowns"
                        << (released ? "" : ": nothing to give back");
  }
}

}  // namespace cusenet
