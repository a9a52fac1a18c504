#pragma once
// One open device file reached through a socket injected by the seccomp
// frontend: moves frames between the daemon's end of the SOCK_SEQPACKET pair
// and the device's OpenFile. The client's writes arrive one message per
// frame; the device's frames leave one message each, a batch of them per
// system call (recvmmsg, sendmmsg): with frames in flight the calls, not the
// copies, are what the thread spends its time on. Runs on the frontend's
// thread only, so it takes no locks.
#include <sys/socket.h>
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

// Room for a batch of frames moved in one recvmmsg or sendmmsg: a slot of
// `frame_max` bytes a frame. Shared by the files of one thread. The slots'
// memory is left untouched until frames fill it, so small frames cost a page
// each, not the slot.
class InjectedBatch {
 public:
  // Frames per wake-up and direction before the thread serves the other
  // files (level-triggered epoll, or the frontend's again list, resumes).
  static constexpr int kFrames = 64;

  explicit InjectedBatch(size_t frame_max);
  std::span<std::byte> slot(int i) { return {bytes_.get() + static_cast<size_t>(i) * frame_max_, frame_max_}; }
  size_t frame_max() const { return frame_max_; }
  // Message i: `bytes`, its header otherwise cleared.
  void set(int i, std::span<std::byte> bytes);
  std::span<std::byte> bytes(int i) const;
  mmsghdr* messages() { return msgs_; }

 private:
  const size_t frame_max_;
  std::unique_ptr<std::byte[]> bytes_;
  mmsghdr msgs_[kFrames];
  iovec iovs_[kFrames];
};

class InjectedFile {
 public:
  // sock: the daemon's end, non-blocking.
  InjectedFile(std::shared_ptr<OpenFile> file, UniqueFd sock);
  InjectedFile(const InjectedFile&) = delete;
  InjectedFile& operator=(const InjectedFile&) = delete;

  int fd() const { return sock_.get(); }
  // The epoll events this file waits for now.
  uint32_t interest() const;

  // Client frames to the device, at most a batch (one recvmmsg). False once
  // the client's last descriptor is closed: release() is then due. A frame
  // the device refuses, or larger than a slot, is counted in *refused.
  bool receive(InjectedBatch& b, std::atomic<uint64_t>* refused);

  // Device frames to the client until the device has none, the socket is
  // full (the frames left are held until EPOLLOUT), or a batch is sent (one
  // sendmmsg). True when the batch ran out and more may be queued.
  bool drain(InjectedBatch& b);

  // EPOLLOUT: sends the held frames, then drains. Same result as drain().
  bool writable(InjectedBatch& b);

  // The client's last descriptor is gone: tells the device, once.
  void release();
  // The device read end of file or failed (a tun detached): the client
  // reads end of file after the frames before it.
  bool hung_up() const { return hung_up_; }

 private:
  // Messages [0, n) of the batch, in order: how many went out before the
  // socket was full; -1 when the client is gone.
  int send(InjectedBatch& b, int n);
  short socket_events() const;
  // Bytes the client sent that are still in the socket.
  int queued() const;

  std::shared_ptr<OpenFile> file_;
  UniqueFd sock_;
  // Frames the full socket refused, in order; no more are read from the
  // device until they are out.
  std::vector<std::vector<std::byte>> held_;
  bool hung_up_ = false;      // the device read 0 or failed: the client reads end of file
  bool half_closed_ = false;  // the client shut down its sending side
  bool released_ = false;
};

}  // namespace cusenet
