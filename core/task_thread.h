#pragma once
// One thread running tasks in the order they were posted, for work that
// must take a lock the posting thread may not wait for: an I/O thread that
// learns of an event whose handling needs a mutex held by threads that in
// turn wait for that I/O thread.
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace cusenet {

class TaskThread {
 public:
  TaskThread() = default;
  // Waits for the task running, if any, and drops those not started. Not
  // from a task.
  ~TaskThread();
  TaskThread(const TaskThread&) = delete;
  TaskThread& operator=(const TaskThread&) = delete;

  // Any thread; the thread starts with the first task.
  void post(std::function<void()> task);

 private:
  void run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::thread thread_;                       // started under mu_
};

}  // namespace cusenet
