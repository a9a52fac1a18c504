#include "cuse/injected_file.h"

#include <errno.h>
#include <linux/sockios.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "core/log.h"

namespace cusenet {
namespace {

// Frames moved per wakeup and direction before the thread serves the other
// files (level-triggered epoll, or the frontend's again list, resumes).
constexpr int kBatch = 64;

}  // namespace

InjectedFile::InjectedFile(std::shared_ptr<OpenFile> file, UniqueFd sock)
    : file_(std::move(file)), sock_(std::move(sock)) {}

uint32_t InjectedFile::interest() const {
  return (half_closed_ ? 0u : EPOLLIN | EPOLLRDHUP) | (holding_ ? EPOLLOUT : 0u);
}

short InjectedFile::socket_events() const {
  pollfd p{sock_.get(), POLLRDHUP, 0};
  return ::poll(&p, 1, 0) == 1 ? p.revents : 0;
}

bool InjectedFile::receive(std::span<std::byte> buf, std::atomic<uint64_t>* refused) {
  for (int i = 0; i < kBatch; ++i) {
    // MSG_TRUNC: the real length, so an oversized frame is refused whole
    // instead of passed on cut.
    const ssize_t n = ::recv(sock_.get(), buf.data(), buf.size(), MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return true;
      // The client closed with frames of ours unread: reported once, before
      // the frames it wrote, which are still delivered.
      if (errno == ECONNRESET) continue;
      CN_LOG(seccomp, warning) << "recv on injected socket: " << strerror(errno);
      return false;
    }
    if (n == 0) {
      // End of file or an empty frame. A seqpacket peer that is gone shuts
      // both ways (HUP); one that only shut its sending side still reads.
      const short ev = socket_events();
      if (ev & POLLHUP) {
        int queued = 0;
        if (::ioctl(sock_.get(), SIOCINQ, &queued) == 0 && queued > 0) continue;
        return false;
      }
      if (ev & POLLRDHUP) {
        half_closed_ = true;  // stop watching for input until the HUP
        return true;
      }
    }
    if (static_cast<size_t>(n) > buf.size()) {
      refused->fetch_add(1, std::memory_order_relaxed);
      CN_LOG(seccomp, debug) << "client frame of " << n << " bytes exceeds " << buf.size()
                             << ": dropped";
      continue;
    }
    const ssize_t r = file_->write(buf.first(static_cast<size_t>(n)));
    if (r < 0) {
      refused->fetch_add(1, std::memory_order_relaxed);
      CN_LOG(seccomp, debug) << "device refused a client frame of " << n
                             << " bytes: " << strerror(static_cast<int>(-r));
    }
  }
  return true;
}

bool InjectedFile::send_or_hold(std::span<const std::byte> frame) {
  const ssize_t s = ::send(sock_.get(), frame.data(), frame.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  if (s >= 0) return true;
  if (errno == EAGAIN) {
    held_.assign(frame.begin(), frame.end());
    holding_ = true;
  } else {
    // EPIPE: the client is gone and EPOLLHUP follows; nothing to deliver to.
    CN_LOG(seccomp, debug) << "send on injected socket: " << strerror(errno);
  }
  return false;
}

bool InjectedFile::drain(std::span<std::byte> buf) {
  if (holding_ || hung_up_ || released_) return false;
  for (int i = 0; i < kBatch; ++i) {
    const ssize_t n = file_->read(buf);
    if (n == -EAGAIN) return false;
    if (n == 0) {
      // The kernel's read() returns 0 on a hung-up channel: the client's
      // read of the socket returns 0 once it has read the frames before.
      hung_up_ = true;
      ::shutdown(sock_.get(), SHUT_WR);
      CN_LOG(seccomp, debug) << "device hung up: end of file for the client";
      return false;
    }
    if (n < 0) {
      CN_LOG(seccomp, debug) << "device read: " << strerror(static_cast<int>(-n));
      return false;
    }
    if (!send_or_hold(buf.first(static_cast<size_t>(n)))) return false;
  }
  return true;
}

bool InjectedFile::writable(std::span<std::byte> buf) {
  if (holding_) {
    if (::send(sock_.get(), held_.data(), held_.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
      if (errno == EAGAIN) return false;
      CN_LOG(seccomp, debug) << "send on injected socket: " << strerror(errno);
    }
    holding_ = false;
  }
  return drain(buf);
}

void InjectedFile::release() {
  if (released_) return;
  released_ = true;
  file_->release();
}

}  // namespace cusenet
