#include "ldisc/line_timer.h"

namespace cusenet {

LineTimer::LineTimer(std::function<void()> fire) : fire_(std::move(fire)) {
  thread_ = std::thread([this] { run(); });
}

LineTimer::~LineTimer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void LineTimer::arm(Clock::time_point when) {
  std::lock_guard lock(mu_);
  if (due_ && *due_ <= when) return;
  due_ = when;
  cv_.notify_one();
}

void LineTimer::run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    if (!due_) {
      cv_.wait(lock);
      continue;
    }
    if (Clock::now() < *due_) {
      cv_.wait_until(lock, *due_);
      continue;
    }
    due_.reset();
    lock.unlock();
    fire_();
    lock.lock();
  }
}

}  // namespace cusenet
