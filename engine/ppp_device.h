#pragma once
// /dev/ppp with the semantics of the kernel's drivers/net/ppp/ppp_generic.c
// (ppp_generic.txt): each open file is unattached, attached to a unit (a
// bundle and its network interface pppN, a Link from the factory) or
// attached to a channel (one link, registered by its channel code through
// register_channel()). Frames are the 2-byte protocol followed by the data.
//
// Units and channels live in the network namespace of the process that made
// them, as the kernel's per-net idr and channel lists: unit and channel
// numbers, PPPIOCATTACH, PPPIOCATTCHAN and PPPIOCCONNECT are per namespace.
//
// Thread safety: open files may be used from several threads at once. The
// packet path (read, write, poll, Deliver, the channel API) takes no lock:
// bounded lock-free queues, atomics, and Serializer for the per-unit and
// per-channel state the kernel guards with spinlocks. ioctls, open, release,
// register/unregister and the queries below serialize on one mutex (the
// kernel's ppp_mutex); a channel's own ioctls run under that channel's
// mutex only. A file's Notify runs on the packet path when a frame is queued
// for it and with the mutex held when its unit or channel dies.
//
// Differences from the kernel:
// - a unit with no channel reads -EAGAIN and polls without POLLIN, where the
//   kernel reads 0 (EOF), which pppd takes for a hangup; only a dead unit or
//   channel reads 0 and polls POLLHUP;
// - PPPIOCDETACH fails with EINVAL on every attached file, as kernels since
//   4.18 do (the reference count the old behaviour needed is not visible
//   through any frontend);
// - received network frames other than IPv4 and IPv6 (IPX, AppleTalk, MPLS)
//   cannot enter a raw-IP Link and are dropped;
// - a frame a bridged channel refuses waits for its output_wakeup() where
//   the kernel drops it.
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/file.h"
#include "core/interface_ioctls.h"
#include "engine/ppp_channel.h"
#include "engine/ppp_hooks.h"
#include "netdev/link.h"

namespace cusenet {

struct PppRegistry;

class PppDevice final : public Device, public InterfaceIoctls {
 public:
  struct UnitInfo {
    int index;
    std::string ifname;  // the Link's current name
    uint64_t netns;
    unsigned flags;      // as PPPIOCGFLAGS: SC_* settings plus run/error bits
    int mru, mrru, debug;
    std::vector<int> channels;  // connected, in connection order
    size_t files;               // /dev/ppp files attached, the owner included
    bool owner;                 // the owner file is still open
    size_t xmit_queue, read_queue, mp_queue;  // frames waiting in each
    uint64_t rx_packets, rx_bytes, rx_errors, rx_dropped, rx_length_errors;
    uint64_t tx_packets, tx_bytes, tx_errors, tx_dropped;
  };
  struct ChannelInfo {
    int index;
    uint64_t netns;
    int unit;    // connected unit, -1
    bool unit_dead;  // that unit's owner closed: the channel carries nothing
    int bridge;  // bridged channel, -1
    int mtu;
    size_t files;                    // /dev/ppp files attached
    size_t xmit_queue, read_queue;  // frames waiting in each
  };

  // The factory must outlive the device and every file and channel handle
  // it made.
  explicit PppDevice(LinkFactory& factory, PppHooks hooks = PppHooks::standard());
  // Shuts every unit down (its Link goes); files still open read 0 and poll
  // POLLHUP, and PPPIOCNEWUNIT fails with ENODEV.
  ~PppDevice() override;
  PppDevice(const PppDevice&) = delete;
  PppDevice& operator=(const PppDevice&) = delete;

  const char* name() const override { return "ppp"; }
  unsigned mode() const override { return 0600; }
  // EPERM without CAP_NET_ADMIN, as ppp_open.
  std::shared_ptr<OpenFile> open(const Caller& caller, int flags, Notify notify, int* err) override;

  // ppp_register_channel: a new channel, unattached and unconnected, in the
  // caller's network namespace (the process setting the line discipline).
  // mtu: the largest data part (protocol excluded) the channel carries, for
  // multilink fragments. nullptr with -errno in *err when the caller's
  // namespace cannot be found.
  std::unique_ptr<PppChannel> register_channel(const Caller& caller, PppChannelOps& ops, int mtu,
                                               int* err);

  // ppp_net_siocdevprivate, for a unit's pppN in namespace netns:
  // SIOCGPPPSTATS writes a struct ppp_stats at data, SIOCGPPPCSTATS a struct
  // ppp_comp_stats, SIOCGPPPVER the string "2.4.2"; -EFAULT when that memory
  // cannot be written, -EINVAL for another command. No capability is
  // needed (dev_ifsioc checks none for SIOCDEVPRIVATE).
  long interface_ioctl(const Caller& caller, uint64_t netns, const std::string& ifname, unsigned cmd,
                       uint64_t data, UserMemory& mem, bool* ours) override;

  std::vector<UnitInfo> units() const;
  std::vector<ChannelInfo> channels() const;
  // Files opened and not yet destroyed (released or not).
  size_t open_files() const;

 private:
  std::shared_ptr<PppRegistry> registry_;
};

}  // namespace cusenet
