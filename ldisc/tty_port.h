#pragma once
// A serial tty port with the kernel's tty-layer semantics (tty_io.c,
// tty_ioctl.c, serial_core's modem lines): termios, modem lines, exclusive
// mode, the attached line discipline, hangup. One side faces the processes
// that open it (through TtyFile); the other faces its FarEnd, which delivers
// received bytes and modem status and takes transmitted bytes.
//
// Bytes flow with back-pressure end to end: a port's transmit buffer drains
// into the far end as fast as it takes them, a port's input buffer feeds the
// line discipline as fast as it takes them, and each side wakes the other
// when room appears. One lock per port; it is never held while calling the
// far end or a file's Notify, so two ports may call each other freely.
//
// Differences from the kernel: an open never waits for carrier (a blocking
// open without CLOCAL returns at once); TCSETSW and TCSBRK do not wait for
// the transmit buffer to drain; breaks are not carried; a write takes what
// fits and returns that count, where a blocking write to a kernel tty would
// wait for all of it. A port made with LineSpeed::baud keeps its termios
// baud rate (ldisc/line_rate.h): bytes reach the far end no faster than the
// line would carry them, whatever the far end. Not emulated: termios2 (TCGETS2...), TIOCSLCKTRMIOS,
// TIOCMIWAIT/TIOCGICOUNT, TIOCSTI, job control (TIOCSCTTY, TIOCSPGRP...).
#include <linux/tty.h>
#include <sys/ioctl.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/caller.h"
#include "core/file.h"
#include "core/user_memory.h"
#include "ldisc/far_end.h"
#include "ldisc/kernel_termios.h"
#include "ldisc/ldisc_table.h"
#include "ldisc/line_discipline.h"
#include "ldisc/line_rate.h"
#include "ldisc/line_timer.h"

namespace cusenet {

class TtyPort final : private Tty {
 public:
  // Bytes the port's transmit buffer holds (the serial core's
  // UART_XMIT_SIZE), and bytes received but not yet taken by the line
  // discipline it holds before refusing more.
  static constexpr size_t kXmitSize = 4096;
  static constexpr size_t kFlipSize = 65536;
  // The kernel's TIOCM_OUT1, TIOCM_OUT2, TIOCM_LOOP (asm-generic/termios.h,
  // which glibc's headers leave out).
  static constexpr unsigned kTiocmOut1 = 0x2000, kTiocmOut2 = 0x4000, kTiocmLoop = 0x8000;
  static constexpr unsigned kModemOutputs =
      TIOCM_DTR | TIOCM_RTS | kTiocmOut1 | kTiocmOut2 | kTiocmLoop;
  static constexpr unsigned kModemInputs = TIOCM_CTS | TIOCM_CAR | TIOCM_DSR | TIOCM_RNG;

  // unlimited: bytes go as fast as the far end takes them; baud: no faster
  // than the termios rate either. Chosen when the port is made.
  enum class LineSpeed { unlimited, baud };

  TtyPort(std::string name, std::shared_ptr<LdiscTable> ldiscs,
          LineSpeed speed = LineSpeed::unlimited);
  ~TtyPort() override;
  TtyPort(const TtyPort&) = delete;
  TtyPort& operator=(const TtyPort&) = delete;

  const std::string& name() const { return name_; }

  // ---- driver side (the far end)
  void set_far_end(std::shared_ptr<FarEnd> far);
  // Bytes arriving on the wire; returns how many the port took (dropped
  // bytes count as taken: nobody has the port open, or CREAD is off).
  // Fewer: the far end waits for FarEnd::receive_room().
  size_t receive(std::span<const std::byte> bytes);
  // TIOCM_CTS, TIOCM_CAR, TIOCM_DSR, TIOCM_RNG as the far end drives them.
  // Carrier lost without CLOCAL hangs the port up.
  void set_modem_inputs(unsigned tiocm);
  // fn runs, without the port's lock, after each change of TIOCM_CAR: for
  // whoever decides about hangups beyond the port's own CLOCAL (a pty face
  // asks its slave's termios).
  void watch_carrier(std::function<void()> fn);
  // The far end has room again after a short FarEnd::transmit().
  void write_wakeup();
  // tty_hangup: every open file reads 0 and fails with EIO from now on, the
  // line discipline is closed; later opens start afresh.
  void hangup();
  // TIOCMGET's answer.
  unsigned modem_lines() const;
  // The attached line discipline's number (TIOCGETD), -1 while none is.
  int ldisc() const;
  // Files open on the port now (hung-up ones included, until released).
  size_t open_files() const;
  // The line's rate and frame from termios, whether it is paced, and the
  // paced characters sent with the line time they took.
  struct Line {
    bool paced;
    unsigned baud, bits;
    uint64_t chars;
    double link_seconds;
  };
  Line line() const;
  // Made with LineSpeed::baud.
  bool paced() const { return pacer_ != nullptr; }

  // ---- file side (TtyFile), by the id open() gave
  int open(const Caller& caller, Notify notify, uint64_t* id);
  void release(uint64_t id);
  ssize_t read(uint64_t id, std::span<std::byte> buf);
  ssize_t write(uint64_t id, std::span<const std::byte> bytes);
  PollMask poll(uint64_t id);
  long ioctl(uint64_t id, const Caller& caller, unsigned cmd, uint64_t arg, UserMemory& mem);

 private:
  // Work found under the lock and done after it is released.
  struct Pending {
    bool push = false, room = false, modem = false, notify = false, carrier = false;
    std::vector<std::function<void()>> work;  // the discipline's after_unlock()
  };
  class Locked;
  class Entry;
  struct FileEntry {
    Notify notify;
    uint64_t session;
  };

  // Tty, for the line discipline (lock held).
  const KernelTermios& termios() const override { return termios_; }
  size_t driver_write(std::span<const std::byte> bytes) override;
  size_t write_room() const override { return kXmitSize - xmit_.size(); }
  void stop_output() override { stopped_ = true; }
  void start_output() override;
  void after_unlock(std::function<void()> fn) override { pending_.work.push_back(std::move(fn)); }
  std::shared_ptr<TtyEntry> entry() override;

  void run(const Pending& p);
  void push();
  bool can_transmit() const;
  bool hung_up(uint64_t id) const;
  void feed_ldisc();
  int attach_ldisc(int num, const Caller& caller);
  void detach_ldisc();
  int set_ldisc(int num, const Caller& caller);
  void set_termios(const KernelTermios& t);
  void set_modem_outputs(unsigned set, unsigned clear);
  void flush_output();
  void hangup_locked();
  long mode_ioctl(unsigned cmd, uint64_t arg, UserMemory& mem);

  const std::string name_;
  const std::shared_ptr<LdiscTable> ldiscs_;

  mutable std::mutex mu_;
  Pending pending_;
  std::shared_ptr<FarEnd> far_;
  std::function<void()> carrier_watch_;
  KernelTermios termios_ = KernelTermios::serial_default();
  winsize winsize_{};
  unsigned outputs_ = 0, inputs_ = 0;
  bool exclusive_ = false;
  LdiscTable::Ref ldisc_ref_;
  std::unique_ptr<LineDiscipline> ldisc_;
  uint64_t ldisc_gen_ = 0;  // bumped at each attach: tells an Entry its discipline went

  std::map<uint64_t, FileEntry> files_;
  uint64_t next_id_ = 1;
  // Files opened before the last hangup carry an older session.
  uint64_t session_ = 0;

  std::vector<uint8_t> flip_;  // received, not yet taken by the ldisc
  bool far_waiting_ = false;   // a receive() was short
  std::deque<uint8_t> xmit_;   // to transmit
  uint64_t xmit_gen_ = 0;      // bumped when xmit_ is flushed
  bool stopped_ = false;       // IXON STOP or TCOOFF
  bool stuffed_ = false;       // the far end took less than offered
  bool wakeup_ = false;        // write_wakeup() since the last transmit
  bool pushing_ = false;       // a thread is in push()
  LineRate rate_;              // the termios rate, paced with LineSpeed::baud
  // Resumes push() when the next character has crossed; only when paced.
  // Last: it goes first, before what push() uses.
  std::unique_ptr<LineTimer> pacer_;
};

}  // namespace cusenet
