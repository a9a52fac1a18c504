#include "netdev/tun_file.h"

#include <poll.h>

#include <cerrno>
#include <mutex>

namespace cusenet {

TunFile::TunFile(std::shared_ptr<TunRegistry> registry, std::shared_ptr<const Namespace> net_ns,
                 uint64_t netns, Notify notify)
    : registry_(std::move(registry)), net_ns_(std::move(net_ns)), netns_(netns),
      queue_(std::move(notify)) {
  registry_->files.fetch_add(1, std::memory_order_relaxed);
}

TunFile::~TunFile() {
  {
    std::lock_guard lock(registry_->mu);
    release_locked();
  }
  registry_->files.fetch_sub(1, std::memory_order_relaxed);
}

ssize_t TunFile::read_after_wait(std::span<std::byte> buf) {
  const ssize_t r = read(buf);
  if (r != -EBADFD) return r;
  return queue_.disabled.load(std::memory_order_acquire) ? -EAGAIN : -EFAULT;
}

ssize_t TunFile::read(std::span<std::byte> buf) {
  TunInterface* tun = queue_.iface.load(std::memory_order_acquire);
  if (!tun) return -EBADFD;
  if (buf.empty()) return 0;  // tun_do_read returns before touching the ring
  FramePtr frame = queue_.ring.pop();
  // The kernel's queue holds a frame from the moment the stack sends it;
  // ours once the Link's I/O thread has moved it over, unless we pull it.
  // Popped again even when nothing was pulled: the I/O thread may have
  // delivered while the pull waited for it. The pulled frame did not
  // notify; frames left behind it (another thread's delivery) do now.
  if (!frame) {
    const bool pulled = tun->pull(&queue_);
    frame = queue_.ring.pop();
    if (pulled && !queue_.ring.empty()) queue_.notify();
  }
  if (!frame) return -EAGAIN;
  return tun->read(*frame, buf);
}

ssize_t TunFile::write(std::span<const std::byte> frame) {
  TunInterface* tun = queue_.iface.load(std::memory_order_acquire);
  if (!tun) return -EBADFD;
  return tun->write(frame, queue_);
}

PollMask TunFile::poll() {
  TunInterface* tun = queue_.iface.load(std::memory_order_acquire);
  if (!tun) return POLLERR;
  // POLLOUT only while the interface is up (tun_sock_writeable). The
  // stack's reports may lag behind `ip link set up`: while they say down,
  // the stack is asked.
  PollMask mask = 0;
  if (tun->up() || tun->up_now()) mask |= POLLOUT | POLLWRNORM;
  // Notifying as usual: a read parked meanwhile must learn of the frame.
  if (queue_.ring.empty()) tun->pull(nullptr);
  if (!queue_.ring.empty()) mask |= POLLIN | POLLRDNORM;
  return mask;
}

void TunFile::release() {
  std::lock_guard lock(registry_->mu);
  release_locked();
}

void TunFile::release_locked() {
  if (released_) return;
  released_ = true;
  TunInterface* tun = queue_.iface.load(std::memory_order_relaxed);
  if (!tun || !tun->detach(&queue_)) return;
  // The last file is gone (__tun_detach): carrier off, which only a
  // persistent interface lives on to show, and unregister unless persistent.
  if (tun->flags() & IFF_PERSIST) {
    tun->set_carrier(false);
    return;
  }
  registry_->erase(tun);
  tun->destroy();
}

}  // namespace cusenet
