#pragma once
// State shared by the tun device and its open files, which may outlive it:
// the interfaces, the control-plane mutex (the kernel's rtnl_lock) and the
// live file count.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/task_thread.h"
#include "netdev/link.h"
#include "netdev/tun_interface.h"

namespace cusenet {

struct TunRegistry {
  explicit TunRegistry(LinkFactory& f) : factory(f) {}

  LinkFactory& factory;
  std::mutex mu;
  // Guarded by mu, as is every interface's and file's control-plane state.
  std::vector<std::shared_ptr<TunInterface>> interfaces;
  bool closed = false;  // the device is gone: no new interfaces
  std::atomic<size_t> files{0};

  // By the name the interface has now: it may have been renamed since it
  // was created (`ip link set name`), as __dev_get_by_name sees it.
  std::shared_ptr<TunInterface> find(uint64_t netns, const std::string& name) const {
    for (const auto& t : interfaces)
      if (t->netns() == netns && t->name() == name) return t;
    return nullptr;
  }
  void erase(const TunInterface* t) {
    std::erase_if(interfaces, [t](const auto& p) { return p.get() == t; });
  }
  // A new interface, until erased; mu is held. Deleted from outside (its
  // Link's on_gone), it is destroyed as the kernel's tun_net_uninit does,
  // detaching its files.
  void add(const std::shared_ptr<TunInterface>& t);

 private:
  void unregister_deleted(const std::weak_ptr<TunInterface>& gone);

  // Last, so that it stops first: its tasks use the members above. The
  // Link reports on its I/O thread, which must not wait for mu (holders of
  // mu wait for that thread when they destroy a Link); this thread may.
  TaskThread deletions_;
};

}  // namespace cusenet
