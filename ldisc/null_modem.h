#pragma once
// Two tty ports wired back to back by a null-modem cable with full
// handshaking: each one's TxD to the other's RxD, RTS to CTS, DTR to DSR and
// DCD. Bytes cross on the cable's own thread, as the kernel moves received
// bytes on a work queue rather than in the writer's call: two ports that
// echo each other (N_TTY with ECHO at both ends) then keep that thread busy,
// as they would keep a real line busy, instead of the writer.
#include <memory>
#include <thread>

#include "ldisc/tty_port.h"

namespace cusenet {

class NullModem {
 public:
  // Bytes the cable holds in each direction before the sender must wait.
  static constexpr size_t kWireSize = 4096;

  NullModem(std::shared_ptr<TtyPort> a, std::shared_ptr<TtyPort> b);
  // Unplugs the cable: both ports lose their far end (and so their carrier).
  ~NullModem();
  NullModem(const NullModem&) = delete;
  NullModem& operator=(const NullModem&) = delete;

 private:
  struct Cable;
  class End;
  std::shared_ptr<Cable> cable_;
  std::thread thread_;
};

}  // namespace cusenet
