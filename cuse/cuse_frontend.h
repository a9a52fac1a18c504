#pragma once
// Devices as real character devices through CUSE (/dev/cuse): one CUSE
// device per Device, named by its name() (/dev/net/tun, /dev/ppp), with
// unrestricted ioctls whose arguments travel by the FUSE ioctl retry
// protocol, planned from cuse/ioctl_table.h.
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
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
  // Registers one more device while the others are served (a tty port
  // added at run time) and waits, a few seconds at most, until its node is
  // ready. The device must outlive the frontend; stop() removes it with the
  // others. 0 or -errno (-EEXIST: another driver has the name).
  int add(Device* device);
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
    int ready;  // under mu_: 0 until CUSE_INIT is answered, then 1 or -errno
  };

  // A session on an open of /dev/cuse for device, or nullptr with -errno.
  std::unique_ptr<Node> make_node(Device* device, int* err);
  void node_ready(Node& n, int state);
  void destroy_sessions();

  std::vector<Device*> devices_;
  mutable std::mutex mu_;
  std::condition_variable ready_cv_;
  std::vector<std::unique_ptr<Node>> nodes_;  // under mu_
  std::unique_ptr<RequestCore> core_;
  std::unique_ptr<SessionLoop> loop_;
  bool started_ = false;
};

}  // namespace cusenet
