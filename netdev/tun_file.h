#pragma once
// An open /dev/net/tun (tun_chr_open .. tun_chr_close): unattached until
// TUNSETIFF, then one queue of an interface. read/write/poll are lock-free
// (see tun_interface.h); ioctl and release take the registry mutex.
#include <net/if.h>

#include <cstdint>
#include <memory>
#include <span>

#include "core/file.h"
#include "netdev/tun_interface.h"
#include "netdev/tun_registry.h"

namespace cusenet {

class TunFile final : public OpenFile {
 public:
  // net_ns (netns, its inode): the opener's network namespace, where
  // TUNSETIFF looks names up and creates interfaces, as the kernel's
  // sock_net of the file.
  TunFile(std::shared_ptr<TunRegistry> registry, std::shared_ptr<const Namespace> net_ns,
          uint64_t netns, Notify notify);
  ~TunFile() override;
  TunFile(const TunFile&) = delete;
  TunFile& operator=(const TunFile&) = delete;

  ssize_t read(std::span<std::byte> buf) override;
  // tun_ring_recv: a reader woken by the interface's deletion (RCV_SHUTDOWN)
  // fails with EFAULT; one whose queue TUNSETQUEUE disabled waits on.
  ssize_t read_after_wait(std::span<std::byte> buf) override;
  ssize_t write(std::span<const std::byte> frame) override;
  PollMask poll() override;
  long ioctl(const Caller& caller, unsigned cmd, uint64_t arg, UserMemory& mem) override;
  // Attached to an interface, its queue enabled.
  bool carries_data() const override { return queue_.iface.load(std::memory_order_acquire) != nullptr; }
  void release() override;

 private:
  // The rest runs with the registry mutex held (tun_ioctl.cc).
  long set_iff(const Caller& caller, ifreq* ifr);
  long set_queue(const ifreq& ifr);
  long attached_ioctl(const Caller& caller, TunInterface& tun, unsigned cmd, uint64_t arg, UserMemory& mem,
                      const ifreq& ifr);
  void release_locked();

  const std::shared_ptr<TunRegistry> registry_;
  const std::shared_ptr<const Namespace> net_ns_;
  const uint64_t netns_;
  TunQueue queue_;
  bool released_ = false;
};

}  // namespace cusenet
