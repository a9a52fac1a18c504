#pragma once
// One open device file reached through a socket injected by the seccomp
// frontend: moves frames between the daemon's end of the SOCK_SEQPACKET pair
// and the device's OpenFile. The client's writes arrive one message per
// frame; the device's frames leave one message each. Runs on the frontend's
// thread only, so it takes no locks.
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/fd.h"
#include "core/file.h"

namespace cusenet {

class InjectedFile {
 public:
  // sock: the daemon's end, non-blocking.
  InjectedFile(std::shared_ptr<OpenFile> file, UniqueFd sock);
  InjectedFile(const InjectedFile&) = delete;
  InjectedFile& operator=(const InjectedFile&) = delete;

  int fd() const { return sock_.get(); }
  OpenFile& file() { return *file_; }
  // The epoll events this file waits for now.
  uint32_t interest() const;

  // Client frames to the device, at most a batch. False once the client's
  // last descriptor is closed: release() is then due. A frame the device
  // refuses is counted in *refused.
  bool receive(std::span<std::byte> buf, std::atomic<uint64_t>* refused);

  // Device frames to the client until the device has none, the socket is
  // full (the frame is held until EPOLLOUT), or a batch is sent. True when
  // the batch ran out and more may be queued.
  bool drain(std::span<std::byte> buf);

  // EPOLLOUT: sends the held frame, then drains. Same result as drain().
  bool writable(std::span<std::byte> buf);

  // The client's last descriptor is gone: tells the device, once.
  void release();

 private:
  bool send_or_hold(std::span<const std::byte> frame);
  short socket_events() const;

  std::shared_ptr<OpenFile> file_;
  UniqueFd sock_;
  std::vector<std::byte> held_;  // a frame the full socket refused
  bool holding_ = false;
  bool hung_up_ = false;      // the device read 0: the client reads end of file
  bool half_closed_ = false;  // the client shut down its sending side
  bool released_ = false;
};

}  // namespace cusenet
