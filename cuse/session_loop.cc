#include "cuse/session_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>

#define LOOP_LOG(lvl) BOOST_LOG_SEV(::cusenet::log::get(channel_), ::cusenet::log::Level::lvl)

namespace cusenet {

SessionLoop::SessionLoop(RequestCore& core, std::vector<fuse_session*> sessions,
                         log::Channel channel)
    : core_(core), channel_(channel), sessions_(std::move(sessions)) {}

namespace {

// Non-blocking: a request can vanish between poll and read (its caller
// was killed before we read it, or the other thread took it), and a
// blocked read would miss stop().
int set_nonblocking(fuse_session* se) {
  const int fd = fuse_session_fd(se);
  const int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
  return 0;
}

void post_one(const UniqueFd& fd) {
  const uint64_t one = 1;
  (void)!::write(fd.get(), &one, sizeof one);
}

}  // namespace

int SessionLoop::start() {
  if (!workers_.empty()) return -EBUSY;
  if (core_.wake_fd() < 0) return -EMFILE;
  stop_fd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!stop_fd_) return -errno;
  for (fuse_session* se : sessions_)
    if (int r = set_nonblocking(se)) return r;
  for (size_t i = 0; i < kThreads; ++i) {
    auto w = std::make_unique<Worker>();
    w->add_fd.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    w->ep.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!w->add_fd || !w->ep) {
      const int err = errno;
      stop();
      return -err;
    }
    w->thread = std::thread([this, w = w.get()] { run(*w); });
    workers_.push_back(std::move(w));
  }
  return 0;
}

int SessionLoop::add(fuse_session* se) {
  if (workers_.empty()) return -EINVAL;
  if (int r = set_nonblocking(se)) return r;
  std::lock_guard lock(mu_);
  sessions_.push_back(se);
  for (const auto& w : workers_) post_one(w->add_fd);
  return 0;
}

std::vector<fuse_session*> SessionLoop::sessions_from(size_t from) {
  std::lock_guard lock(mu_);
  return {sessions_.begin() + static_cast<ptrdiff_t>(std::min(from, sessions_.size())),
          sessions_.end()};
}

bool SessionLoop::first_to_see_end(fuse_session* se) {
  std::lock_guard lock(mu_);
  if (std::find(ended_.begin(), ended_.end(), se) != ended_.end()) return false;
  ended_.push_back(se);
  return true;
}

void SessionLoop::stop() {
  if (workers_.empty()) return;
  post_one(stop_fd_);
  for (const auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
  workers_.clear();
}

void SessionLoop::run(Worker& w) {
  // Each thread has its own epoll set. Sessions and wake_fd are
  // EPOLLEXCLUSIVE: the kernel wakes one waiting thread per request, and a
  // thread busy with a request does not take a wake-up from the other.
  enum : uint64_t { kStop, kWake, kAdd, kFirst };  // then session i is kFirst + i
  const UniqueFd& ep = w.ep;
  auto watch = [&](int fd, uint32_t events, uint64_t tag) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag;
    if (::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
      LOOP_LOG(error) << "epoll_ctl: " << std::strerror(errno);
  };
  watch(stop_fd_.get(), EPOLLIN, kStop);
  watch(core_.wake_fd(), EPOLLIN | EPOLLEXCLUSIVE, kWake);
  watch(w.add_fd.get(), EPOLLIN, kAdd);
  std::vector<fuse_session*> sessions;
  std::vector<fuse_buf> bufs;
  auto add_sessions = [&] {
    for (fuse_session* se : sessions_from(sessions.size())) {
      watch(fuse_session_fd(se), EPOLLIN | EPOLLEXCLUSIVE, kFirst + sessions.size());
      sessions.push_back(se);
      bufs.push_back(fuse_buf{});
    }
  };
  add_sessions();

  core_.serve_on_this_thread();
  // Runs until stop(), even once every session has ended: one may be added.
  for (;;) {
    // Files the last request's operations handed over (they wrote no
    // wake_fd): their parked reads are answered before anything else waits.
    if (core_.wakeups_pending()) core_.run_wakeups();
    // Handed over again while they ran: look at the sessions, then at them.
    const int timeout = core_.wakeups_pending() ? 0 : -1;
    epoll_event events[8];
    const int n = ::epoll_wait(ep.get(), events, 8, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      LOOP_LOG(error) << "epoll_wait: " << std::strerror(errno);
      break;
    }
    bool stopping = false;
    for (int e = 0; e < n; ++e) {
      const uint64_t tag = events[e].data.u64;
      if (tag == kStop) {
        stopping = true;
      } else if (tag == kWake) {
        core_.run_wakeups();
      } else if (tag == kAdd) {
        uint64_t count;
        (void)!::read(w.add_fd.get(), &count, sizeof count);
        add_sessions();
      } else {
        const size_t i = tag - kFirst;
        fuse_session* se = sessions[i];
        const int res = fuse_session_receive_buf(se, &bufs[i]);
        if (res == -EAGAIN || res == -EINTR) continue;
        if (res > 0) {
          fuse_session_process_buf(se, &bufs[i]);
          continue;
        }
        // Unmounted, the connection aborted, or the device went away. Every
        // thread sees it; the first says so.
        ::epoll_ctl(ep.get(), EPOLL_CTL_DEL, fuse_session_fd(se), nullptr);
        if (!first_to_see_end(se)) continue;
        if (res < 0) LOOP_LOG(error) << "reading the session: " << std::strerror(-res);
        LOOP_LOG(info) << "session ended";
      }
    }
    if (stopping) break;
  }
  for (fuse_buf& b : bufs) std::free(b.mem);
}

}  // namespace cusenet
