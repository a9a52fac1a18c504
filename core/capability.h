#pragma once
// "May this caller do X in that namespace": the kernel's answers, named as
// kernel/capability.c names them, computed as cap_capable() of
// security/commoncap.c computes them, over the namespaces the caller and
// its target were captured in (core/caller.h).
#include <linux/capability.h>
#include <sys/types.h>

#include "core/caller.h"
#include "core/namespace.h"

namespace cusenet {

// The daemon's own user namespace: init_user_ns for a daemon on the host.
const Namespace& initial_user_ns();

// ns_capable(): cap in user namespace ns. The caller has it when ns is its
// own namespace and cap is in its effective set, or when ns descends from
// the caller's namespace through a child that the caller's euid created.
bool ns_capable(const Caller& c, const Namespace& user_ns, int cap);
// capable(): ns_capable() in the initial user namespace.
bool capable(const Caller& c, int cap);
// ns_capable(net->user_ns, cap): over a network namespace, through the user
// namespace that owns it (the check of tun_set_iff, rtnetlink, packet sockets).
bool net_capable(const Caller& c, const Namespace& net_ns, int cap);
// capable_wrt_inode_uidgid(): cap in the caller's own namespace, over an
// inode whose owner and group (kernel ids) that namespace maps.
bool capable_wrt_inode_uidgid(const Caller& c, uid_t kuid, gid_t kgid, int cap);

// generic_permission()'s check of the mode bits for an inode owned by
// kuid:kgid, with CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH as the kernel
// applies them. want: MAY_READ (4) | MAY_WRITE (2).
bool may_access(const Caller& c, uid_t kuid, gid_t kgid, unsigned mode, unsigned want);

}  // namespace cusenet
