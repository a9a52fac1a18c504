// The ioctls of an open /dev/net/tun, in the order and with the errors of
// __tun_chr_ioctl, tun_set_iff and tun_set_queue (drivers/net/tun.c).
// Argument layouts follow cuse/ioctl_table.cc: every byte is read and written
// through UserMemory, and a failed access is EFAULT.
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>

#include "core/capability.h"
#include "core/log.h"
#include "netdev/tun_driver.h"
#include "netdev/tun_file.h"
#include "netdev/tun_frame.h"

namespace cusenet {
namespace {

// The pre-_IOW number of TUNSETIFF that vtund falls back to.
constexpr unsigned kOTunSetIff = 0x54ca;
// TUNGETFEATURES: "which TUNSETIFF flags are valid", of those emulated.
constexpr unsigned kTunGetFeatures = IFF_TUN | IFF_TAP | IFF_NO_CARRIER | kTunFeatures;

const char* command_name(unsigned cmd) {
  switch (cmd) {
    case TUNSETIFF: return "TUNSETIFF";
    case kOTunSetIff: return "OTUNSETIFF";
    case TUNGETIFF: return "TUNGETIFF";
    case TUNGETFEATURES: return "TUNGETFEATURES";
    case TUNSETNOCSUM: return "TUNSETNOCSUM";
    case TUNSETDEBUG: return "TUNSETDEBUG";
    case TUNSETPERSIST: return "TUNSETPERSIST";
    case TUNSETOWNER: return "TUNSETOWNER";
    case TUNSETGROUP: return "TUNSETGROUP";
    case TUNSETLINK: return "TUNSETLINK";
    case TUNSETOFFLOAD: return "TUNSETOFFLOAD";
    case TUNGETSNDBUF: return "TUNGETSNDBUF";
    case TUNSETSNDBUF: return "TUNSETSNDBUF";
    case TUNGETVNETHDRSZ: return "TUNGETVNETHDRSZ";
    case TUNSETVNETHDRSZ: return "TUNSETVNETHDRSZ";
    case TUNSETQUEUE: return "TUNSETQUEUE";
    case TUNSETIFINDEX: return "TUNSETIFINDEX";
    case TUNSETCARRIER: return "TUNSETCARRIER";
    case TUNSETVNETLE: return "TUNSETVNETLE";
    case TUNGETVNETLE: return "TUNGETVNETLE";
    case TUNSETVNETBE: return "TUNSETVNETBE";
    case TUNGETVNETBE: return "TUNGETVNETBE";
    case TUNATTACHFILTER: return "TUNATTACHFILTER";
    case TUNDETACHFILTER: return "TUNDETACHFILTER";
    case SIOCGIFHWADDR: return "SIOCGIFHWADDR";
    case SIOCSIFHWADDR: return "SIOCSIFHWADDR";
    default: return "unknown ioctl";
  }
}

// Limited per command: not every caller of it passes its Caller down.
long refuse(long err, unsigned cmd, const std::string& why) {
  const char* errname = strerrorname_np(static_cast<int>(-err));
  CN_LOG_LIMITED(tun, warning, cmd) << command_name(cmd) << " (0x" << std::hex << cmd << std::dec
                                    << ") refused with " << (errname ? errname : "?") << ": "
                                    << log::escape(why);
  return err;
}

long fault(unsigned cmd) { return refuse(-EFAULT, cmd, "bad argument address"); }

// dev_valid_name, and __dev_alloc_name's rule for templates: one "%d".
bool valid_ifname(const std::string& n) {
  if (n.empty() || n.size() >= IFNAMSIZ || n == "." || n == "..") return false;
  for (unsigned char c : n)
    if (c == '/' || c == ':' || c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0) return false;
  size_t pct = n.find('%');
  return pct == std::string::npos ||
         (n.compare(pct, 2, "%d") == 0 && n.find('%', pct + 2) == std::string::npos);
}

unsigned request_flags(const ifreq& ifr) { return static_cast<unsigned short>(ifr.ifr_flags); }

// The running kernel's answer, of the flags emulated: a flag this emulator
// does not implement is not offered even where the kernel has it (said
// once), and one the kernel lacks is not offered either.
unsigned features(LinkFactory& factory) {
  const TunDriver* driver = factory.tun_driver();
  const std::optional<unsigned> kernel = driver ? driver->features() : std::nullopt;
  if (!kernel) return kTunGetFeatures;
  static std::once_flag said;
  if (*kernel & ~kTunGetFeatures)
    std::call_once(said, [&] {
      CN_LOG(tun, warning) << "the kernel's TUNGETFEATURES has 0x" << std::hex << (*kernel & ~kTunGetFeatures)
                           << ", which the emulator does not implement and does not offer";
    });
  return *kernel & kTunGetFeatures;
}

// set_offload() of the running kernel as learnt from it, else of 6.18.
bool offload_valid(LinkFactory& factory, uint64_t arg) {
  const TunDriver* driver = factory.tun_driver();
  const std::optional<bool> kernel = driver ? driver->accepts_offload(arg) : std::nullopt;
  return kernel ? *kernel : tun_offload_valid_6_18(arg);
}

// What the stack shows of the interface follows what the emulated one has.
void mirror(TunInterface& tun, const char* what, uint32_t id, int err) {
  if (err < 0 && err != -EOPNOTSUPP)
    CN_LOG(tun, warning) << tun.name() << ": " << what << " " << id
                         << " not mirrored on the kernel interface: " << std::strerror(-err);
}

}  // namespace

long TunFile::ioctl(const Caller& caller, unsigned cmd, uint64_t arg, UserMemory& mem) {
  ifreq ifr{};
  const bool reads_ifreq =
      cmd == TUNSETIFF || cmd == kOTunSetIff || cmd == TUNSETQUEUE || cmd == SIOCSIFHWADDR;
  if (reads_ifreq && !mem.get(arg, &ifr)) return fault(cmd);
  if (cmd == TUNGETFEATURES) return mem.put(arg, features(registry_->factory)) ? 0 : fault(cmd);

  std::lock_guard lock(registry_->mu);
  if (released_) return refuse(-EBADFD, cmd, "file already released");
  if (cmd == TUNSETQUEUE) return set_queue(ifr);
  TunInterface* tun = queue_.iface.load(std::memory_order_relaxed);
  // OTUNSETIFF is TUNSETIFF here; the kernel no longer knows the old number.
  if (cmd == TUNSETIFF || cmd == kOTunSetIff) {
    if (tun) return refuse(-EEXIST, cmd, "already attached to " + tun->name());
    ifr.ifr_name[IFNAMSIZ - 1] = '\0';
    if (long err = set_iff(caller, &ifr)) return err;
    queue_.notify();
    return mem.put(arg, ifr) ? 0 : fault(cmd);
  }
  if (cmd == TUNSETIFINDEX) {
    if (tun) return refuse(-EPERM, cmd, "already attached to " + tun->name());
    int index;
    if (!mem.get(arg, &index)) return fault(cmd);
    if (index < 0) return refuse(-EINVAL, cmd, "negative index");
    CN_LOG_LIMITED(tun, warning, caller.uid) << "TUNSETIFINDEX(" << index
                         << ") accepted but not honoured: the stack numbers the interface";
    return 0;
  }
  if (!tun) return refuse(-EBADFD, cmd, "no interface attached (TUNSETIFF first)");
  return attached_ioctl(caller, *tun, cmd, arg, mem, ifr);
}

long TunFile::set_iff(const Caller& caller, ifreq* ifr) {
  const unsigned req = request_flags(*ifr);
  const unsigned cmd = TUNSETIFF;
  if (registry_->closed) return refuse(-ENODEV, cmd, "the tun device is shutting down");
  if (req & IFF_NAPI_FRAGS) {
    if (!capable(caller, CAP_NET_ADMIN))
      return refuse(-EPERM, cmd, "IFF_NAPI_FRAGS needs CAP_NET_ADMIN");
    if (!(req & IFF_NAPI) || (req & TUN_TYPE_MASK) != IFF_TAP)
      return refuse(-EINVAL, cmd, "IFF_NAPI_FRAGS needs IFF_NAPI on a tap");
  }
  std::string name(ifr->ifr_name, strnlen(ifr->ifr_name, IFNAMSIZ));
  std::shared_ptr<TunInterface> tun = registry_->find(netns_, name);
  if (tun) {
    if (req & IFF_TUN_EXCL) return refuse(-EBUSY, cmd, name + " exists and IFF_TUN_EXCL is set");
    if (!((req & IFF_TUN) && !tun->tap()) && !((req & IFF_TAP) && tun->tap()))
      return refuse(-EINVAL, cmd, name + " is a " + (tun->tap() ? "tap" : "tun"));
    if (bool(req & IFF_MULTI_QUEUE) != tun->multi_queue())
      return refuse(-EINVAL, cmd, name + " differs in IFF_MULTI_QUEUE");
    if (tun->not_capable(caller))
      return refuse(-EPERM, cmd, "not the owner or group of " + name + ", no CAP_NET_ADMIN over its namespace");
    if (int err = tun->attach(&queue_); err < 0)
      return refuse(err, cmd, err == -EBUSY ? name + " is single-queue and has its file"
                                            : name + " has MAX_TAP_QUEUES files");
    // A further queue of a multi-queue interface changes nothing else.
    if (tun->multi_queue() && tun->attached_files() > 1) return 0;
    tun->set_flags(kTunFeatures, req & kTunFeatures);
  } else {
    if (!net_capable(caller, *net_ns_, CAP_NET_ADMIN))
      return refuse(-EPERM, cmd, "creating an interface needs CAP_NET_ADMIN over the network namespace the file was opened in");
    const unsigned type = (req & IFF_TUN) ? IFF_TUN : (req & IFF_TAP) ? IFF_TAP : 0;
    if (!type) return refuse(-EINVAL, cmd, "neither IFF_TUN nor IFF_TAP");
    if (name.empty()) name = type == IFF_TUN ? "tun%d" : "tap%d";
    if (!valid_ifname(name)) return refuse(-EINVAL, cmd, "invalid interface name \"" + name + "\"");
    int err = 0;
    tun = TunInterface::create(registry_->factory, caller.in_netns(net_ns_), name, type | (req & kTunFeatures), &err);
    if (!tun) {
      // A valid explicit name the stack will not give us belongs to an
      // interface that is not ours: the kernel answers EBUSY under
      // IFF_TUN_EXCL, else EINVAL (not a tun/tap it could attach to).
      const bool taken = err == -EBUSY || err == -EEXIST || err == -EINVAL;
      if (taken && name.find('%') == std::string::npos)
        err = (req & IFF_TUN_EXCL) ? -EBUSY : -EINVAL;
      return refuse(err, cmd, "cannot create " + name);
    }
    registry_->add(tun);
    CN_LOG(tun, info) << log::escape(tun->name()) << " created (" << (type == IFF_TAP ? "tap" : "tun")
                      << ", flags 0x" << std::hex << tun->flags() << std::dec << ", netns "
                      << tun->netns() << ")";
    tun->attach(&queue_);
  }
  tun->set_carrier(!(req & IFF_NO_CARRIER));
  // strcpy: the name and its NUL; whatever the caller had after it stays.
  const std::string now = tun->name();
  std::memcpy(ifr->ifr_name, now.c_str(), std::min<size_t>(now.size() + 1, IFNAMSIZ));
  return 0;
}

long TunFile::set_queue(const ifreq& ifr) {
  const unsigned req = request_flags(ifr);
  TunInterface* tun = queue_.iface.load(std::memory_order_relaxed);
  const bool disabled = queue_.disabled.load(std::memory_order_relaxed);
  if (req & IFF_ATTACH_QUEUE) {
    if (!tun || !disabled)
      return refuse(-EINVAL, TUNSETQUEUE, "IFF_ATTACH_QUEUE on a queue that is not detached");
    tun->enable(&queue_);
  } else if (req & IFF_DETACH_QUEUE) {
    if (!tun || !tun->multi_queue() || disabled)
      return refuse(-EINVAL, TUNSETQUEUE,
                    "IFF_DETACH_QUEUE needs an enabled queue of a multi-queue interface");
    tun->disable(&queue_);
  } else {
    return refuse(-EINVAL, TUNSETQUEUE, "neither IFF_ATTACH_QUEUE nor IFF_DETACH_QUEUE");
  }
  queue_.notify();
  return 0;
}

long TunFile::attached_ioctl(const Caller& caller, TunInterface& tun, unsigned cmd, uint64_t arg, UserMemory& mem,
                             const ifreq& ifr) {
  switch (cmd) {
    case TUNGETIFF: {
      ifreq out{};
      tun.name().copy(out.ifr_name, IFNAMSIZ - 1);
      unsigned flags = tun.flags() & (kTunFeatures | IFF_PERSIST | IFF_TUN | IFF_TAP);
      if (queue_.disabled.load(std::memory_order_relaxed)) flags |= IFF_DETACH_QUEUE;
      flags |= IFF_NOFILTER;  // no socket filter is ever attached (see TUNATTACHFILTER)
      out.ifr_flags = static_cast<short>(flags);
      return mem.put(arg, out) ? 0 : fault(cmd);
    }
    case TUNSETNOCSUM:  // ignored by the kernel too
    case TUNSETDEBUG:   // the kernel's message level; nothing to print here
      return 0;
    case TUNSETPERSIST:
      // Not mirrored on the kernel interface (its tun_flags lack
      // IFF_PERSIST): a persistent kernel tun outlives its last fd, so one
      // would be left behind, unowned, when the daemon dies or is killed;
      // ours goes with our fd. The emulated interface persists here.
      if (bool(arg) != bool(tun.flags() & IFF_PERSIST)) {
        tun.set_flags(IFF_PERSIST, arg ? IFF_PERSIST : 0);
        CN_LOG_LIMITED(tun, info, caller.uid)
            << log::escape(tun.name()) << ": persist " << (arg ? "on" : "off");
      }
      return 0;
    case TUNSETOWNER: {
      // make_kuid(current_user_ns(), arg): an id of the caller's namespace.
      const std::optional<uint32_t> uid = caller.uid_map.to_kernel(static_cast<uint32_t>(arg));
      if (!uid || *uid == static_cast<uid_t>(-1))
        return refuse(-EINVAL, cmd, "uid " + std::to_string(static_cast<uint32_t>(arg)) + " not mapped in the caller's user namespace");
      tun.owner = *uid;
      CN_LOG_LIMITED(tun, info, caller.uid) << log::escape(tun.name()) << ": owner " << *uid;
      mirror(tun, "owner", *uid, tun.link().set_owner(*uid));
      return 0;
    }
    case TUNSETGROUP: {
      const std::optional<uint32_t> gid = caller.gid_map.to_kernel(static_cast<uint32_t>(arg));
      if (!gid || *gid == static_cast<gid_t>(-1))
        return refuse(-EINVAL, cmd, "gid " + std::to_string(static_cast<uint32_t>(arg)) + " not mapped in the caller's user namespace");
      tun.group = *gid;
      CN_LOG_LIMITED(tun, info, caller.uid) << log::escape(tun.name()) << ": group " << *gid;
      mirror(tun, "group", *gid, tun.link().set_group(*gid));
      return 0;
    }
    case TUNSETLINK:
      // Only while down; the stack is asked, as its reports may lag behind.
      if (tun.up_now()) return refuse(-EBUSY, cmd, "the interface is up");
      tun.link_type = static_cast<unsigned short>(arg);
      CN_LOG_LIMITED(tun, info, caller.uid)
          << log::escape(tun.name()) << ": link type " << tun.link_type;
      return 0;
    case TUNSETOFFLOAD:
      // Offloads allow the stack to send unfinished frames; ours are always
      // complete, so a valid request needs nothing more.
      // The backing kernel interface keeps none: it would hand us GSO
      // super-frames without a virtio header to describe them.
      return offload_valid(registry_->factory, arg)
                 ? 0
                 : refuse(-EINVAL, cmd, "TUN_F_ bits the running kernel does not take together");
    case SIOCGIFHWADDR: {
      sockaddr sa{};
      if (tun.tap()) {
        if (int err = tun.link().get_hwaddr(&sa); err < 0)
          return refuse(err, cmd, "the link has no hardware address");
      }
      sa.sa_family = tun.link_type;
      // Only ifr_hwaddr: the kernel writes back the rest of the caller's own
      // struct ifreq unchanged.
      return mem.put(arg + offsetof(ifreq, ifr_hwaddr), sa) ? 0 : fault(cmd);
    }
    case SIOCSIFHWADDR:
      if (!tun.tap()) return refuse(-EOPNOTSUPP, cmd, "a tun interface has no hardware address");
      if (ifr.ifr_hwaddr.sa_family != tun.link_type)
        return refuse(-EINVAL, cmd, "address family is not the link type");
      if (int err = tun.link().set_hwaddr(ifr.ifr_hwaddr); err < 0)
        return refuse(err, cmd, "the link refused the address");
      return 0;
    case TUNGETSNDBUF:
      return mem.put(arg, queue_.sndbuf) ? 0 : fault(cmd);
    case TUNSETSNDBUF: {
      int sndbuf;
      if (!mem.get(arg, &sndbuf)) return fault(cmd);
      if (sndbuf <= 0) return refuse(-EINVAL, cmd, "sndbuf <= 0");
      // tun_set_sndbuf: the enabled queues only.
      for (TunQueue* q : tun.enabled_queues()) q->sndbuf = sndbuf;
      return 0;
    }
    case TUNGETVNETHDRSZ:
      return mem.put(arg, tun.vnet_hdr_sz()) ? 0 : fault(cmd);
    case TUNSETVNETHDRSZ: {
      int sz;
      if (!mem.get(arg, &sz)) return fault(cmd);
      if (sz < static_cast<int>(sizeof(TunVnetHeader)))
        return refuse(-EINVAL, cmd, "smaller than struct virtio_net_hdr");
      tun.set_vnet_hdr_sz(sz);
      return 0;
    }
    case TUNGETVNETLE:
      return mem.put(arg, int{(tun.flags() & kTunVnetLe) != 0}) ? 0 : fault(cmd);
    case TUNSETVNETLE: {
      int le;
      if (!mem.get(arg, &le)) return fault(cmd);
      tun.set_flags(kTunVnetLe, le ? kTunVnetLe : 0);
      return 0;
    }
    case TUNGETVNETBE:
    case TUNSETVNETBE:
      return refuse(-EINVAL, cmd, "big-endian virtio headers need CONFIG_TUN_VNET_CROSS_LE");
    case TUNATTACHFILTER: {
      if (!tun.tap()) return refuse(-EINVAL, cmd, "only a tap takes a socket filter");
      sock_fprog prog;
      if (!mem.get(arg, &prog)) return fault(cmd);
      return refuse(-EOPNOTSUPP, cmd, "classic BPF socket filters are not emulated");
    }
    case TUNDETACHFILTER:
      return tun.tap() ? 0 : refuse(-EINVAL, cmd, "only a tap takes a socket filter");
    case TUNSETCARRIER: {
      unsigned on;
      if (!mem.get(arg, &on)) return fault(cmd);
      if (on && tun.enabled_queues().empty())
        return refuse(-EPERM, cmd, "carrier on with no queue attached");
      return tun.set_carrier(on != 0);
    }
    default:
      return refuse(-EINVAL, cmd, "not a tun command");
  }
}

}  // namespace cusenet
