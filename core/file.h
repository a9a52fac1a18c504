#pragma once
// The file operations every emulated character device offers, independent of
// how a process reaches it (CUSE, FUSE file, injected socket): the same shape
// as the kernel's struct file_operations, minus blocking. A device never
// blocks a thread: read returns -EAGAIN when nothing is queued and the
// frontend parks the request (or fails it for O_NONBLOCK) until notify.
#include <poll.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "core/caller.h"
#include "core/user_memory.h"

namespace cusenet {

using PollMask = unsigned;  // POLLIN | POLLOUT | POLLERR | POLLHUP, as poll(2)

// Called by a device whenever its poll() mask may have changed (a frame was
// queued, the link died). Runs on the packet path: it must be cheap and must
// not call back into the file.
using Notify = std::function<void()>;

// One open file description (the kernel's struct file). Methods may run
// concurrently on several frontend threads. Errors are negative errno values.
class OpenFile {
 public:
  virtual ~OpenFile() = default;

  // At most one frame, truncated to buf as the device's kernel driver does.
  virtual ssize_t read(std::span<std::byte> buf) = 0;
  // The same for a blocking read that waited (the frontend parked it) and
  // is woken: where the driver answers a woken reader otherwise.
  virtual ssize_t read_after_wait(std::span<std::byte> buf) { return read(buf); }
  // Exactly one frame.
  virtual ssize_t write(std::span<const std::byte> frame) = 0;
  virtual PollMask poll() = 0;
  virtual long ioctl(const Caller& caller, unsigned cmd, uint64_t arg, UserMemory& mem) = 0;
  // Whether frames flow through the file at rate now (a tun once attached):
  // a frontend with a faster but less faithful way to move frames may
  // switch to it while this holds.
  virtual bool carries_data() const { return false; }
  // The last descriptor is gone (close, exit, kill -9). Called once; the
  // file answers nothing useful afterwards.
  virtual void release() = 0;
};

// A character device node such as /dev/net/tun or /dev/ppp.
class Device {
 public:
  virtual ~Device() = default;
  // Path below /dev: "net/tun", "ppp".
  virtual const char* name() const = 0;
  // Permission bits of the kernel's node (0666 for net/tun, 0600 for ppp).
  virtual unsigned mode() const = 0;
  // A new open file, or nullptr with -errno in *err (EPERM when the kernel
  // would refuse the caller).
  virtual std::shared_ptr<OpenFile> open(const Caller& caller, int flags, Notify notify,
                                         int* err) = 0;
};

}  // namespace cusenet
