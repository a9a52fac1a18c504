#pragma once
// Devices as regular files of a FUSE mount, for kernels without CUSE and for
// containers: each Device appears at its name() below the mount point
// ("net/tun", "ppp"), with its mode. The kernel hands FUSE files only
// "restricted" ioctls (it copies _IOC_SIZE bytes, which TUNSETIFF's number
// understates), so ioctl arguments are read and written in the caller's
// memory with process_vm_readv/writev instead.
//
// The daemon must never open these files on a session thread (the
// request it would wait for could never be served).
#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/fd.h"
#include "core/file.h"
#include "cuse/fuse_requests.h"

struct fuse_session;

namespace cusenet {

class SessionLoop;

class FuseFrontend {
 public:
  // The devices must outlive the frontend.
  FuseFrontend(std::vector<Device*> devices, std::string mountpoint);
  ~FuseFrontend();
  FuseFrontend(const FuseFrontend&) = delete;
  FuseFrontend& operator=(const FuseFrontend&) = delete;

  // Creates the mount point, mounts (allow_other, default_permissions,
  // fsname=cusenet) and serves on a thread of its own. 0 or -errno
  // (-EINVAL/-EEXIST for device names that do not make a tree). Once only.
  int start();
  // Unmounts (lazily: files still open fail from now on), fails parked
  // reads and releases every open file. Idempotent.
  void stop();

  const std::string& mountpoint() const { return mountpoint_; }

  // Files handed to supervised programs (cuse/seccomp_frontend.h), opened
  // O_RDWR ahead of need by a thread of the frontend's own, so that whoever
  // takes one never waits for the mount (which a user can stall through a
  // request of its own): each a node of its own below ".carriers", which
  // lists nothing and resolves a name only for that thread, once. A taken
  // carrier is blank until bound to a device file; dropped unbound, it
  // releases nothing. Thread-safe.
  static constexpr size_t kCarriersAhead = 16;
  struct Carrier {
    UniqueFd fd;
    uint64_t fh = 0;
    uint64_t ino = 0;  // its inode number, as /proc/PID/fdinfo shows it
    Notify notify;     // the one to give its device file
  };
  // Waits at most `wait` for one; nullopt when none came (the mount is
  // slow, stalled or gone).
  std::optional<Carrier> take_carrier(std::chrono::milliseconds wait);
  bool bind_carrier(const Carrier& c, std::shared_ptr<OpenFile> file, const Device& device);
  // The mount's id (/proc/PID/fdinfo's mnt_id), 0 before start().
  uint64_t mount_id() const { return mount_id_; }
  // See RequestCore::ioctl_after_releases: for a file this mount carries.
  long ioctl_after_releases(OpenFile& file, const Caller& caller, unsigned cmd, uint64_t arg,
                            UserMemory& mem);

  // Leak checks (carriers opened ahead are not open files).
  size_t open_files() const;
  size_t carriers_ready();
  size_t parked_requests() const;
  size_t poll_handles() const;

 private:
  friend struct FuseOps;
  struct Node {
    std::string name;
    uint64_t parent;
    Device* device;  // null for a directory
    std::map<std::string, uint64_t> children;
  };

  int build_tree();
  const Node* node(uint64_t ino) const;
  void fill_attr(uint64_t ino, struct stat* st) const;
  // A carrier's inode number is kCarrierBase + its fh.
  static constexpr uint64_t kCarrierBase = uint64_t{1} << 32;
  void fill_carrier_attr(uint64_t ino, struct stat* st) const;

  std::vector<Device*> devices_;
  std::string mountpoint_;
  std::vector<Node> nodes_;  // inode ino at nodes_[ino - 1]; 1 is the root
  void fill_carriers();

  uint64_t carriers_ino_ = 0;
  UniqueFd carriers_dir_;  // O_PATH, opened once mounted
  uint64_t mount_id_ = 0;
  std::mutex carriers_mu_;  // guards ready_ and filling_
  std::condition_variable carriers_cv_;  // the filler waits for room
  std::condition_variable ready_cv_;     // takers wait for a carrier
  std::deque<Carrier> ready_;
  bool filling_ = false;  // the filler runs
  std::thread filler_;
  std::unique_ptr<RequestCore> core_;
  std::unique_ptr<SessionLoop> loop_;
  fuse_session* session_ = nullptr;
  bool started_ = false;
  time_t mounted_at_ = 0;
};

}  // namespace cusenet
