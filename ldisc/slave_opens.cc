#include "ldisc/slave_opens.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace cusenet {

int SlaveOpens::watch(int fd) {
  in_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  // The inode itself, whatever path the daemon's mount namespace gives it.
  const std::string self = "/proc/self/fd/" + std::to_string(fd);
  if (in_ && ::inotify_add_watch(in_.get(), self.c_str(), IN_OPEN) >= 0) return 0;
  const int err = -errno;
  in_.reset();
  return err;
}

void SlaveOpens::drain() {
  alignas(inotify_event) char buf[4096];
  while (::read(in_.get(), buf, sizeof buf) > 0) {
  }
}

}  // namespace cusenet
