// ppp_ioctl and ppp_unattached_ioctl: the ioctls of an open /dev/ppp in each
// of its three states, with the kernel's results and errors. The unit
// state's own ioctls are in unit_ioctl.cc.
#include <linux/filter.h>
#include <linux/ppp-ioctl.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "engine/channel.h"
#include "engine/ppp_file.h"
#include "engine/ppp_registry.h"
#include "engine/unit.h"

namespace cusenet {

long PppFile::ioctl(const Caller& caller, unsigned cmd, uint64_t arg, UserMemory& mem) {
  std::unique_lock lock(registry_->mu);
  long ret;
  switch (kind_.load(std::memory_order_acquire)) {
    case Kind::none:
      ret = unattached_ioctl(caller, cmd, arg, mem);
      break;
    case Kind::channel:
      if (cmd == PPPIOCDETACH) {
        ret = -EINVAL;
        break;
      }
      ret = channel_ioctl(caller, cmd, arg, mem, lock);
      break;
    default:
      // PPPIOCDETACH has been refused since 4.18 (only pppd before 2.4.2
      // used it, and it raced): the unit state's switch does not know it.
      ret = cmd == PPPIOCDETACH ? -EINVAL : unit_->ioctl(cmd, arg, mem);
      break;
  }
  if (ret == -ENOTTY)
    CN_LOG(ppp, debug) << "pid " << caller.pid << ": ioctl 0x" << std::hex << cmd << std::dec
                       << " not handled here (ENOTTY)";
  else if (ret < 0)
    CN_LOG(ppp, info) << "pid " << caller.pid << ": ioctl 0x" << std::hex << cmd << std::dec
                      << " refused: " << std::strerror(static_cast<int>(-ret));
  return ret;
}

long PppFile::unattached_ioctl(const Caller& caller, unsigned cmd, uint64_t arg, UserMemory& mem) {
  if (cmd != PPPIOCNEWUNIT && cmd != PPPIOCATTACH && cmd != PPPIOCATTCHAN) return -ENOTTY;
  int number;
  if (!mem.get(arg, &number)) return -EFAULT;
  // Units and channels are looked up in the caller's network namespace.
  int err = 0;
  const uint64_t netns = registry_->factory.netns_of(caller, &err);
  if (err < 0) return err;
  switch (cmd) {
    case PPPIOCNEWUNIT: {
      if (registry_->closed) return -ENODEV;
      std::shared_ptr<Unit> unit = Unit::create(*registry_, caller, netns, number, &err);
      if (!unit) return err;
      unit->owner = this;
      attach(unit);
      // A fault here leaves the unit made and attached, as in the kernel.
      return mem.put(arg, unit->index()) ? 0 : -EFAULT;
    }
    case PPPIOCATTACH: {
      std::shared_ptr<Unit> unit = registry_->find_unit(netns, number);
      if (!unit) return -ENXIO;
      attach(std::move(unit));
      return 0;
    }
    default: {
      std::shared_ptr<Channel> channel = registry_->find_channel(netns, number);
      if (!channel) return -ENXIO;
      attach(std::move(channel));
      return 0;
    }
  }
}

long PppFile::channel_ioctl(const Caller& caller, unsigned cmd, uint64_t arg, UserMemory& mem,
                            std::unique_lock<std::mutex>& lock) {
  int number;
  switch (cmd) {
    case PPPIOCCONNECT: {
      if (!mem.get(arg, &number)) return -EFAULT;
      // In the channel's namespace, not the caller's.
      std::shared_ptr<Unit> unit = registry_->find_unit(channel_->netns(), number);
      if (!unit) return -ENXIO;
      return channel_->connect(std::move(unit));
    }
    case PPPIOCDISCONN:
      return channel_->disconnect();
    case PPPIOCBRIDGECHAN: {
      if (!mem.get(arg, &number)) return -EFAULT;
      int err = 0;
      const uint64_t netns = registry_->factory.netns_of(caller, &err);
      if (err < 0) return err;
      std::shared_ptr<Channel> other = registry_->find_channel(netns, number);
      if (!other) return -ENXIO;
      return channel_->bridge(*other);
    }
    case PPPIOCUNBRIDGECHAN:
      return channel_->unbridge();
    default:
      // The channel's own (PPPIOCSASYNCMAP, PPPIOCSMRU...), under its mutex.
      lock.unlock();
      return channel_->ops_ioctl(caller, cmd, arg, mem);
  }
}

}  // namespace cusenet
