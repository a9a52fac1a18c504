#include "core/fd_passing.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "core/fd_reaper.h"

namespace cusenet {

int send_with_fds(int sock, std::span<const char> data, std::span<const int> fds) {
  if (fds.size() > kMaxPassedFds) return -EINVAL;
  iovec iov{const_cast<char*>(data.data()), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds)] = {};
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  return ::sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

ssize_t receive_with_fds(int sock, std::span<char> buf, std::vector<UniqueFd>* fds, int flags,
                         ucred* sender) {
  iovec iov{buf.data(), buf.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  // Room for a few control messages, so that one a peer adds (credentials,
  // a second SCM_RIGHTS) does not push descriptors out unseen.
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds) * 2 + CMSG_SPACE(sizeof(ucred))];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = ::recvmsg(sock, &msg, flags | MSG_CMSG_CLOEXEC);
  if (n < 0) return -errno;
  std::vector<UniqueFd> received;
  if (sender) *sender = ucred{0, static_cast<uid_t>(-1), static_cast<gid_t>(-1)};
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS && sender &&
        c->cmsg_len >= CMSG_LEN(sizeof(ucred)))
      std::memcpy(sender, CMSG_DATA(c), sizeof *sender);
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      received.emplace_back(fd);
    }
  }
  const bool cut = msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC);
  if (cut || !fds) {
    close_later(std::move(received));
    return cut ? -EMSGSIZE : n;
  }
  for (auto& fd : received) fds->push_back(std::move(fd));
  return n;
}

}  // namespace cusenet
