#include "ldisc/n_tty.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <numeric>
#include <vector>

namespace cusenet {

namespace {

constexpr uint8_t kDisabled = 0;  // _POSIX_VDISABLE on Linux

class NTty final : public LineDiscipline {
 public:
  explicit NTty(Tty& tty) : tty_(tty) {}

  ssize_t read(std::span<std::byte> buf) override;
  ssize_t write(std::span<const std::byte> bytes) override;
  PollMask poll() override;
  size_t receive_buf(std::span<const std::byte> bytes) override;
  void flush_buffer() override {
    buf_.clear();
    lines_.clear();
  }
  void set_termios(const KernelTermios& old) override;
  size_t chars_in_buffer() const override { return canonical() ? complete() : buf_.size(); }

 private:
  const KernelTermios& t() const { return tty_.termios(); }
  bool canonical() const { return t().c_lflag & ICANON; }
  bool is_cc(uint8_t c, int index) const { return c != kDisabled && c == t().c_cc[index]; }
  size_t complete() const { return std::accumulate(lines_.begin(), lines_.end(), size_t{0}); }
  size_t partial() const { return buf_.size() - complete(); }
  // Bytes a non-canonical read needs before it returns (VMIN without VTIME).
  size_t needed() const {
    return t().c_cc[VTIME] == 0 ? std::max<size_t>(1, t().c_cc[VMIN]) : 1;
  }
  bool readable() const { return canonical() ? !lines_.empty() : buf_.size() >= needed(); }

  // Output processing of one byte; false when the driver lacks room.
  bool output(uint8_t c);
  void echo(uint8_t c);
  void erase(size_t n, bool echo_each);

  Tty& tty_;
  std::deque<uint8_t> buf_;
  // Lengths of the complete lines at the front of buf_ (canonical mode); a
  // zero length is an end-of-file mark.
  std::deque<size_t> lines_;
};

ssize_t NTty::read(std::span<std::byte> buf) {
  if (buf.empty()) return 0;
  if (canonical()) {
    if (lines_.empty()) return -EAGAIN;
    const size_t n = std::min(lines_.front(), buf.size());
    std::copy_n(buf_.begin(), n, reinterpret_cast<uint8_t*>(buf.data()));
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<ptrdiff_t>(n));
    // A short buffer leaves the rest of the line for the next read; an
    // end-of-file mark is consumed by the read that returns 0.
    if (lines_.front() == n)
      lines_.pop_front();
    else
      lines_.front() -= n;
    return static_cast<ssize_t>(n);
  }
  if (buf_.empty() && t().c_cc[VMIN] == 0 && t().c_cc[VTIME] == 0) return 0;
  if (buf_.size() < std::min(needed(), buf.size())) return -EAGAIN;
  const size_t n = std::min(buf_.size(), buf.size());
  std::copy_n(buf_.begin(), n, reinterpret_cast<uint8_t*>(buf.data()));
  buf_.erase(buf_.begin(), buf_.begin() + static_cast<ptrdiff_t>(n));
  return static_cast<ssize_t>(n);
}

bool NTty::output(uint8_t c) {
  const uint32_t o = t().c_oflag;
  uint8_t out[2] = {c, 0};
  size_t n = 1;
  if (o & OPOST) {
    if (c == '\n' && (o & ONLCR)) {
      out[0] = '\r';
      out[1] = '\n';
      n = 2;
    } else if (c == '\r' && (o & OCRNL)) {
      out[0] = '\n';
    }
  }
  if (tty_.write_room() < n) return false;
  tty_.driver_write(std::as_bytes(std::span(out, n)));
  return true;
}

ssize_t NTty::write(std::span<const std::byte> bytes) {
  size_t i = 0;
  while (i < bytes.size() && output(static_cast<uint8_t>(bytes[i]))) ++i;
  return i == 0 && !bytes.empty() ? -EAGAIN : static_cast<ssize_t>(i);
}

PollMask NTty::poll() {
  PollMask m = 0;
  if (readable()) m |= POLLIN | POLLRDNORM;
  if (tty_.write_room() > 0) m |= POLLOUT | POLLWRNORM;
  return m;
}

void NTty::echo(uint8_t c) {
  if (c < 0x20 && c != '\n' && c != '\t' && (t().c_lflag & ECHOCTL)) {
    output('^');
    output(static_cast<uint8_t>(c ^ 0x40));
  } else if (c == 0x7f && (t().c_lflag & ECHOCTL)) {
    output('^');
    output('?');
  } else {
    output(c);
  }
}

void NTty::erase(size_t n, bool echo_each) {
  for (; n > 0 && partial() > 0; --n) {
    const uint8_t c = buf_.back();
    buf_.pop_back();
    if (!echo_each) continue;
    // A control character echoed as ^X takes two columns.
    const int width = (c < 0x20 || c == 0x7f) && (t().c_lflag & ECHOCTL) ? 2 : 1;
    for (int k = 0; k < width; ++k) {
      output('\b');
      output(' ');
      output('\b');
    }
  }
}

size_t NTty::receive_buf(std::span<const std::byte> bytes) {
  const KernelTermios& tm = t();
  const bool echo_on = tm.c_lflag & ECHO;
  size_t i = 0;
  for (; i < bytes.size(); ++i) {
    auto c = static_cast<uint8_t>(bytes[i]);
    if (tm.c_iflag & ISTRIP) c &= 0x7f;
    if (tm.c_iflag & IXON) {
      if (is_cc(c, VSTOP)) {
        tty_.stop_output();
        continue;
      }
      if (is_cc(c, VSTART)) {
        tty_.start_output();
        continue;
      }
    }
    if (c == '\r') {
      if (tm.c_iflag & IGNCR) continue;
      if (tm.c_iflag & ICRNL) c = '\n';
    } else if (c == '\n' && (tm.c_iflag & INLCR)) {
      c = '\r';
    }
    if (!canonical()) {
      // Full: the rest stays with the tty until a read makes room.
      if (buf_.size() >= kNttyBufSize) break;
      buf_.push_back(c);
      if (echo_on) echo(c);
      continue;
    }
    // As the kernel's eraser(): erasing shows as "\b \b" with ECHOE (a
    // whole line with ECHOK, ECHOKE and ECHOE), else as the character itself
    // (and a newline after a kill with ECHOK); an empty line shows nothing.
    if (is_cc(c, VERASE) || is_cc(c, VKILL)) {
      const bool kill = is_cc(c, VKILL);
      if (partial() == 0) continue;
      const uint32_t visual = kill ? (ECHOE | ECHOK | ECHOKE) : ECHOE;
      const bool rub_out = echo_on && (tm.c_lflag & visual) == visual;
      if (echo_on && !rub_out) echo(c);
      if (echo_on && !rub_out && kill && (tm.c_lflag & ECHOK)) output('\n');
      erase(kill ? partial() : 1, rub_out);
      continue;
    }
    if (is_cc(c, VEOF)) {
      lines_.push_back(partial());
      continue;
    }
    const bool eol = c == '\n' || is_cc(c, VEOL) || is_cc(c, VEOL2);
    // One byte is kept for the end of the line; a line that does not fit
    // loses its excess characters, as the kernel's does.
    if (buf_.size() >= kNttyBufSize - (eol ? 0 : 1)) continue;
    buf_.push_back(c);
    if (echo_on || (c == '\n' && (tm.c_lflag & ECHONL))) echo(c);
    if (eol) lines_.push_back(partial());
  }
  return i;
}

void NTty::set_termios(const KernelTermios& old) {
  // Leaving canonical mode makes every byte readable; entering it makes the
  // bytes held so far the start of a line.
  if ((old.c_lflag ^ t().c_lflag) & ICANON) lines_.clear();
  if ((old.c_iflag & IXON) && !(t().c_iflag & IXON)) tty_.start_output();
}

}  // namespace

std::unique_ptr<LineDiscipline> open_n_tty(Tty& tty) { return std::make_unique<NTty>(tty); }

}  // namespace cusenet
