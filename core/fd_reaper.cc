#include "core/fd_reaper.h"

#include <sys/socket.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace cusenet {
namespace {

// A few threads, so that one close stuck on a FUSE server that never
// answers leaves the others going; started on first use, never joined (a
// close stuck forever must not hold up the daemon's exit either).
class Reaper {
 public:
  void push(UniqueFd fd) {
    // Not fstat'd first: on a FUSE file that would ask its server. On
    // anything but a socket this fails with ENOTSOCK, harmlessly.
    const linger now{1, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &now, sizeof now);
    std::lock_guard lock(mu_);
    queue_.push_back(fd.release());
    if (threads_ < kThreads && idle_ == 0) {
      ++threads_;
      std::thread([this] { run(); }).detach();
    }
    cv_.notify_one();
  }

 private:
  static constexpr int kThreads = 4;

  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      ++idle_;
      cv_.wait(lock, [this] { return !queue_.empty(); });
      --idle_;
      const int fd = queue_.front();
      queue_.pop_front();
      lock.unlock();
      UniqueFd closing(fd);
      closing.reset();
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<int> queue_;  // guarded by mu_
  int threads_ = 0;        // guarded by mu_
  int idle_ = 0;           // guarded by mu_
};

Reaper& reaper() {
  static Reaper* r = new Reaper;  // outlives every static destructor: its threads are detached
  return *r;
}

}  // namespace

void close_later(UniqueFd fd) {
  if (fd) reaper().push(std::move(fd));
}

void close_later(std::vector<UniqueFd> fds) {
  for (auto& fd : fds) close_later(std::move(fd));
}

}  // namespace cusenet
