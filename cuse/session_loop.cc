#include "cuse/session_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <utility>

#define LOOP_LOG(lvl) BOOST_LOG_SEV(::cusenet::log::get(channel_), ::cusenet::log::Level::lvl)

namespace cusenet {

SessionLoop::SessionLoop(RequestCore& core, std::vector<fuse_session*> sessions,
                         log::Channel channel)
    : core_(core), sessions_(std::move(sessions)), channel_(channel) {}

namespace {

// Non-blocking: a request can vanish between poll and read (its caller
// was killed before we read it), and a blocked read would miss stop().
int set_nonblocking(fuse_session* se) {
  const int fd = fuse_session_fd(se);
  const int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
  return 0;
}

}  // namespace

int SessionLoop::start() {
  if (thread_.joinable()) return -EBUSY;
  if (core_.wake_fd() < 0) return -EMFILE;
  stop_fd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  add_fd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!stop_fd_ || !add_fd_) return -errno;
  for (fuse_session* se : sessions_)
    if (int r = set_nonblocking(se)) return r;
  thread_ = std::thread([this] { run(); });
  return 0;
}

int SessionLoop::add(fuse_session* se) {
  if (!thread_.joinable()) return -EINVAL;
  if (int r = set_nonblocking(se)) return r;
  std::lock_guard lock(mu_);
  added_.push_back(se);
  const uint64_t one = 1;
  (void)!::write(add_fd_.get(), &one, sizeof one);
  return 0;
}

std::vector<fuse_session*> SessionLoop::take_added() {
  std::lock_guard lock(mu_);
  uint64_t count;
  (void)!::read(add_fd_.get(), &count, sizeof count);
  return std::exchange(added_, {});
}

void SessionLoop::stop() {
  if (!thread_.joinable()) return;
  const uint64_t one = 1;
  (void)!::write(stop_fd_.get(), &one, sizeof one);
  thread_.join();
}

void SessionLoop::run() {
  constexpr size_t kFirst = 3;  // fds[kFirst + i] is sessions_[i]'s
  std::vector<pollfd> fds{{stop_fd_.get(), POLLIN, 0}, {core_.wake_fd(), POLLIN, 0},
                          {add_fd_.get(), POLLIN, 0}};
  for (fuse_session* se : sessions_) fds.push_back({fuse_session_fd(se), POLLIN, 0});
  std::vector<fuse_buf> bufs(sessions_.size(), fuse_buf{});

  core_.serve_on_this_thread();
  // Runs until stop(), even once every session has ended: one may be added.
  for (;;) {
    // Files the last request's operations handed over (they wrote no
    // wake_fd): their parked reads are answered before anything else waits.
    if (core_.wakeups_pending()) core_.run_wakeups();
    // Handed over again while they ran: look at the sessions, then at them.
    const int timeout = core_.wakeups_pending() ? 0 : -1;
    if (::poll(fds.data(), fds.size(), timeout) < 0) {
      if (errno == EINTR) continue;
      LOOP_LOG(error) << "poll: " << std::strerror(errno);
      break;
    }
    if (fds[0].revents) break;
    if (fds[1].revents) core_.run_wakeups();
    if (fds[2].revents) {
      for (fuse_session* se : take_added()) {
        sessions_.push_back(se);
        fds.push_back({fuse_session_fd(se), POLLIN, 0});
        bufs.push_back(fuse_buf{});
      }
    }
    for (size_t i = 0; i < sessions_.size(); ++i) {
      pollfd& p = fds[i + kFirst];
      if (!p.revents) continue;
      fuse_session* se = sessions_[i];
      const int res = fuse_session_receive_buf(se, &bufs[i]);
      if (res == -EAGAIN || res == -EINTR) continue;
      if (res > 0) {
        fuse_session_process_buf(se, &bufs[i]);
        continue;
      }
      // Unmounted, the connection aborted, or the device went away.
      if (res < 0) LOOP_LOG(error) << "reading the session: " << std::strerror(-res);
      LOOP_LOG(info) << "session ended";
      p.fd = -1;  // poll skips it from now on
    }
  }
  for (fuse_buf& b : bufs) std::free(b.mem);
}

}  // namespace cusenet
