#pragma once
// One message with descriptors attached (SCM_RIGHTS) on a unix socket, both
// ways. Receiving owns every descriptor the kernel installed, whatever else
// is wrong with the message (empty, cut, several control messages): the
// caller gets them all as UniqueFd, so one it does not use is closed, and a
// peer cannot make the receiver keep descriptors by sending odd messages.
#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>
#include <span>
#include <vector>

#include "core/fd.h"

namespace cusenet {

// More than this in one message is cut (MSG_CTRUNC) and refused.
constexpr size_t kMaxPassedFds = 8;

// Sends data and fds as one message: 0 or -errno (-EINVAL past kMaxPassedFds).
int send_with_fds(int sock, std::span<const char> data, std::span<const int> fds);

// Receives one message into buf; its descriptors are appended to *fds (or
// closed, off this thread (core/fd_reaper.h), when fds is null). The
// message's length, 0 for an empty message or the end of the stream, or
// -errno: -EMSGSIZE when the data or the descriptors did not fit, and then
// no descriptor is kept. *sender: the sending process and its real uid
// and gid, where the socket has SO_PASSCRED (pid 0 when the message
// carried no credentials).
ssize_t receive_with_fds(int sock, std::span<char> buf, std::vector<UniqueFd>* fds, int flags = 0,
                         ucred* sender = nullptr);

}  // namespace cusenet
