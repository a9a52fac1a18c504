#pragma once
// A process reached through its /proc/PID directory rather than its pid:
// everything opened through the handle belongs to that process, or fails
// (ESRCH) once it has exited — never to a later process that got the same
// pid. The seccomp frontend opens the handle, then checks that the
// notification is still pending (SECCOMP_IOCTL_NOTIF_ID_VALID), then uses
// only the handle, as seccomp_unotify(2) prescribes.
#include <sys/types.h>

#include "core/fd.h"

namespace cusenet {

class ProcessHandle {
 public:
  ProcessHandle() = default;
  // /proc/PID, and its mem file where the caller's memory is to be reached
  // (a thread id works as well as a process id). An empty handle with
  // -errno in *err when the process is gone.
  static ProcessHandle open(pid_t pid, int* err, bool memory = true);
  // The peer of a connected unix socket (its credentials only, no memory):
  // SO_PEERCRED's pid, confirmed by SO_PEERPIDFD to be the same process
  // after /proc/PID was opened.
  static ProcessHandle of_peer(int socket, int* err);

  explicit operator bool() const { return static_cast<bool>(dir_); }
  pid_t pid() const { return pid_; }
  int dir() const { return dir_.get(); }
  int mem() const { return mem_.get(); }

 private:
  pid_t pid_ = 0;
  UniqueFd dir_, mem_;
};

}  // namespace cusenet
