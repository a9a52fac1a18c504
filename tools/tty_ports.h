#pragma once
// The daemon's emulated serial ports (`cusenetctl tty add ...`, listed by
// `cusenetctl tty`): ttyVP<n>, each with a far end that is another port (a
// null-modem pair), a kernel pty whose slave any program may open, or a TCP
// connection. A port is a character device of its
// own, /dev/ttyVP<n>, where the daemon has an exporter for devices (the CUSE
// frontend); otherwise it is reached through a kernel pty whose slave path
// is printed (ldisc/pty_face.h).
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ldisc/fd_link.h"
#include "ldisc/ldisc_table.h"
#include "ldisc/null_modem.h"
#include "ldisc/pty_face.h"
#include "ldisc/tty_device.h"
#include "ldisc/tty_port.h"
#include "tools/control.h"

namespace cusenet {

class TtyPorts {
 public:
  explicit TtyPorts(std::shared_ptr<LdiscTable> ldiscs) : ldiscs_(std::move(ldiscs)) {}
  // The ptys close first, then the cables and links, then the ports. An
  // exporter must have removed the devices already.
  ~TtyPorts();

  // Registers a new port's device as /dev/<name> (0 or -errno); the
  // device lives as long as this object.
  using Exporter = std::function<int(Device&)>;
  // From now on, new ports are exported devices instead of pty slaves.
  void export_devices(Exporter exporter);
  TtyPorts(const TtyPorts&) = delete;
  TtyPorts& operator=(const TtyPorts&) = delete;

  // args after "add": "null-modem", "pty" or "tcp HOST:PORT", and optionally
  // "--baud-emulation" (the ports keep their termios baud rate; a port
  // reached through a pty takes its slave's). One line
  // per new port: its name and the path a program opens (its device or pty
  // slave), then for a pty far end "far" and that pty's slave.
  // New ports take the lowest numbers no port has.
  control::Response add(const std::vector<std::string>& args);
  // args after "del": NAME [--force]. The port goes with its far end (both
  // ports of a null-modem pair) and gives back its threads, descriptors and
  // ptys. A port in use (a program holds its pty slave or device, or a line
  // discipline set through the slave runs on it) is refused with EBUSY, as
  // rmmod refuses a driver whose ports are open; with --force it is hung up
  // as a serial driver unregistering its device hangs up its ttys (USB
  // serial unplugged): the discipline is closed (a PPP channel goes, pppd
  // sees a hangup), its files and the slave read 0 and fail with EIO.
  // Exported (CUSE) devices are refused: a CUSE device goes only with its
  // /dev/cuse session, which the frontend cannot end alone.
  control::Response del(const std::vector<std::string>& args);
  // Name, path, far end, line discipline, modem lines, line rate (and
  // whether it is paced, with the line time used) of each port,
  // and how many kernel ttys have a discipline run by the daemon; -j: JSON.
  std::string view(bool json, size_t kernel_ttys) const;
  size_t size() const;
  // The bypass of the face whose pty slave is the tty st, for KernelTtys to
  // run a discipline set there on the port itself; nullptr if no face has it.
  std::unique_ptr<PtyFace::Bypass> bypass(const struct stat& st);

 private:
  struct Port {
    size_t number = 0;  // ttyVP<number>
    std::shared_ptr<TtyPort> port;
    std::unique_ptr<TtyDevice> device;  // exported, or
    std::unique_ptr<PtyFace> face;      // reached through a pty
    std::shared_ptr<NullModem> cable;   // the pair's, or
    std::unique_ptr<FdLink> link;       // a pty or socket far end
    std::string path;                   // what a program opens
    std::string far;
  };
  // A new port with its device or pty, or nullptr with the reason in *why.
  std::unique_ptr<Port> make_port(size_t number, TtyPort::LineSpeed speed, std::string* why);
  // The lowest number neither a port nor `taken` has.
  size_t free_number(const std::vector<std::unique_ptr<Port>>& taken) const;
  // Faces first (their threads use the ports), then far ends, then ports.
  static void retire(std::vector<std::unique_ptr<Port>> ports);

  const std::shared_ptr<LdiscTable> ldiscs_;
  mutable std::mutex mu_;
  Exporter exporter_;
  std::vector<std::unique_ptr<Port>> ports_;
};

}  // namespace cusenet
