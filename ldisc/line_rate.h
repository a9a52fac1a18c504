#pragma once
// The pace of a serial line at its termios baud rate, for ports that emulate
// line speed: each character occupies the wire for its start bit, CSIZE data
// bits, parity bit (PARENB) and one or two stop bits (CSTOPB), and reaches
// the far end once its last bit has crossed. The transmitter sends
// back to back while it has bytes; a line that went idle (nothing queued,
// or held by flow control) starts afresh, with no credit for the idle time.
//
// Pure accounting on the caller's clock, so it is exact and testable: the
// port asks how many queued bytes have crossed by now, hands those to its far
// end, and sets a timer for when the next one will have.
//
// Rates: B50..B4000000 from CBAUD/CBAUDEX. B0 (hung up) and BOTHER (a
// termios2 rate, which the 36-byte termios cannot carry) are not paced.
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "ldisc/kernel_termios.h"

namespace cusenet {

class LineRate {
 public:
  using Clock = std::chrono::steady_clock;

  // Bits per second of c_cflag's CBAUD, 0 for B0, BOTHER or an unknown code.
  static unsigned baud_of(uint32_t c_cflag);
  // Start + data + parity + stop bits of one character.
  static unsigned bits_per_char(uint32_t c_cflag);

  // A new rate and frame; the line restarts from now.
  void set_termios(const KernelTermios& t);

  unsigned baud() const { return baud_; }
  unsigned bits() const { return bits_; }
  bool paced() const { return baud_ != 0; }

  // How many characters have crossed since the line (re)started, beyond
  // those already counted by sent(). Starts the line at now if it was idle.
  // Unpaced: as many as asked for.
  size_t allowance(size_t queued, Clock::time_point now);
  // n characters went to the far end.
  void sent(size_t n);
  // Nothing more goes out for now (queue empty, far end full, flow control
  // held): the next character starts when the line is used again.
  void idle() { running_ = false; }
  // When the next character will have crossed a running line.
  Clock::time_point next_due() const;

  // Line time the characters sent so far have taken, at the rates they were
  // sent at, and how many they were (paced characters only).
  double link_seconds() const { return link_seconds_; }
  uint64_t chars() const { return chars_; }

 private:
  // Characters that have crossed between start_ and now.
  uint64_t crossed(Clock::time_point now) const;

  unsigned baud_ = 0, bits_ = 10;
  bool running_ = false;
  Clock::time_point start_{};
  uint64_t since_start_ = 0;  // characters sent since start_
  double link_seconds_ = 0;
  uint64_t chars_ = 0;
};

}  // namespace cusenet
