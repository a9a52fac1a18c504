#pragma once
// Devices as real character devices through CUSE (/dev/cuse): one CUSE
// device per Device, named by its name() (/dev/net/tun, /dev/ppp), with
// unrestricted ioctls whose arguments travel by the FUSE ioctl retry
// protocol, planned from cuse/ioctl_table.h.
#include <cstddef>
#include <memory>
#include <vector>

#include "core/file.h"

struct fuse_session;

namespace cusenet {

class RequestCore;
class SessionLoop;

class CuseFrontend {
 public:
  // The devices must outlive the frontend.
  explicit CuseFrontend(std::vector<Device*> devices);
  ~CuseFrontend();
  CuseFrontend(const CuseFrontend&) = delete;
  CuseFrontend& operator=(const CuseFrontend&) = delete;

  // /dev/cuse opens read-write (the cuse module is loaded and we may use it).
  static bool available();

  // Registers every device and serves them on a thread of its own. The
  // nodes appear under /dev once the kernel's CUSE_INIT is answered, and
  // are then given their device's mode. 0 or -errno. Once only.
  int start();
  // Fails parked reads, releases every open file and removes the devices
  // (files still open fail from then on). Idempotent.
  void stop();

  // Leak checks.
  size_t open_files() const;
  size_t parked_requests() const;
  size_t poll_handles() const;

 private:
  friend struct CuseOps;
  struct Node {
    CuseFrontend* frontend;
    Device* device;
    fuse_session* session;
  };

  void destroy_sessions();

  std::vector<Device*> devices_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::unique_ptr<RequestCore> core_;
  std::unique_ptr<SessionLoop> loop_;
  bool started_ = false;
};

}  // namespace cusenet
