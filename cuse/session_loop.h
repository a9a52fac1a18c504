#pragma once
// Threads serving FUSE/CUSE sessions: each request as it arrives, and after
// each one the request core's wakeups (parked reads a device notification
// may complete). Device operations never block. Two threads, so that one
// client's request is served while the other thread, having just woken its
// client with a reply, waits to be scheduled again: vtund's pair over FUSE
// files moved 1.2-2.3x the TCP throughput of one thread on 2 loaded cores;
// tun_bench's round trips stayed within their noise (BENCHMARKS.md).
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/fd.h"
#include "cuse/fuse_requests.h"

namespace cusenet {

class SessionLoop {
 public:
  // sessions: not owned; they must outlive stop().
  SessionLoop(RequestCore& core, std::vector<fuse_session*> sessions, log::Channel channel);
  ~SessionLoop() { stop(); }
  SessionLoop(const SessionLoop&) = delete;
  SessionLoop& operator=(const SessionLoop&) = delete;

  // 0 or -errno.
  int start();
  // One more session, served from the threads' next turn (a CUSE device
  // registered while the others are served). Not owned; it must outlive
  // stop(). 0 or -errno.
  int add(fuse_session* se);
  // Returns once every thread has finished the request it was serving.
  void stop();

 private:
  struct Worker {
    UniqueFd add_fd;  // readable when sessions_ has grown
    UniqueFd ep;      // the thread's own epoll set, made before it starts
    std::thread thread;
  };
  static constexpr size_t kThreads = 2;

  void run(Worker& w);
  // The sessions from index `from` on.
  std::vector<fuse_session*> sessions_from(size_t from);
  bool first_to_see_end(fuse_session* se);

  RequestCore& core_;
  const log::Channel channel_;
  UniqueFd stop_fd_;  // written once, never read: every thread sees it
  std::mutex mu_;
  std::vector<fuse_session*> sessions_;  // under mu_
  std::vector<fuse_session*> ended_;     // under mu_
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace cusenet
