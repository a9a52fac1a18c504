#pragma once
// The supervised-launch frontend (DESIGN.md, "Frontends" 3): serves the
// seccomp user-notification listeners of processes started by
// `cusenetctl run`. An open of one of our device nodes is answered by
// injecting one end of a SOCK_SEQPACKET socket pair into the caller
// (SECCOMP_IOCTL_NOTIF_ADDFD), so frames travel through the kernel's socket
// with no round trip through the daemon per frame; ioctls with a command of
// ioctl_table() on such a socket are answered by the device's file; every
// other request continues to the kernel. With KernelTtys, the ioctls of
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
  int adopt(UniqueFd listener);

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
