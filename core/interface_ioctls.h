#pragma once
// ioctls a process issues on any socket with a struct ifreq naming a network
// interface (the kernel's dev_ioctl), answered by a device for the
// interfaces it emulates where the kernel interface backing them knows
// nothing of them: ppp_generic's ndo_siocdevprivate (SIOCGPPPSTATS,
// SIOCGPPPCSTATS, SIOCGPPPVER) on a pppN that is a kernel TUN device.
#include <cstdint>
#include <string>

#include "core/caller.h"
#include "core/user_memory.h"

namespace cusenet {

class InterfaceIoctls {
 public:
  virtual ~InterfaceIoctls() = default;
  // cmd on a socket of network namespace netns (its nsfs inode) for the
  // interface named ifname (cut at IFNAMSIZ - 1 and at ':' as dev_ioctl
  // does); data: the ifreq's ifr_data. *ours = false, and nothing done, when
  // no interface of this device has that name there: the kernel answers.
  // Else 0 or -errno, the answer written through mem.
  virtual long interface_ioctl(const Caller& caller, uint64_t netns, const std::string& ifname,
                               unsigned cmd, uint64_t data, UserMemory& mem, bool* ours) = 0;
};

}  // namespace cusenet
