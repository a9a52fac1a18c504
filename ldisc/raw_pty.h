#pragma once
// A new kernel pty pair whose slave is raw from the start: the daemon's
// ways of reaching a port through a pty (ldisc/pty_face.h, FdLink::pty)
// copy bytes between a port and the master, and an echoing slave would send
// them straight back.
#include <string>

#include "core/fd.h"

namespace cusenet {

struct RawPty {
  UniqueFd master, slave;
  std::string slave_path;
};

// master_flags: added to O_RDWR | O_NOCTTY | O_CLOEXEC (e.g. O_NONBLOCK).
// 0 or -errno.
int open_raw_pty(int master_flags, RawPty* out);

}  // namespace cusenet
