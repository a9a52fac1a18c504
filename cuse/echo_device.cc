#include "cuse/echo_device.h"

#include <errno.h>

#include <algorithm>
#include <cstring>

#include "core/frame.h"

namespace cusenet {
namespace {

class EchoFile final : public OpenFile {
 public:
  EchoFile(size_t queue_len, Notify notify, std::shared_ptr<std::atomic<uint64_t>> dropped)
      : queue_(queue_len), notify_(std::move(notify)), dropped_(std::move(dropped)) {}

  ssize_t read(std::span<std::byte> buf) override {
    FramePtr f = queue_.pop();
    if (!f) return -EAGAIN;
    const size_t n = std::min(buf.size(), f->size());
    std::memcpy(buf.data(), f->data(), n);
    return static_cast<ssize_t>(n);
  }

  ssize_t write(std::span<const std::byte> frame) override {
    if (frame.size() > Frame::kMax) return -EINVAL;
    // A zero-length frame would read back as end of file.
    if (frame.empty()) return 0;
    if (queue_.push(make_frame(frame))) {
      dropped_->fetch_add(1, std::memory_order_relaxed);
    } else {
      notify_();
    }
    return static_cast<ssize_t>(frame.size());
  }

  // The transports' ceiling: a supervised program's file is a socket at once.
  bool carries_data() const override { return true; }
  PollMask poll() override {
    PollMask mask = POLLOUT | POLLWRNORM;
    if (!queue_.empty()) mask |= POLLIN | POLLRDNORM;
    return mask;
  }

  long ioctl(const Caller&, unsigned, uint64_t, UserMemory&) override { return -ENOTTY; }

  void release() override { queue_.clear(); }

 private:
  FrameQueue queue_;
  Notify notify_;
  std::shared_ptr<std::atomic<uint64_t>> dropped_;  // the device's, which may go first
};

}  // namespace

std::shared_ptr<OpenFile> EchoDevice::open(const Caller&, int, Notify notify, int* err) {
  *err = 0;
  return std::make_shared<EchoFile>(queue_len_, std::move(notify), dropped_);
}

}  // namespace cusenet
