#pragma once
// /dev/net/tun with the semantics of the kernel's drivers/net/tun.c:
// TUNSETIFF creates or attaches to a tun/tap interface (one Link from the
// factory per interface), frames cross one per read/write with the optional
// tun_pi and virtio_net_hdr, and the ioctls answer with the kernel's errors
// and permission rules (CAP_NET_ADMIN, or the interface's owner/group).
//
// Thread safety: open files may be used from several threads at once.
// read, write and poll are lock-free and may run concurrently with each
// other, with Deliver on the Link's I/O thread and with ioctls; ioctls,
// release, open and the queries below serialize on one mutex (the kernel's
// rtnl_lock). Frames queued for an application wait in a bounded lock-free
// ring per file (500 frames, tx_queue_len); a full ring drops and counts
// tx_dropped. A file's Notify runs on the I/O thread when a frame is queued,
// and with the mutex held when an ioctl, a release or the device's end
// changes its poll mask: it must not wait for anything a device call holds.
// POLLOUT and TUNSETLINK follow the interface's admin state as the Link
// reports it (netdev/net_device.h); a write to a down interface fails with
// EIO from the Link. OTUNSETIFF (0x54ca) is served as TUNSETIFF.
// An interface the stack deletes from outside (`ip link del`) is destroyed
// as tun_net_uninit does, a moment later, once the Link reports it: its
// files read and write EBADFD, poll POLLERR and may TUNSETIFF again.
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/file.h"
#include "netdev/link.h"

namespace cusenet {

struct TunRegistry;

class TunCharDevice final : public Device {
 public:
  struct InterfaceInfo {
    std::string name;
    uint64_t netns;  // nsfs inode of the interface's network namespace
    unsigned flags;  // as TUNGETIFF: IFF_TUN/IFF_TAP, IFF_NO_PI, IFF_VNET_HDR, IFF_MULTI_QUEUE,
                     // IFF_ONE_QUEUE, IFF_NAPI*, IFF_PERSIST
    bool persist;
    bool carrier;
    int queues;   // files attached, counting queues disabled by TUNSETQUEUE
    uid_t owner;  // (uid_t)-1 when unset
    gid_t group;  // (gid_t)-1 when unset
    // rx: written by applications into the stack; tx: sent by the stack and
    // read by applications (or dropped: no queue, ring full).
    uint64_t rx_packets, rx_bytes, rx_dropped, tx_packets, tx_bytes, tx_dropped;
  };

  // The factory must outlive the device and every file it opened.
  explicit TunCharDevice(LinkFactory& factory);
  // Destroys every interface, persistent or not; files still open answer
  // EBADFD (POLLERR) from then on, and TUNSETIFF fails with ENODEV.
  ~TunCharDevice() override;
  TunCharDevice(const TunCharDevice&) = delete;
  TunCharDevice& operator=(const TunCharDevice&) = delete;

  const char* name() const override { return "net/tun"; }
  unsigned mode() const override { return 0666; }
  // Anyone may open (the node is 0666); the file remembers the caller's
  // network namespace, where TUNSETIFF looks names up, as tun_chr_open does.
  std::shared_ptr<OpenFile> open(const Caller& caller, int flags, Notify notify, int* err) override;

  std::vector<InterfaceInfo> interfaces() const;
  // Files opened and not yet destroyed (released or not).
  size_t open_files() const;

 private:
  std::shared_ptr<TunRegistry> registry_;
};

}  // namespace cusenet
