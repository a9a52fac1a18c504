#pragma once
// Giving freed memory back to the system after objects are torn down.
// glibc keeps what a process freed in its arenas: after a burst of
// interfaces, units or ports has gone, the daemon's resident memory would
// stay at the burst's peak (three rounds of 2,000 tun interfaces left 330 MB
// where 7 MB are live). A HeapTrimmer, owned by the daemon, runs
// malloc_trim(0) on its own thread once a teardown burst is over: after a
// second with no teardown, or ten seconds into a burst that goes on, and
// never more than once a second. malloc_trim walks every arena under its
// lock, so it stays off the frame path and away from each teardown.
//
// Code that destroys a long-lived object calls heap_trim::note_teardown();
// without a HeapTrimmer (tests, tools) that does nothing.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace cusenet {

namespace heap_trim {
// Lock-free: an atomic increment, and a futex wake for the first teardown
// of a burst.
void note_teardown();
}  // namespace heap_trim

class HeapTrimmer {
 public:
  // Registers itself as the process's trimmer; one at a time.
  HeapTrimmer();
  ~HeapTrimmer();
  HeapTrimmer(const HeapTrimmer&) = delete;
  HeapTrimmer& operator=(const HeapTrimmer&) = delete;

  // Trims done so far, for tests.
  uint64_t trims() const { return trims_.load(std::memory_order_relaxed); }

 private:
  friend void heap_trim::note_teardown();
  void run();

  static constexpr auto kQuiet = std::chrono::seconds(1);
  static constexpr auto kLongest = std::chrono::seconds(10);

  // Teardowns not yet followed by a trim; the thread sleeps on it at 0.
  std::atomic<uint64_t> pending_{0};
  std::atomic<uint64_t> trims_{0};
  std::mutex mu_;  // stop_; only the trimmer's thread and the destructor take it
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace cusenet
