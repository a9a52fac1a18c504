#pragma once
// The supervised-launch frontend (DESIGN.md, "Frontends" 3): serves the
// seccomp user-notification listeners of processes started by
// `cusenetctl run`. An open of one of our device nodes is answered by
// injecting a file into the caller (SECCOMP_IOCTL_NOTIF_ADDFD), its
// carrier: a FUSE file of the carriers' mount (use_carriers), through which
// read, write and poll are the device's own, errors and all; and once the
// device says the file carries frames at rate (Device::carries_data_after:
// tun after TUNSETIFF), one end of a SOCK_SEQPACKET socket pair swapped in
// at the same descriptor number (SECCOMP_ADDFD_FLAG_SETFD), so that frames
// travel through the kernel's socket with no round trip through the daemon
// per frame. Without a carriers' mount, the socket from the open on.
// Ioctls with a command of ioctl_table() on either carrier are answered by
// the device's file; every other request continues to the kernel. With KernelTtys, the ioctls of
// ioctl_table() on a real tty go there (line disciplines run by the daemon).
// With InterfaceIoctls, those of interface_ioctl_table() on any other socket
// go there when their ifreq names one of its interfaces in the socket's
// network namespace.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/fd.h"
#include "core/file.h"
#include "core/interface_ioctls.h"
#include "cuse/kernel_ttys.h"

namespace cusenet {

class FuseFrontend;

class SeccompFrontend {
 public:
  // Device d is reached at "/dev/" + d->name(). The devices and ttys must
  // outlive the frontend. Starts the frontend's thread.
  explicit SeccompFrontend(std::vector<Device*> devices, KernelTtys* ttys = nullptr,
                           InterfaceIoctls* interfaces = nullptr);
  ~SeccompFrontend();
  SeccompFrontend(const SeccompFrontend&) = delete;
  SeccompFrontend& operator=(const SeccompFrontend&) = delete;

  // Serves the listener (from install_notify_filter() in the launched
  // process) until every process using the filter has exited, then closes
  // it. Thread-safe. After stop() the listener is closed at once, which makes
  // the filtered processes' intercepted calls fail with ENOSYS.
  // -EINVAL, and nothing kept, for a descriptor that is not a seccomp
  // listener: a client's descriptor of anything else (a FUSE file of its
  // own that never answers) must never reach the loop's ioctls.
  // exact: the process tree's files stay FUSE files for good (no socket
  // swapped in): every read, write and poll answers as the device does, at
  // the cost of a round trip through the daemon per frame.
  int adopt(UniqueFd listener, bool exact = false);

  // The mount whose FUSE files carry the files opened from now on; it must
  // outlive the frontend (or stop() first). Thread-safe.
  void use_carriers(FuseFrontend* carriers);

  // Stops the thread and releases every file and listener. Idempotent.
  void stop();

  // For leak checks: injected files not yet released, listeners not yet
  // closed, and client frames the device refused (a write error on an
  // injected socket cannot reach the client).
  size_t live_files() const;
  size_t live_listeners() const;
  uint64_t refused_writes() const;

 private:
  class Loop;
  std::unique_ptr<Loop> loop_;
};

}  // namespace cusenet
