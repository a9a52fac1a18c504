#pragma once
// A wakeup for each open of a pty slave: the kernel tells the master when
// the slave's last file closes (it polls POLLHUP) but not when the slave is
// opened again, which inotify's IN_OPEN on the slave's inode does, in every
// mount namespace reaching the same devpts instance. Events are not counted
// (inotify merges identical ones): the master's POLLHUP is what says
// whether anyone holds the slave.
#include "core/fd.h"

namespace cusenet {

class SlaveOpens {
 public:
  // Watches the tty open on fd. 0 or -errno (inotify's max_user_instances
  // reached, say).
  int watch(int fd);
  // Readable after an open; -1 without a watch.
  int fd() const { return in_ ? in_.get() : -1; }
  // Empties the queue.
  void drain();

 private:
  UniqueFd in_;
};

}  // namespace cusenet
