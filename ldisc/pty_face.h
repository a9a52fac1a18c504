#pragma once
// A tty port reached through a kernel pty instead of its own device node
// (/dev/ttyVP<n> needs CUSE): the daemon holds the port open in raw mode, as
// a program would, and copies bytes both ways between it and the pty's
// master; a program opens the slave, whose path is printed. A supervised
// program can set its line discipline there (cuse/kernel_ttys.h), so two
// pppd on the slaves of a null-modem pair talk across the emulated ports.
// The slave's termios stay the kernel pty's own, and decide what a serial
// line's would: the slave's opens raise DTR and RTS on the port (speed not
// B0), its last close drops them with HUPCL (the daemon holds the slave
// only for a moment, so that the master sees that close); the port's
// carrier lost while a program holds the slave without CLOCAL (pppd's
// `modem`) hangs it up: the port's discipline goes (a PPP channel: pppd
// reads 0, "Modem hangup"), the port and the slave (TIOCVHANGUP) are hung
// up, and the face opens both again for the next program. The port itself
// stays CLOCAL, with HUPCL off: the face decides. A program opening the
// slave in the instant the carrier drops may be hung up with it. A paced port
// (TtyPort::LineSpeed::baud) takes the slave's rate and frame (CBAUD, CSIZE,
// PARENB, CSTOPB) with the next bytes the slave sends, so that a program
// setting its speed on the slave sets the line's.
//
// While a discipline other than N_TTY set through the slave runs on the port
// itself (a Bypass is held), the face copies nothing: the kernel tty has one
// discipline, and it is the port's now. What the slave's reader would get
// then is nothing (the kernel's N_PPP reads EAGAIN); what a program writes
// to the slave meanwhile (the kernel's N_PPP refuses it with EAGAIN) is read
// from the master and dropped, so that it neither blocks the writer nor
// reaches the line late. Bytes the face held at that moment, in either
// direction, are dropped too, as the kernel drops N_TTY's buffers when the
// discipline changes.
#include <sys/types.h>

#include <sys/stat.h>

#include <memory>
#include <string>
#include <thread>

#include "core/fd.h"
#include "ldisc/tty_port.h"

namespace cusenet {

class PtyFace {
 private:
  struct State;

 public:
  // nullptr with -errno in *err.
  static std::unique_ptr<PtyFace> create(std::shared_ptr<TtyPort> port, int* err);
  // Hangs the port up if a Bypass is held, and the slave with it (the
  // master's close would, but the master stays open while the Bypass is
  // held), then closes the port; the pty closes with the last Bypass.
  ~PtyFace();
  PtyFace(const PtyFace&) = delete;
  PtyFace& operator=(const PtyFace&) = delete;

  const std::string& slave_path() const { return slave_path_; }
  // A program holds the slave (or the daemon cannot tell: no watch of its
  // opens), or a discipline set through it runs on the port (a Bypass).
  bool in_use() const;
  // Whether a tty (its fstat) is this face's slave: the same device number
  // in the same devpts instance (every instance numbers its ptys from 0).
  bool is_slave(const struct stat& st) const {
    return st.st_rdev == slave_rdev_ && st.st_dev == slave_dev_;
  }

  // The copying stopped, from when bypass() returns until it is destroyed;
  // then it resumes over whatever discipline the port has (N_TTY, set back
  // by whoever took this).
  class Bypass {
   public:
    ~Bypass();
    Bypass(const Bypass&) = delete;
    Bypass& operator=(const Bypass&) = delete;
    const std::shared_ptr<TtyPort>& port() const;
    // A paced port takes the slave's rate and frame now.
    void follow_slave_rate();

   private:
    friend class PtyFace;
    explicit Bypass(std::shared_ptr<State> s) : state_(std::move(s)) {}
    const std::shared_ptr<State> state_;
  };
  // Waits until the face's thread has stopped copying; nullptr while
  // another Bypass is held.
  std::unique_ptr<Bypass> bypass();

 private:
  PtyFace() = default;

  std::shared_ptr<State> state_;
  std::thread thread_;
  std::string slave_path_;
  dev_t slave_rdev_ = 0, slave_dev_ = 0;
};

}  // namespace cusenet
