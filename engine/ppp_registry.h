#pragma once
// State shared by the ppp device, its open files and its channels, which may
// outlive it: the units and channels of every network namespace (the
// kernel's per-net ppp_net), the control-plane mutex and the grace period of
// the packet path.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "engine/ppp_hooks.h"
#include "netdev/link.h"
#include "netdev/tun_grace.h"

namespace cusenet {

class Unit;
class Channel;

struct PppRegistry {
  PppRegistry(LinkFactory& f, PppHooks h) : factory(f), hooks(std::move(h)) {}

  using Key = std::pair<uint64_t, int>;  // network namespace, number

  LinkFactory& factory;
  const PppHooks hooks;
  // The kernel's ppp_mutex, all_ppp_mutex and all_channels_lock in one:
  // every control-plane change happens under it.
  mutable std::mutex mu;
  // The packet path reads published pointers inside a Reader; whoever
  // unpublishes one waits out the readers before freeing it.
  TunGrace grace;

  // Guarded by mu.
  bool closed = false;                               // the device is gone
  std::map<Key, std::shared_ptr<Unit>> units;        // registered units (the idr)
  std::map<Key, std::shared_ptr<Channel>> channels;  // registered channels
  std::map<uint64_t, int> last_channel_index;        // per namespace
  std::atomic<size_t> files{0};

  std::shared_ptr<Unit> find_unit(uint64_t netns, int n) const {
    auto it = units.find({netns, n});
    return it == units.end() ? nullptr : it->second;
  }
  std::shared_ptr<Channel> find_channel(uint64_t netns, int n) const {
    auto it = channels.find({netns, n});
    return it == channels.end() ? nullptr : it->second;
  }
};

}  // namespace cusenet
