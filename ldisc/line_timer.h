#pragma once
// A thread that runs a callback once at the time it is armed for: a port
// with a paced line (ldisc/line_rate.h) resumes transmitting when the next
// character has crossed. The callback runs on the timer's thread, never
// under the arming caller's locks.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

namespace cusenet {

class LineTimer {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LineTimer(std::function<void()> fire);
  // Returns once a callback in progress has finished; none runs after.
  ~LineTimer();
  LineTimer(const LineTimer&) = delete;
  LineTimer& operator=(const LineTimer&) = delete;

  // Fires at `when`, or at the earlier time already armed.
  void arm(Clock::time_point when);

 private:
  void run();

  const std::function<void()> fire_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Clock::time_point> due_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace cusenet
