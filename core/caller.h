#pragma once
// Who issued a device request: the credentials and namespaces the kernel
// would check (core/capability.h), read from /proc when the request (or the
// open, or the connect) arrived. Ids are kernel ids (as the daemon's own
// user namespace sees them: /proc/PID/status maps them for its reader);
// capabilities are the caller's effective set in its own user namespace.
#include <sys/socket.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/fd.h"
#include "core/namespace.h"
#include "core/process.h"

namespace cusenet {

// A user namespace's uid_map or gid_map (user_namespaces(7)), as the
// daemon reads it: the second column is a kernel id.
struct IdMap {
  struct Extent {
    uint32_t first, lower, count;
  };
  std::vector<Extent> extents;

  static IdMap identity() { return {{{0, 0, 4294967295u}}}; }
  // make_kuid(): the kernel id for an id of the namespace, if it has one.
  std::optional<uint32_t> to_kernel(uint32_t id) const;
  // kuid_has_mapping(): whether a kernel id is visible in the namespace.
  bool maps_kernel(uint32_t kid) const;
};

struct Caller {
  pid_t pid = 0;  // in the daemon's pid namespace; 0 = the daemon itself
  uid_t uid = 0, euid = 0, fsuid = 0;
  gid_t gid = 0, egid = 0, fsgid = 0;
  std::vector<gid_t> groups;       // supplementary groups
  uint64_t cap_effective = ~0ull;  // CapEff bit mask, in user_ns
  // The caller's user namespace (nullptr: the daemon's own) and its maps.
  std::shared_ptr<const Namespace> user_ns;
  IdMap uid_map = IdMap::identity(), gid_map = IdMap::identity();
  // The network namespace the caller was in (nullptr: the daemon's own).
  std::shared_ptr<const Namespace> net_ns;

  // Whether a message's SCM_CREDENTIALS (the sender's pid and real ids)
  // are this caller's as identified: another process, or this one after it
  // changed its ids (a root service that dropped to nobody), is not.
  bool sent(const ucred& sender) const {
    return sender.pid == pid && sender.uid == uid && sender.gid == gid;
  }
  // in_egroup_p(): the effective gid or a supplementary group.
  bool in_group(gid_t g) const;
  // in_group_p(): the filesystem gid or a supplementary group.
  bool in_fs_group(gid_t g) const;

  // The caller's network namespace, a descriptor of its own; an empty fd
  // with errno set when there is none.
  UniqueFd open_netns() const;
  // The same credentials, with a network namespace captured elsewhere (a
  // tun file's, taken at open as the kernel takes sock_net at open).
  Caller in_netns(std::shared_ptr<const Namespace> ns) const;

  // Reads credentials and namespaces through the process's /proc handle;
  // false when the process is gone.
  static bool of(const ProcessHandle& process, Caller* out);
  // The peer of a connected unix socket, as it connected: false when it is
  // gone, or when its effective ids are no longer those SO_PEERCRED took
  // at connect (a setuid program exec'd since must not lend the client
  // its privileges).
  static bool of_peer(int socket, Caller* out);
  // The same by pid, for a caller that cannot exit meanwhile (a FUSE
  // request in userspace holds its thread until it is answered).
  static bool of_process(pid_t pid, Caller* out);
  // The daemon's own credentials (in-process users, unit tests).
  static Caller self();
};

}  // namespace cusenet
