#include "netdev/tun.h"

#include <cerrno>
#include <cstring>
#include <mutex>

#include "core/log.h"
#include "netdev/tun_file.h"
#include "netdev/tun_registry.h"

namespace cusenet {

TunCharDevice::TunCharDevice(LinkFactory& factory)
    : registry_(std::make_shared<TunRegistry>(factory)) {}

TunCharDevice::~TunCharDevice() {
  std::lock_guard lock(registry_->mu);
  registry_->closed = true;
  for (auto& tun : registry_->interfaces) tun->destroy();
  registry_->interfaces.clear();
}

std::shared_ptr<OpenFile> TunCharDevice::open(const Caller& caller, int /*flags*/, Notify notify,
                                              int* err) {
  int e = 0;
  uint64_t netns = registry_->factory.netns_of(caller, &e);
  if (!netns) {
    *err = e < 0 ? e : -ESRCH;
    CN_LOG_LIMITED(tun, warning, caller.uid) << "open by pid " << caller.pid
                         << " refused: no network namespace: " << std::strerror(-*err);
    return nullptr;
  }
  std::shared_ptr<const Namespace> net_ns = caller.net_ns ? caller.net_ns : Namespace::of_self("net", &e);
  if (!net_ns) {
    *err = e;
    CN_LOG(tun, error) << "the daemon's own network namespace: " << std::strerror(-e);
    return nullptr;
  }
  return std::make_shared<TunFile>(registry_, std::move(net_ns), netns, std::move(notify));
}

std::vector<TunCharDevice::InterfaceInfo> TunCharDevice::interfaces() const {
  std::lock_guard lock(registry_->mu);
  std::vector<InterfaceInfo> out;
  for (const auto& tun : registry_->interfaces) tun->fill(&out.emplace_back());
  return out;
}

size_t TunCharDevice::open_files() const {
  return registry_->files.load(std::memory_order_relaxed);
}

}  // namespace cusenet
