#pragma once
// The supervised launch's half in the launched process: a seccomp filter that
// hands open/openat/openat2, and ioctl with a command of ioctl_table() or
// interface_ioctl_table(), to a user-space supervisor (the daemon's
// SeccompFrontend) and lets everything else through untouched.
#include <linux/filter.h>

#include <vector>

#include "core/fd.h"

namespace cusenet {

// The classic BPF program, built from ioctl_table() so that a new table entry
// is intercepted without touching the filter.
std::vector<sock_filter> notify_filter_program();

// Installs the filter in the calling process (between fork and exec): sets
// PR_SET_NO_NEW_PRIVS, then loads the program with
// SECCOMP_FILTER_FLAG_NEW_LISTENER. Returns the listener (*err = 0), or an
// empty fd with -errno in *err. The filter stays with the process and its
// children for good.
UniqueFd install_notify_filter(int* err);

}  // namespace cusenet
