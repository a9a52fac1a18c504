#pragma once
// A tty port reached through a kernel pty instead of its own device node
// (/dev/ttyVP<n> needs CUSE): the daemon holds the port open in raw mode, as
// a program would, and copies bytes both ways between it and the pty's
// master; a program opens the slave, whose path is printed. A supervised
// program can set its line discipline there (cuse/kernel_ttys.h), so two
// pppd on the slaves of a null-modem pair talk across the emulated ports.
// The slave's termios and modem lines stay the kernel pty's own; the port is
// CLOCAL, so that its peer's carrier does not hang it up. A paced port
// (TtyPort::LineSpeed::baud) takes the slave's rate and frame (CBAUD, CSIZE,
// PARENB, CSTOPB) with the next bytes the slave sends, so that a program
// setting its speed on the slave sets the line's.
#include <memory>
#include <string>
#include <thread>

#include "core/fd.h"
#include "ldisc/tty_port.h"

namespace cusenet {

class PtyFace {
 public:
  // nullptr with -errno in *err.
  static std::unique_ptr<PtyFace> create(std::shared_ptr<TtyPort> port, int* err);
  // Closes the port and the pty.
  ~PtyFace();
  PtyFace(const PtyFace&) = delete;
  PtyFace& operator=(const PtyFace&) = delete;

  const std::string& slave_path() const { return slave_path_; }

 private:
  struct State;
  PtyFace() = default;

  std::shared_ptr<State> state_;
  std::thread thread_;
  UniqueFd slave_;  // kept open: the master never sees a hangup
  std::string slave_path_;
};

}  // namespace cusenet
