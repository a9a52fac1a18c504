#pragma once
// One thread serving FUSE/CUSE sessions: each request as it arrives, and
// after each one the request core's wakeups (parked reads a device
// notification may complete). Device
// operations never block, so one thread serves every file; a
// multi-threaded libfuse loop was measured no faster (LIMITS.md).
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
  // One more session, served from the loop's next turn (a CUSE device
  // registered while the others are served). Not owned; it must outlive
  // stop(). 0 or -errno.
  int add(fuse_session* se);
  // Returns once the thread has finished the request it was serving.
  void stop();

 private:
  void run();
  std::vector<fuse_session*> take_added();

  RequestCore& core_;
  std::vector<fuse_session*> sessions_;
  const log::Channel channel_;
  UniqueFd stop_fd_;
  UniqueFd add_fd_;  // readable when added_ holds sessions
  std::mutex mu_;
  std::vector<fuse_session*> added_;
  std::thread thread_;
};

}  // namespace cusenet
