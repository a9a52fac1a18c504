#pragma once
// An open /dev/ppp (ppp_open .. ppp_release): unattached until
// PPPIOCNEWUNIT, PPPIOCATTACH or PPPIOCATTCHAN, then attached for good to a
// unit or a channel, whose frames it reads and writes one per call.
//
// read, write and poll take no lock: the attachment is published once and
// never changes while the file lives (PPPIOCDETACH is refused), and the file
// keeps its unit or channel alive until it is destroyed, so a call racing
// with release() still has a live object. ioctl and release take the
// registry mutex (the kernel's ppp_mutex), except the channel's own ioctls.
#include <atomic>
#include <memory>
#include <mutex>
#include <span>

#include "core/file.h"

namespace cusenet {

struct PppRegistry;
class Unit;
class Channel;
class ReadQueue;

class PppFile final : public OpenFile {
 public:
  PppFile(std::shared_ptr<PppRegistry> registry, Notify notify);
  ~PppFile() override;
  PppFile(const PppFile&) = delete;
  PppFile& operator=(const PppFile&) = delete;

  // ENXIO unattached; -EAGAIN when nothing is queued (also on a unit with no
  // channel), 0 once the unit or channel is dead; -EOVERFLOW (the frame is
  // dropped) when buf is shorter than the frame.
  ssize_t read(std::span<std::byte> buf) override;
  // ENXIO unattached, EINVAL shorter than a protocol. On a unit: through its
  // transmit path; on a channel: sent as it is.
  ssize_t write(std::span<const std::byte> frame) override;
  PollMask poll() override;
  long ioctl(const Caller& caller, unsigned cmd, uint64_t arg, UserMemory& mem) override;
  // Detaches; the owner's release shuts its unit down.
  void release() override;

 private:
  enum class Kind { none, unit, channel };

  // The rest runs with the registry mutex held (ppp_ioctl.cc).
  long unattached_ioctl(const Caller& caller, unsigned cmd, uint64_t arg, UserMemory& mem);
  long channel_ioctl(const Caller& caller, unsigned cmd, uint64_t arg, UserMemory& mem,
                     std::unique_lock<std::mutex>& lock);
  void attach(std::shared_ptr<Unit> unit);
  void attach(std::shared_ptr<Channel> channel);
  ReadQueue& read_queue() const;
  // A unit's file with no channel and no SC_LOOP_TRAFFIC (Unit::reads_eof).
  bool reads_eof() const;
  void release_locked();

  const std::shared_ptr<PppRegistry> registry_;
  const Notify notify_;
  // unit_ or channel_ is set before kind_ is published, and neither changes
  // afterwards.
  std::atomic<Kind> kind_{Kind::none};
  std::shared_ptr<Unit> unit_;
  std::shared_ptr<Channel> channel_;
  bool released_ = false;  // guarded by the registry mutex
};

}  // namespace cusenet
