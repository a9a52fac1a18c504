#pragma once
// The launcher's half of `cusenetctl run` once the program runs: it keeps a
// copy of the seccomp listener it handed to the daemon and watches the
// daemon (a pidfd of the process that answered `adopt`). While the daemon
// lives, it never touches the listener: two servers of one listener would
// race. When the daemon is gone, its listener copy with it, the launcher
// answers the trapped calls itself, as a kernel whose driver was unloaded
// would: an open of one of the daemon's device nodes fails with ENODEV and
// every other trapped call continues to the kernel, so the program goes on
// (the files the dead daemon gave it fail by themselves: FUSE ENOTCONN,
// sockets end of file). When a daemon answers on the run dir again (a
// module loaded again), the listener is handed to it, and the devices'
// opens reach it from then on.
//
// Known gap: a call the daemon had received but not answered when it died
// stays waiting (the kernel knows no other server for it, and its id is
// the dead daemon's to know); only SIGKILL ends its caller. The window is
// the daemon's handling time of one call.
#include <sys/types.h>

#include <string>
#include <vector>

#include "core/fd.h"

namespace cusenet {

class Supervisor {
 public:
  // listener: the filtered child's, not yet handed over; exact: the
  // `adopt exact` of `cusenetctl run --exact`.
  Supervisor(std::string run_dir, UniqueFd listener, bool exact);

  // Hands the listener to the daemon: 0, or -errno (the daemon could not be
  // reached) or 1 (it refused; its text in *why).
  int adopt(std::string* why);

  // Waits for child (signals to this process are forwarded to it), serving
  // the listener whenever no daemon does; child's exit status, or 128 +
  // signal. When processes of the tree outlive child (a program that put
  // itself in the background), a copy of this process stays behind to go
  // on watching until the last is gone, with its stdio on /dev/null.
  int wait(pid_t child);

 private:
  // One poll and what it saw; false when child (a pidfd, or -1) has
  // exited or nothing is left to watch.
  bool watch(int child_pidfd);
  // A trapped call answered here (no daemon).
  void serve();
  void daemon_gone();
  // Whether a daemon answers on the run dir again: then the listener is its.
  void try_adopt();
  void read_events();

  const std::string run_dir_;
  UniqueFd listener_;
  const bool exact_;
  UniqueFd daemon_;   // pidfd of the daemon serving the listener; empty: none
  UniqueFd watch_;    // inotify on the run dir while no daemon serves
  int retries_ = 0;   // connects left after control.sock appeared unready
  std::vector<std::string> devices_;  // the daemon's device nodes ("/dev/net/tun")
};

}  // namespace cusenet
