#pragma once
// What is at the other end of a tty port's wire: another port (null modem),
// a kernel pty, a TCP connection. The port calls these without holding its
// lock; the far end answers through TtyPort's driver-side methods.
#include <cstddef>
#include <span>

namespace cusenet {

class FarEnd {
 public:
  virtual ~FarEnd() = default;
  // Bytes the port sends. Returns how many were taken; when fewer, the port
  // waits until the far end calls TtyPort::write_wakeup().
  virtual size_t transmit(std::span<const std::byte> bytes) = 0;
  // The port has room for input again after a short TtyPort::receive().
  virtual void receive_room() = 0;
  // The port's modem control outputs (TIOCM_DTR, TIOCM_RTS, ...) changed.
  virtual void modem_outputs(unsigned tiocm) = 0;
};

}  // namespace cusenet
