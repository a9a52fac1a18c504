#pragma once
// One thread waiting in epoll for the daemon's kernel-side descriptors (tun
// fds of backing interfaces, netlink link-event sockets) and running their
// callbacks, plus tasks posted from other threads.
//
// Callbacks run on the loop thread, one at a time, and must not block.
// Descriptors are level-triggered unless EPOLLET is passed.
#include <sys/epoll.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/fd.h"

namespace cusenet {

class IoLoop {
 public:
  using OnReady = std::function<void(uint32_t events)>;

  // Starts the thread; throws std::system_error when epoll or eventfd fail.
  IoLoop();
  // stop(), then drops the callbacks still registered.
  ~IoLoop();
  // Stops and joins the thread after running the tasks already posted; its
  // last callbacks and tasks may still reach the loop through their owner's
  // pointer (remove() from inside them), which this keeps valid, unlike
  // destroying it through a unique_ptr, which clears the pointer first.
  // Idempotent. Not from the loop thread; afterwards only the destructor.
  void stop();
  IoLoop(const IoLoop&) = delete;
  IoLoop& operator=(const IoLoop&) = delete;

  // Watches fd for events (EPOLLIN, ...); 0 or -errno (EEXIST when fd is
  // already watched). The caller keeps fd open until remove() returned.
  int add(int fd, uint32_t events, OnReady on_ready);
  // 0 or -errno (ENOENT when fd is not watched).
  int modify(int fd, uint32_t events);
  // Synchronous: once it returns, fd's callback is not running, will not run
  // again and has been destroyed. From inside a callback (any fd, its own
  // included) it returns at once; the callback object is then destroyed
  // when the current batch of events is done. Off the loop thread it waits
  // for the loop, so the caller must not hold a lock a callback may take.
  // Unknown fds are ignored.
  void remove(int fd);
  // Runs task on the loop thread, after the current batch of events.
  void post(std::function<void()> task);
  bool in_loop() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  struct Entry {
    OnReady on_ready;
    bool removed = false;  // loop thread only: skip its events still in the batch
  };

  void run();
  // Runs the posted tasks; false once the loop is to stop.
  bool run_tasks();
  void remove_in_loop(int fd);

  UniqueFd epoll_;
  UniqueFd wake_;  // eventfd: post() wakes epoll_wait

  std::mutex mu_;  // registrations and tasks; never held while a callback runs
  std::unordered_map<int, std::unique_ptr<Entry>> entries_;
  std::vector<std::function<void()>> tasks_;
  bool stopping_ = false;

  // Loop thread only.
  bool dispatching_ = false;
  std::vector<std::unique_ptr<Entry>> removed_in_batch_;

  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace cusenet
