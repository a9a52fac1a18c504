#pragma once
// Line disciplines the daemon runs over the real ttys of supervised
// processes (DESIGN.md, "Frontends" 3a): a pty or serial port keeps the
// kernel's N_TTY in raw mode while TIOCSETD, TIOCGETD and the discipline's
// own ioctls (PPPIOCGCHAN, PPPIOCGUNIT...) issued on it are answered here.
//
// A TIOCSETD to a discipline of the table (other than N_TTY) makes a port
// that stands for the kernel tty: its far end is the tty itself, through
// the caller's own file description (pidfd_getfd; never reopened by the
// daemon), so the discipline reads and writes the tty's bytes as far as
// that file allows; the port is opened as the caller, without CLOCAL, and
// the discipline set on it. A hangup of the kernel tty (its pty master
// closed) then hangs the port up, as the kernel hangs up the discipline.
//
// A tty that is the slave of one of the daemon's own pty faces (found by
// its device number and devpts instance through own_ptys) needs no stand-in: its discipline
// runs on the emulated port behind the face, as on /dev/ttyVP<n> under CUSE,
// opened as the caller with the face's termios (raw, CLOCAL: the face
// hangs it up by the slave's CLOCAL, ldisc/pty_face.h), while the face stops copying (ldisc/pty_face.h). A paced port
// takes the slave's line rate when the discipline is set; a later TCSETS
// on the slave is the kernel's (the filter does not take it) and reaches
// the port only once the discipline has gone and bytes flow again. N_TTY
// set back (or the setter's exit) puts N_TTY back on the port, and the face
// copies again.
//
// Differences from the kernel: the discipline belongs to the file
// description it was set through (the caller's descriptor, its dups and
// its children's copies), where the kernel's belongs to the tty (another
// open of the same tty sees N_TTY here); it ends when the process that set it exits (the kernel keeps it until
// the tty's last close) or sets N_TTY back; TCFLSH reaches the kernel tty
// only, not the discipline's own output buffer; a descriptor not open for
// both reading and writing is refused (EBADF), where the kernel's
// discipline would write through the driver anyway.
#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "core/caller.h"
#include "core/fd.h"
#include "core/user_memory.h"
#include "ldisc/fd_link.h"
#include "ldisc/ldisc_table.h"
#include "ldisc/pty_face.h"
#include "ldisc/tty_port.h"

namespace cusenet {

class KernelTtys {
 public:
  // The bypass of the daemon's own pty face whose slave is the tty st
  // (device number and devpts instance), nullptr for any other tty.
  using OwnPtys = std::function<std::unique_ptr<PtyFace::Bypass>(const struct stat& st)>;
  explicit KernelTtys(std::shared_ptr<LdiscTable> ldiscs, OwnPtys own_ptys = {});
  // Detaches every discipline.
  ~KernelTtys();
  KernelTtys(const KernelTtys&) = delete;
  KernelTtys& operator=(const KernelTtys&) = delete;

  // An ioctl on descriptor tty (the caller's, duplicated; st its fstat).
  // Every command of ioctl_table() comes here. Returns the result with *answered = true, or *answered = false when
  // the kernel is to answer it (not a tty of ours, N_TTY set on a tty that
  // has it).
  // pidfd: the caller's (taken before its request was validated), which
  // ends the discipline when it exits.
  long ioctl(const Caller& caller, const UniqueFd& pidfd, const UniqueFd& tty,
             const struct stat& st, unsigned cmd, uint64_t arg, UserMemory& mem,
             bool* answered);

  // Ttys with a discipline of ours now (our own ptys' included).
  size_t attached() const;

 private:
  struct Attached {
    std::shared_ptr<TtyPort> port;
    std::unique_ptr<FdLink> link;            // to the kernel tty, for a stand-in; or
    std::unique_ptr<PtyFace::Bypass> bypass;  // on the port behind our own pty
    uint64_t file = 0;
    std::shared_ptr<UniqueFd> owner;  // pidfd of the process that set the discipline
    UniqueFd identity;  // the caller's file description it was set through
  };
  using Ttys = std::multimap<dev_t, Attached>;

  // The discipline set through the same file description as tty (kcmp):
  // a device number alone names a different tty in every devpts instance.
  Ttys::iterator find_locked(const struct stat& st, const UniqueFd& tty);
  long attach(const Caller& caller, const UniqueFd& pidfd, const UniqueFd& tty,
              const struct stat& st, uint64_t arg, UserMemory& mem);
  static void detach(Attached a);
  void watch();

  const std::shared_ptr<LdiscTable> ldiscs_;
  const OwnPtys own_ptys_;
  mutable std::mutex mu_;
  Ttys ttys_;  // by st_rdev, then by file description
  UniqueFd wake_;
  bool stop_ = false;
  std::thread watcher_;
};

}  // namespace cusenet
