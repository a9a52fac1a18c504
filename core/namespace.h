#pragma once
// A Linux namespace held open through its nsfs file, so that it can be
// compared (by device and inode, as /proc/PID/ns/* name it) and asked about
// its owner and parent long after the process it came from is gone.
#include <sys/types.h>

#include <cstdint>
#include <memory>

#include "core/fd.h"

namespace cusenet {

class Namespace {
 public:
  // /proc/PID/ns/<kind>, opened relative to a /proc/PID directory.
  static std::shared_ptr<const Namespace> open_at(int proc_dir, const char* kind, int* err);
  // The daemon's own: /proc/self/ns/<kind>.
  static std::shared_ptr<const Namespace> of_self(const char* kind, int* err);
  // Takes an open nsfs descriptor.
  static std::shared_ptr<const Namespace> adopt(UniqueFd fd, int* err);

  int fd() const { return fd_.get(); }
  uint64_t inode() const { return ino_; }
  bool operator==(const Namespace& o) const { return dev_ == o.dev_ && ino_ == o.ino_; }

  // NS_GET_USERNS: the user namespace that owns this (network) namespace.
  std::shared_ptr<const Namespace> owner(int* err) const;
  // NS_GET_PARENT of a user namespace; nullptr for the daemon's own (or an
  // ancestor of it, which the kernel does not show).
  std::shared_ptr<const Namespace> parent() const;
  // NS_GET_OWNER_UID of a user namespace: the creator's euid, as a kernel uid.
  bool owner_uid(uid_t* uid) const;

 private:
  Namespace(UniqueFd fd, dev_t dev, uint64_t ino) : fd_(std::move(fd)), dev_(dev), ino_(ino) {}
  UniqueFd fd_;
  dev_t dev_;
  uint64_t ino_;
};

}  // namespace cusenet
