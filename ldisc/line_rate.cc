#include "ldisc/line_rate.h"

#include <algorithm>

namespace cusenet {
namespace {

constexpr uint64_t kNsPerSecond = 1'000'000'000;

// tty_baudrate.c's baud_table: CBAUD's 4 low bits, then CBAUDEX's 15 codes.
constexpr unsigned kBaudTable[] = {0,      50,      75,      110,     134,     150,     200,
                                   300,    600,     1200,    1800,    2400,    4800,    9600,
                                   19200,  38400,   57600,   115200,  230400,  460800,  500000,
                                   576000, 921600,  1000000, 1152000, 1500000, 2000000, 2500000,
                                   3000000, 3500000, 4000000};

}  // namespace

unsigned LineRate::baud_of(uint32_t c_cflag) {
  unsigned code = c_cflag & CBAUD;
  if (code & CBAUDEX) {
    code &= ~static_cast<unsigned>(CBAUDEX);
    if (code == 0) return 0;  // BOTHER
    code += 15;
  }
  return code < std::size(kBaudTable) ? kBaudTable[code] : 0;
}

unsigned LineRate::bits_per_char(uint32_t c_cflag) {
  unsigned data = 8;
  switch (c_cflag & CSIZE) {
    case CS5: data = 5; break;
    case CS6: data = 6; break;
    case CS7: data = 7; break;
    default: break;
  }
  return 1 + data + ((c_cflag & PARENB) ? 1 : 0) + ((c_cflag & CSTOPB) ? 2 : 1);
}

void LineRate::set_termios(const KernelTermios& t) {
  baud_ = baud_of(t.c_cflag);
  bits_ = bits_per_char(t.c_cflag);
  running_ = false;
}

uint64_t LineRate::crossed(Clock::time_point now) const {
  if (now <= start_) return 0;
  const auto ns = static_cast<unsigned __int128>((now - start_).count());
  return static_cast<uint64_t>(ns * baud_ / (static_cast<unsigned __int128>(bits_) * kNsPerSecond));
}

size_t LineRate::allowance(size_t queued, Clock::time_point now) {
  if (!paced()) return queued;
  if (!running_) {
    running_ = true;
    start_ = now;
    since_start_ = 0;
  }
  const uint64_t ready = crossed(now) - std::min(crossed(now), since_start_);
  return static_cast<size_t>(std::min<uint64_t>(ready, queued));
}

void LineRate::sent(size_t n) {
  if (!paced() || n == 0) return;
  since_start_ += n;
  chars_ += n;
  link_seconds_ += static_cast<double>(n) * bits_ / baud_;
}

LineRate::Clock::time_point LineRate::next_due() const {
  // The first instant at which crossed() exceeds since_start_.
  const auto bits = static_cast<unsigned __int128>(since_start_ + 1) * bits_ * kNsPerSecond;
  const auto ns = static_cast<int64_t>((bits + baud_ - 1) / baud_);
  return start_ + std::chrono::nanoseconds(ns);
}

}  // namespace cusenet
