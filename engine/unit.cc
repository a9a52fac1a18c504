#include "engine/unit.h"

#include <linux/ppp-ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "engine/channel.h"
#include "engine/ppp_registry.h"

namespace cusenet {
namespace {

// idr_alloc's range in practice: a namespace never holds this many units.
constexpr int kMaxUnits = 1 << 16;

}  // namespace

Unit::Unit(PppRegistry& registry, int index, uint64_t netns)
    : registry_(registry), index_(index), netns_(netns), created_name_("ppp" + std::to_string(index)),
      last_xmit_(0), last_recv_(0) {
  // Idle since the unit was made (the kernel counts from a zeroed jiffies).
  last_xmit_ = last_recv_ = now_ns();
}

std::shared_ptr<Unit> Unit::make(PppRegistry& registry, const Caller& caller, uint64_t netns, int n,
                                 int* err) {
  std::shared_ptr<Unit> u(new Unit(registry, n, netns));
  Unit* raw = u.get();
  std::unique_ptr<Link> link = registry.factory.create(
      caller, u->created_name_, false, [raw](FramePtr f) { raw->deliver(std::move(f)); }, err);
  if (!link) {
    if (*err >= 0) *err = -EIO;
    return nullptr;
  }
  u->link_.store(link.get(), std::memory_order_release);
  u->link_owner_ = std::move(link);
  registry.units[{netns, n}] = u;
  CN_LOG(ppp, info) << "unit " << n << " (" << u->created_name_ << ") created for pid " << caller.pid
                    << " in netns " << netns;
  return u;
}

std::shared_ptr<Unit> Unit::create(PppRegistry& registry, const Caller& caller, uint64_t netns,
                                   int unit, int* err) {
  if (unit >= 0) {
    std::shared_ptr<Unit> u;
    if (registry.find_unit(netns, unit))
      *err = -EEXIST;
    else if (!(u = make(registry, caller, netns, unit, err)) && *err == -EBUSY)
      *err = -EEXIST;  // register_netdevice's answer to a name in use
    return u;
  }
  // The lowest number free in the idr whose "pppN" no other interface of
  // the namespace holds.
  for (int n = 0; n < kMaxUnits; ++n) {
    if (registry.find_unit(netns, n)) continue;
    if (std::shared_ptr<Unit> u = make(registry, caller, netns, n, err)) return u;
    if (*err != -EBUSY) return nullptr;
  }
  *err = -ENOSPC;
  return nullptr;
}

Unit::~Unit() {
  closing_.store(true, std::memory_order_release);
  xmit_serial_.wait_idle();
  recv_serial_.wait_idle();
}

int64_t Unit::now_ns() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(registry_.hooks.now().time_since_epoch())
      .count();
}

std::string Unit::name() const { return link_owner_ ? link_owner_->name() : created_name_; }

void Unit::shutdown() {
  if (closing_.exchange(true, std::memory_order_acq_rel)) return;
  const std::string last_name = name();
  registry_.units.erase({netns_, index_});
  owner = nullptr;
  link_.store(nullptr, std::memory_order_release);
  registry_.grace.synchronize();
  // Waits for a Deliver in progress; none starts afterwards.
  link_owner_.reset();
  rq_.kill();
  CN_LOG(ppp, info) << "unit " << index_ << " (" << last_name << ") destroyed";
}

void Unit::add_channel(Channel* channel) {
  channel_list_.push_back(channel);
  channels_.set(registry_.grace, channel_list_);
}

void Unit::remove_channel(Channel* channel) {
  std::erase(channel_list_, channel);
  channels_.set(registry_.grace, channel_list_);
}

void Unit::fill(PppDevice::UnitInfo* info) const {
  info->index = index_;
  info->ifname = name();
  info->netns = netns_;
  info->flags = flags_.load(std::memory_order_relaxed) | ccp_.state();
  info->mru = mru_.load(std::memory_order_relaxed);
  info->mrru = mrru_.load(std::memory_order_relaxed);
  info->debug = debug_.load(std::memory_order_relaxed);
  info->channels.clear();
  for (const Channel* c : channel_list_) info->channels.push_back(c->index());
  info->files = rq_.files();
  info->owner = owner != nullptr;
  info->xmit_queue = xq_.size();
  info->read_queue = rq_.size();
  info->mp_queue = mp_rx_.queued();
  info->rx_packets = rx_packets_.load(std::memory_order_relaxed);
  info->rx_bytes = rx_bytes_.load(std::memory_order_relaxed);
  info->rx_errors = rx_errors_.load(std::memory_order_relaxed);
  info->rx_dropped = rx_dropped_.load(std::memory_order_relaxed) + mp_rx_.dropped();
  info->rx_length_errors = rx_length_errors_.load(std::memory_order_relaxed) + mp_rx_.length_errors();
  info->tx_packets = tx_packets_.load(std::memory_order_relaxed);
  info->tx_bytes = tx_bytes_.load(std::memory_order_relaxed);
  info->tx_errors = tx_errors_.load(std::memory_order_relaxed);
  info->tx_dropped = tx_dropped_.load(std::memory_order_relaxed);
}

}  // namespace cusenet
