#pragma once
// Closing a descriptor a client handed over (SCM_RIGHTS) may block: a
// socket with SO_LINGER and unsent data waits out its linger time, a FUSE
// file waits for its server's FLUSH. Such descriptors are closed here, off
// the thread that serves the clients, sockets first made to close at once
// (SO_LINGER 0), so that no client can stall the daemon by what it sends.
#include <vector>

#include "core/fd.h"

namespace cusenet {

void close_later(UniqueFd fd);
void close_later(std::vector<UniqueFd> fds);

}  // namespace cusenet
