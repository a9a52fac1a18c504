#pragma once
// The daemon's emulated serial ports (`cusenetctl tty add ...`, listed by
// `cusenetctl tty`): ttyVP<n>, each reached through a kernel pty whose
// slave path is printed (ldisc/pty_face.h), with a far end that is another
// port (a null-modem pair) or a TCP connection.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ldisc/fd_link.h"
#include "ldisc/ldisc_table.h"
#include "ldisc/null_modem.h"
#include "ldisc/pty_face.h"
#include "ldisc/tty_port.h"
#include "tools/control.h"

namespace cusenet {

class TtyPorts {
 public:
  explicit TtyPorts(std::shared_ptr<LdiscTable> ldiscs) : ldiscs_(std::move(ldiscs)) {}
  // The ptys close first, then the cables, then the ports.
  ~TtyPorts();
  TtyPorts(const TtyPorts&) = delete;
  TtyPorts& operator=(const TtyPorts&) = delete;

  // args after "add": "null-modem", or "tcp HOST:PORT". One line per new
  // port: its name and its pty slave.
  control::Response add(const std::vector<std::string>& args);
  // Name, pty slave, far end, line discipline, modem lines of each port,
  // and how many kernel ttys have a discipline run by the daemon; -j: JSON.
  std::string view(bool json, size_t kernel_ttys) const;
  size_t size() const;

 private:
  struct Port {
    std::shared_ptr<TtyPort> port;
    std::unique_ptr<PtyFace> face;
    std::string far;
  };
  // A new port with its pty, or nullptr with the reason in *why.
  std::unique_ptr<Port> make_port(size_t number, std::string* why);

  const std::shared_ptr<LdiscTable> ldiscs_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Port>> ports_;
  std::vector<std::unique_ptr<NullModem>> cables_;
  std::vector<std::unique_ptr<FdLink>> links_;
};

}  // namespace cusenet
