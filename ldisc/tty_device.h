#pragma once
// A tty port as a character device (/dev/ttyVP<n>) and its open files, for
// the frontends: the same shape as every other device in core/file.h.
#include <atomic>
#include <memory>
#include <string>

#include "core/file.h"
#include "ldisc/tty_port.h"

namespace cusenet {

class TtyFile final : public OpenFile {
 public:
  TtyFile(std::shared_ptr<TtyPort> port, uint64_t id) : port_(std::move(port)), id_(id) {}
  ~TtyFile() override { release(); }

  ssize_t read(std::span<std::byte> buf) override { return port_->read(id_, buf); }
  ssize_t write(std::span<const std::byte> bytes) override { return port_->write(id_, bytes); }
  PollMask poll() override { return port_->poll(id_); }
  long ioctl(const Caller& caller, unsigned cmd, uint64_t arg, UserMemory& mem) override {
    return port_->ioctl(id_, caller, cmd, arg, mem);
  }
  void release() override;

 private:
  const std::shared_ptr<TtyPort> port_;
  const uint64_t id_;
  std::atomic<bool> released_{false};
};

class TtyDevice final : public Device {
 public:
  // name: below /dev, "ttyVP0".
  explicit TtyDevice(std::shared_ptr<TtyPort> port) : port_(std::move(port)) {}

  const char* name() const override { return port_->name().c_str(); }
  // A serial port's node: crw-rw---- root:dialout.
  unsigned mode() const override { return 0660; }
  std::shared_ptr<OpenFile> open(const Caller& caller, int flags, Notify notify,
                                 int* err) override;
  const std::shared_ptr<TtyPort>& port() const { return port_; }

 private:
  const std::shared_ptr<TtyPort> port_;
};

}  // namespace cusenet
