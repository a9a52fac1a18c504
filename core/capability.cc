#include "core/capability.h"

#include <fcntl.h>
#include <linux/capability.h>

#include <memory>

namespace cusenet {
namespace {

bool has(const Caller& c, int cap) {
  return cap >= 0 && cap < 64 && (c.cap_effective >> cap & 1);
}

}  // namespace

const Namespace& initial_user_ns() {
  static const std::shared_ptr<const Namespace> ns = [] {
    int err = 0;
    return Namespace::adopt(UniqueFd(::open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC)), &err);
  }();
  return *ns;
}

bool ns_capable(const Caller& c, const Namespace& user_ns, int cap) {
  const Namespace& own = c.user_ns ? *c.user_ns : initial_user_ns();
  std::shared_ptr<const Namespace> held;
  const Namespace* ns = &user_ns;
  for (;;) {
    if (*ns == own) return has(c, cap);
    std::shared_ptr<const Namespace> parent = ns->parent();
    // The top reached without meeting the caller's namespace: ns is not
    // below it, and no capability of the caller reaches there.
    if (!parent) return false;
    // The creator of a child namespace of its own has every capability in it.
    uid_t owner;
    if (*parent == own && ns->owner_uid(&owner) && owner == c.euid) return true;
    held = std::move(parent);
    ns = held.get();
  }
}

bool capable(const Caller& c, int cap) { return ns_capable(c, initial_user_ns(), cap); }

bool net_capable(const Caller& c, const Namespace& net_ns, int cap) {
  int err = 0;
  const std::shared_ptr<const Namespace> owner = net_ns.owner(&err);
  return owner && ns_capable(c, *owner, cap);
}

bool capable_wrt_inode_uidgid(const Caller& c, uid_t kuid, gid_t kgid, int cap) {
  return has(c, cap) && c.uid_map.maps_kernel(kuid) && c.gid_map.maps_kernel(kgid);
}

bool may_access(const Caller& c, uid_t kuid, gid_t kgid, unsigned mode, unsigned want) {
  const unsigned bits = c.fsuid == kuid ? mode >> 6 : c.in_fs_group(kgid) ? mode >> 3 : mode;
  if ((bits & want & 7) == (want & 7)) return true;
  if (capable_wrt_inode_uidgid(c, kuid, kgid, CAP_DAC_OVERRIDE)) return true;
  // Reading alone is also granted by CAP_DAC_READ_SEARCH.
  return want == 4 && capable_wrt_inode_uidgid(c, kuid, kgid, CAP_DAC_READ_SEARCH);
}

}  // namespace cusenet
