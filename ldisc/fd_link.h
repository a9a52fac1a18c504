#pragma once
// A tty port whose far end is a file descriptor outside the daemon: the
// master of a kernel pty (a program opens the slave, whose path is printed)
// or a connected TCP socket. A thread moves bytes both ways with the port's
// flow control. Neither carries modem lines: the port sees CTS, DSR and
// carrier up while the descriptor is connected, and carrier lost when a
// socket's peer closes (a hangup unless CLOCAL is set).
#include <memory>
#include <string>
#include <thread>

#include "core/fd.h"
#include "ldisc/tty_port.h"

namespace cusenet {

class FdLink {
 public:
  // A new kernel pty pair. The daemon keeps the slave open too (in raw
  // mode), so that a program closing and reopening it loses nothing and the
  // master never sees a hangup. nullptr with -errno in *err on failure.
  static std::unique_ptr<FdLink> pty(std::shared_ptr<TtyPort> port, int* err);
  // A connected stream socket.
  static std::unique_ptr<FdLink> stream(std::shared_ptr<TtyPort> port, UniqueFd socket);
  // A kernel tty through a process's own file description: the port's line
  // discipline then runs over the kernel tty, whose own discipline stays
  // N_TTY in raw mode. The description is shared with that process and is
  // made non-blocking meanwhile (its own reads and writes of the tty then
  // answer EAGAIN, as they do under the kernel's N_PPP); O_NONBLOCK is
  // cleared again at the end if it was clear. Its hangup (read fails with
  // EIO) drops the port's carrier.
  static std::unique_ptr<FdLink> tty(std::shared_ptr<TtyPort> port, UniqueFd tty);

  // Disconnects: the port loses its far end and its carrier.
  ~FdLink();
  FdLink(const FdLink&) = delete;
  FdLink& operator=(const FdLink&) = delete;

  // The pty slave's path (/dev/pts/N); empty for a socket.
  const std::string& slave_path() const { return slave_path_; }

 private:
  struct State;
  class End;
  FdLink(std::shared_ptr<TtyPort> port, UniqueFd fd, bool socket);

  std::shared_ptr<State> state_;
  std::thread thread_;
  UniqueFd slave_;
  std::string slave_path_;
  bool clear_nonblock_ = false;  // a shared description that was blocking
};

}  // namespace cusenet
