#include "cuse/injected_file.h"

#include <errno.h>
#include <linux/sockios.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>

#include <algorithm>

#include "core/log.h"

namespace cusenet {

InjectedBatch::InjectedBatch(size_t frame_max)
    : frame_max_(frame_max), bytes_(std::make_unique_for_overwrite<std::byte[]>(frame_max * kFrames)) {}

void InjectedBatch::set(int i, std::span<std::byte> bytes) {
  iovs_[i] = {bytes.data(), bytes.size()};
  msgs_[i] = {};
  msgs_[i].msg_hdr.msg_iov = &iovs_[i];
  msgs_[i].msg_hdr.msg_iovlen = 1;
}

std::span<std::byte> InjectedBatch::bytes(int i) const {
  return {static_cast<std::byte*>(iovs_[i].iov_base), iovs_[i].iov_len};
}

InjectedFile::InjectedFile(std::shared_ptr<OpenFile> file, UniqueFd sock)
    : file_(std::move(file)), sock_(std::move(sock)) {}

uint32_t InjectedFile::interest() const {
  return (half_closed_ ? 0u : EPOLLIN | EPOLLRDHUP) | (held_.empty() ? 0u : EPOLLOUT);
}

short InjectedFile::socket_events() const {
  pollfd p{sock_.get(), POLLRDHUP, 0};
  return ::poll(&p, 1, 0) == 1 ? p.revents : 0;
}

int InjectedFile::queued() const {
  int n = 0;
  return ::ioctl(sock_.get(), SIOCINQ, &n) == 0 ? n : 0;
}

bool InjectedFile::receive(InjectedBatch& b, std::atomic<uint64_t>* refused) {
  constexpr int kFrames = InjectedBatch::kFrames;
  for (int i = 0; i < kFrames; ++i) b.set(i, b.slot(i));
  mmsghdr* msgs = b.messages();
  // MSG_TRUNC: the real length, so an oversized frame is refused whole
  // instead of passed on cut.
  auto recv = [&] { return ::recvmmsg(sock_.get(), msgs, kFrames, MSG_DONTWAIT | MSG_TRUNC, nullptr); };
  int got = recv();
  // The client closed with frames of ours unread: reported once, before the
  // frames it wrote, which are still delivered.
  if (got < 0 && errno == ECONNRESET) got = recv();
  if (got < 0) {
    if (errno == EAGAIN || errno == EINTR) return true;
    CN_LOG(seccomp, warning) << "recvmmsg on injected socket: " << strerror(errno);
    return false;
  }
  short events = -1;  // the socket's, asked at the first empty message
  for (int i = 0; i < got; ++i) {
    const size_t n = msgs[i].msg_len;
    if (n == 0) {
      // End of file or an empty frame. A seqpacket peer that is gone shuts
      // both ways (HUP); one that only shut its sending side still reads.
      // At the end, every message left in the batch is empty.
      if (events < 0) events = socket_events();
      if (events & POLLHUP) {
        if (std::any_of(msgs + i + 1, msgs + got, [](const mmsghdr& m) { return m.msg_len > 0; }) || queued() > 0)
          continue;
        return false;
      }
      if (events & POLLRDHUP) {
        half_closed_ = true;  // stop watching for input until the HUP
        continue;
      }
    }
    if (n > b.frame_max()) {
      refused->fetch_add(1, std::memory_order_relaxed);
      CN_LOG(seccomp, debug) << "client frame of " << n << " bytes exceeds " << b.frame_max() << ": dropped";
      continue;
    }
    const ssize_t r = file_->write(b.slot(i).first(n));
    if (r < 0) {
      refused->fetch_add(1, std::memory_order_relaxed);
      CN_LOG(seccomp, debug) << "device refused a client frame of " << n
                             << " bytes: " << strerror(static_cast<int>(-r));
    }
  }
  return true;
}

int InjectedFile::send(InjectedBatch& b, int n) {
  int sent = 0;
  while (sent < n) {
    const int s = ::sendmmsg(sock_.get(), b.messages() + sent, static_cast<unsigned>(n - sent),
                             MSG_DONTWAIT | MSG_NOSIGNAL);
    if (s > 0) {
      sent += s;
    } else if (errno == EAGAIN) {
      break;
    } else {
      // EPIPE: the client is gone and EPOLLHUP follows; nothing to deliver to.
      CN_LOG(seccomp, debug) << "sendmmsg on injected socket: " << strerror(errno);
      return -1;
    }
  }
  return sent;
}

bool InjectedFile::drain(InjectedBatch& b) {
  if (!held_.empty() || hung_up_ || released_) return false;
  int n = 0;
  for (; n < InjectedBatch::kFrames; ++n) {
    const ssize_t r = file_->read(b.slot(n));
    if (r > 0) {
      b.set(n, b.slot(n).first(static_cast<size_t>(r)));
      continue;
    }
    if (r == 0) {
      // The kernel's read() returns 0 on a hung-up channel: the client's
      // read of the socket returns 0 once it has read the frames before.
      hung_up_ = true;
      CN_LOG(seccomp, debug) << "device hung up: end of file for the client";
    } else if (r != -EAGAIN) {
      // The error itself (EBADFD: a tun detached) cannot cross a socket;
      // a reader waiting forever instead would be worse than end of file.
      hung_up_ = true;
      CN_LOG(seccomp, debug) << "device read: " << strerror(static_cast<int>(-r))
                             << ": end of file for the client";
    }
    break;
  }
  const int sent = send(b, n);
  if (sent < 0) return false;
  for (int i = sent; i < n; ++i) held_.emplace_back(b.bytes(i).begin(), b.bytes(i).end());
  if (!held_.empty()) return false;
  if (hung_up_) {
    ::shutdown(sock_.get(), SHUT_WR);
    return false;
  }
  return n == InjectedBatch::kFrames;
}

bool InjectedFile::writable(InjectedBatch& b) {
  if (!held_.empty()) {
    const int n = static_cast<int>(held_.size());
    for (int i = 0; i < n; ++i) b.set(i, held_[static_cast<size_t>(i)]);
    const int sent = send(b, n);
    if (sent >= 0 && sent < n) {
      held_.erase(held_.begin(), held_.begin() + sent);
      return false;
    }
    held_.clear();
    // The end of file the device reported behind them.
    if (hung_up_) ::shutdown(sock_.get(), SHUT_WR);
  }
  return drain(b);
}

void InjectedFile::release() {
  if (released_) return;
  released_ = true;
  file_->release();
}

}  // namespace cusenet
