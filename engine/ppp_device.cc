#include "engine/ppp_device.h"

#include <linux/capability.h>
#include <linux/ppp-ioctl.h>
#include <linux/ppp_defs.h>
#include <linux/sockios.h>

#include <cerrno>
#include <cstring>

#include "core/capability.h"
#include "core/log.h"
#include "engine/channel.h"
#include "engine/ppp_file.h"
#include "engine/ppp_registry.h"
#include "engine/unit.h"

namespace cusenet {

PppHooks PppHooks::standard() {
  PppHooks h;
  h.compressor = make_compressor;
  h.decompressor = make_decompressor;
  h.now = [] { return Clock::now(); };
  return h;
}

PppDevice::PppDevice(LinkFactory& factory, PppHooks hooks)
    : registry_(std::make_shared<PppRegistry>(factory, std::move(hooks))) {}

PppDevice::~PppDevice() {
  std::lock_guard lock(registry_->mu);
  registry_->closed = true;
  const auto units = registry_->units;  // shutdown() erases from the map
  for (const auto& [key, unit] : units) unit->shutdown();
}

std::shared_ptr<OpenFile> PppDevice::open(const Caller& caller, int, Notify notify, int* err) {
  // ppp_open: "This could (should?) be enforced by the permissions on
  // /dev/ppp." ns_capable(file->f_cred->user_ns): in the opener's own user
  // namespace (the node's mode keeps others out).
  if (!ns_capable(caller, caller.user_ns ? *caller.user_ns : initial_user_ns(), CAP_NET_ADMIN)) {
    CN_LOG(ppp, info) << "pid " << caller.pid << ": open refused without CAP_NET_ADMIN";
    *err = -EPERM;
    return nullptr;
  }
  return std::make_shared<PppFile>(registry_, std::move(notify));
}

std::unique_ptr<PppChannel> PppDevice::register_channel(const Caller& caller, PppChannelOps& ops,
                                                        int mtu, int* err) {
  int e = 0;
  const uint64_t netns = registry_->factory.netns_of(caller, &e);
  if (e < 0) {
    CN_LOG_LIMITED(ppp, warning, caller.uid) << "pid " << caller.pid << ": no network namespace for a new channel";
    *err = e;
    return nullptr;
  }
  std::lock_guard lock(registry_->mu);
  const int index = ++registry_->last_channel_index[netns];
  auto channel = std::make_shared<Channel>(*registry_, ops, index, netns, mtu);
  registry_->channels[{netns, index}] = channel;
  CN_LOG(ppp, info) << "channel " << index << " registered for pid " << caller.pid << " in netns "
                    << netns;
  return std::make_unique<PppChannel>(registry_, std::move(channel));
}

long PppDevice::interface_ioctl(const Caller&, uint64_t netns, const std::string& ifname, unsigned cmd,
                                uint64_t data, UserMemory& mem, bool* ours) {
  *ours = false;
  ppp_stats stats{};
  ppp_comp_stats cstats{};
  {
    std::lock_guard lock(registry_->mu);
    std::shared_ptr<Unit> unit;
    for (const auto& [key, u] : registry_->units) {
      if (key.first == netns && !u->dead() && u->name() == ifname) {
        unit = u;
        break;
      }
    }
    if (!unit) return 0;
    *ours = true;
    if (cmd == SIOCGPPPSTATS)
      unit->get_stats(&stats);
    else if (cmd == SIOCGPPPCSTATS)
      unit->get_comp_stats(&cstats);
  }
  // The caller's memory is written without the mutex held.
  switch (cmd) {
    case SIOCGPPPSTATS:
      return mem.put(data, stats) ? 0 : -EFAULT;
    case SIOCGPPPCSTATS:
      return mem.put(data, cstats) ? 0 : -EFAULT;
    case SIOCGPPPVER: {
      static constexpr char kVersion[] = "2.4.2";  // PPP_VERSION, with its NUL
      return mem.write(data, kVersion, sizeof kVersion) ? 0 : -EFAULT;
    }
    default:
      return -EINVAL;
  }
}

std::vector<PppDevice::UnitInfo> PppDevice::units() const {
  std::lock_guard lock(registry_->mu);
  std::vector<UnitInfo> out(registry_->units.size());
  size_t i = 0;
  for (const auto& [key, unit] : registry_->units) unit->fill(&out[i++]);
  return out;
}

std::vector<PppDevice::ChannelInfo> PppDevice::channels() const {
  std::lock_guard lock(registry_->mu);
  std::vector<ChannelInfo> out(registry_->channels.size());
  size_t i = 0;
  for (const auto& [key, channel] : registry_->channels) channel->fill(&out[i++]);
  return out;
}

size_t PppDevice::open_files() const { return registry_->files.load(std::memory_order_relaxed); }

}  // namespace cusenet
