#pragma once
// A line discipline as tty.txt describes it: the code between a tty's
// driver (bytes from and to the far end) and the processes that opened it.
// One instance per tty, made when the discipline is attached (its "open")
// and closed when it is detached, the tty hangs up or is closed for the last
// time. The tty calls every method with its lock held, so an instance is
// never entered by two threads at once; it must not block.
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "core/caller.h"
#include "core/file.h"
#include "core/user_memory.h"
#include "ldisc/kernel_termios.h"

namespace cusenet {

// A way into a tty from outside the calls it makes to its discipline: a
// thread of its own (a PPP channel's start_xmit, called by the generic
// layer) that must act as though it were one of those calls.
class TtyEntry {
 public:
  virtual ~TtyEntry() = default;
  // Runs fn with the tty's lock held, as any method of the discipline runs,
  // and returns true; false without calling fn once the discipline that got
  // this entry has been closed. Work fn leaves with after_unlock() runs
  // before this returns. Valid until that discipline's close() work queued
  // with after_unlock() has run (so that work may wait for a run() in
  // progress on another thread, which then returns false).
  virtual bool run(const std::function<void()>& fn) = 0;
};

// What a line discipline sees of its tty (the kernel's tty_struct and its
// driver operations), valid from open until close.
class Tty {
 public:
  virtual ~Tty() = default;
  virtual const KernelTermios& termios() const = 0;
  // The driver's write: queues bytes for the far end, returns how many it
  // took (fewer when its buffer is full; write_wakeup() follows later).
  virtual size_t driver_write(std::span<const std::byte> bytes) = 0;
  virtual size_t write_room() const = 0;
  // Flow control from received START/STOP characters (IXON).
  virtual void stop_output() = 0;
  virtual void start_output() = 0;
  // Runs fn once the tty's lock is released, after the call in progress (in
  // order with other such work of this tty): what the kernel defers to a
  // tasklet. For work that may call back into the tty, or wait for a thread
  // that does (a PPP channel's input, output_wakeup, unregister). May be
  // called from close(); fn must not use the discipline, which is gone then.
  virtual void after_unlock(std::function<void()> fn) = 0;
  // The discipline's way in from other threads.
  virtual std::shared_ptr<TtyEntry> entry() = 0;
};

// Returned by LineDiscipline::ioctl for commands the tty layer handles
// itself (tty_mode_ioctl: TCGETS, TCSETS*, TCFLSH...), as the kernel's
// -ENOIOCTLCMD.
inline constexpr long kNoIoctlCmd = -515;

class LineDiscipline {
 public:
  virtual ~LineDiscipline() = default;

  // Detached from the tty; nothing else is called afterwards.
  virtual void close() {}

  // A process's read/write/poll on the tty. read: -EAGAIN when the caller
  // must wait (the frontend parks it), 0 for end of file.
  virtual ssize_t read(std::span<std::byte> buf) = 0;
  virtual ssize_t write(std::span<const std::byte> bytes) = 0;
  virtual PollMask poll() = 0;
  // kNoIoctlCmd for commands it leaves to the tty layer.
  virtual long ioctl(const Caller& caller, unsigned cmd, uint64_t arg, UserMemory& mem) {
    (void)caller, (void)cmd, (void)arg, (void)mem;
    return kNoIoctlCmd;
  }

  // Bytes from the driver. Returns how many it took; the tty keeps the rest
  // and offers them again after the next read.
  virtual size_t receive_buf(std::span<const std::byte> bytes) = 0;
  // The driver has room again after a short driver_write().
  virtual void write_wakeup() {}
  // TCIFLUSH, TCSETSF: drop pending input.
  virtual void flush_buffer() {}
  // termios changed; old is the previous value.
  virtual void set_termios(const KernelTermios& old) { (void)old; }
  // FIONREAD / TIOCINQ.
  virtual size_t chars_in_buffer() const { return 0; }
};

}  // namespace cusenet
