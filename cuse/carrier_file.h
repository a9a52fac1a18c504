#pragma once
// One device file reached by a supervised program through more than one
// kernel file in turn (cuse/seccomp_frontend.h): a FUSE file while errors,
// poll masks and ioctls must be the device's own, a socket once frames flow
// at rate. Each carrier holds a CarrierFile over the same device file; the
// device hears release() once, when the last carrier is released, on
// whichever frontend thread that happens.
#include <fcntl.h>

#include <atomic>
#include <cerrno>
#include <functional>
#include <memory>
#include <utility>

#include "core/file.h"

namespace cusenet {

class CarrierFile final : public OpenFile {
 public:
  struct Holders {
    explicit Holders(std::shared_ptr<OpenFile> f) : file(std::move(f)) {}
    std::shared_ptr<OpenFile> file;
    std::atomic<int> count{0};
  };

  // access: the open's O_ACCMODE, which a carrier opened otherwise (a FUSE
  // file opened O_RDWR ahead, a socket) answers as the kernel's VFS does.
  // on_release: told when this carrier is released (any thread), before the
  // device is, when it is the last.
  CarrierFile(std::shared_ptr<Holders> holders, int access, std::function<void()> on_release = {})
      : holders_(std::move(holders)), access_(access), on_release_(std::move(on_release)) {
    holders_->count.fetch_add(1, std::memory_order_relaxed);
  }

  // A carrier dropped unreleased (never handed out) counts as released.
  ~CarrierFile() override { release(); }
  CarrierFile(const CarrierFile&) = delete;
  CarrierFile& operator=(const CarrierFile&) = delete;

  ssize_t read(std::span<std::byte> buf) override {
    return access_ == O_WRONLY ? -EBADF : holders_->file->read(buf);
  }
  ssize_t read_after_wait(std::span<std::byte> buf) override {
    return access_ == O_WRONLY ? -EBADF : holders_->file->read_after_wait(buf);
  }
  bool carries_data() const override { return holders_->file->carries_data(); }
  ssize_t write(std::span<const std::byte> frame) override {
    return access_ == O_RDONLY ? -EBADF : holders_->file->write(frame);
  }
  PollMask poll() override { return holders_->file->poll(); }
  long ioctl(const Caller& caller, unsigned cmd, uint64_t arg, UserMemory& mem) override {
    return holders_->file->ioctl(caller, cmd, arg, mem);
  }
  void release() override {
    if (released_.exchange(true)) return;
    if (on_release_) on_release_();
    if (holders_->count.fetch_sub(1, std::memory_order_acq_rel) == 1) holders_->file->release();
  }

 private:
  std::shared_ptr<Holders> holders_;
  const int access_;
  std::function<void()> on_release_;
  std::atomic<bool> released_{false};
};

}  // namespace cusenet
