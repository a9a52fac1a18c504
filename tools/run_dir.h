#pragma once
// The daemon's run directory (--run-dir): its sockets, its lock and the FUSE
// mount point live there, and other local users must not be able to swap any
// of them. The directory is opened once, without following a symbolic link,
// and everything in it is made relative to that descriptor; it must belong
// to the daemon's euid and be writable by nobody else (created 0755 when
// missing), so that no name in it changes under the daemon.
//
// A lock (flock on cusenetd.lock, which holds the pid) is held for the
// daemon's life: a second daemon on the same directory is refused instead of
// taking the sockets over, and whatever a dead daemon left (sockets, its
// FUSE mount) is replaced once the lock is taken.
#include <sys/types.h>

#include <memory>
#include <string>

#include "core/fd.h"

namespace cusenet {

class RunDir {
 public:
  // nullptr with what is wrong, and what to do about it, in *why.
  static std::unique_ptr<RunDir> open(const std::string& path, std::string* why);

  const std::string& path() const { return path_; }

  // A listening unix socket DIR/name of type (SOCK_SEQPACKET, plus
  // SOCK_NONBLOCK...) whose file has exactly mode, replacing a stale one;
  // -errno in *err.
  UniqueFd listen(const std::string& name, int type, mode_t mode, int* err) const;
  void remove(const std::string& name) const;

  // DIR/name as a directory of the daemon's (the FUSE mount point), created
  // 0755 when missing; its path, or "" with the reason in *why.
  std::string subdir(const std::string& name, std::string* why) const;

 private:
  RunDir(std::string path, UniqueFd dir, UniqueFd lock);

  const std::string path_;
  const UniqueFd dir_;
  const UniqueFd lock_;
};

}  // namespace cusenet
