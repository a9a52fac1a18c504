#pragma once
// Who issued a device request: the credentials the kernel would check
// (tun_not_capable, ppp_open) and the network namespace where the caller's
// interfaces live.
#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "core/fd.h"

namespace cusenet {

struct Caller {
  pid_t pid = 0;  // in the daemon's pid namespace; 0 = the daemon itself
  uid_t uid = 0, euid = 0;
  gid_t gid = 0, egid = 0;
  std::vector<gid_t> groups;          // supplementary groups
  uint64_t cap_effective = ~0ull;     // CapEff bit mask

  bool capable(int cap) const { return cap >= 0 && cap < 64 && (cap_effective >> cap & 1); }
  // in_egroup_p(): the effective gid or a supplementary group.
  bool in_group(gid_t g) const;

  // The caller's network namespace (/proc/PID/ns/net, or the daemon's own
  // for pid 0). An empty fd with errno set when the process is gone.
  UniqueFd open_netns() const;

  // Reads credentials from /proc/PID/status; false when the process is gone.
  static bool of_process(pid_t pid, Caller* out);
  // The daemon's own credentials (in-process users, unit tests).
  static Caller self();
};

}  // namespace cusenet
