#include "core/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

namespace cusenet {

ProcessHandle ProcessHandle::open(pid_t pid, int* err, bool memory) {
  ProcessHandle h;
  if (pid <= 0) {
    *err = -ESRCH;
    return h;
  }
  const std::string dir = "/proc/" + std::to_string(pid);
  h.dir_.reset(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!h.dir_) {
    *err = errno == ENOENT ? -ESRCH : -errno;
    return h;
  }
  // Opened now, while the pid is known to be the caller's; used later.
  if (memory) h.mem_.reset(::openat(h.dir_.get(), "mem", O_RDWR | O_CLOEXEC));
  if (memory && !h.mem_) {
    *err = -errno;
    h.dir_.reset();
    return h;
  }
  h.pid_ = pid;
  return h;
}

ProcessHandle ProcessHandle::of_peer(int socket, int* err) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(socket, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    *err = -errno;
    return {};
  }
  int pidfd = -1;
  len = sizeof pidfd;
  if (::getsockopt(socket, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) != 0) {
    // Before Linux 6.5 there is no pidfd of the peer: the pid is all there
    // is. Any other failure (a peer that has exited) is a peer gone.
    if (errno == ENOPROTOOPT) return open(cred.pid, err, false);
    *err = -ESRCH;
    return {};
  }
  UniqueFd peer(pidfd);
  ProcessHandle h = open(cred.pid, err, false);
  // Alive now means the pid has not been reused: /proc/PID was the peer's.
  if (h && ::syscall(SYS_pidfd_send_signal, peer.get(), 0, nullptr, 0) != 0) {
    *err = -ESRCH;
    return {};
  }
  return h;
}

}  // namespace cusenet
