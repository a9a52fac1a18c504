#include "netdev/net_device.h"

#include <linux/rtnetlink.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/log.h"

namespace cusenet {

NetDevice::NetDevice(Identity id, StatsFn stats, OpenFn open)
    : id_(std::move(id)), stats_(std::move(stats)), open_(std::move(open)),
      capture_(id_.type, id_.ifindex),
      name_(id_.name) {}

void NetDevice::set_carrier(bool on) {
  std::lock_guard lock(mu_);
  LinkState before = state_locked();
  driver_carrier_ = on;
  if (op_.set_carrier(driver_carrier_ && medium_carrier_)) commit(before);
}

void NetDevice::set_dormant(bool on) {
  std::lock_guard lock(mu_);
  LinkState before = state_locked();
  if (op_.set_dormant(on)) commit(before);
}

bool NetDevice::carrier() const {
  std::lock_guard lock(mu_);
  return op_.carrier();
}

void NetDevice::bind(Link* link) {
  std::lock_guard lock(mu_);
  link_ = link;
  if (!link && stats_) {
    last_stats_ = stats_();
    stats_ = nullptr;
  }
  if (!link) open_ = nullptr;
}

void NetDevice::stack_changed(const LinkEvent& e) {
  std::lock_guard lock(mu_);
  stack_changed_locked(e);
}

bool NetDevice::up_now() {
  std::lock_guard lock(mu_);
  LinkEvent now;
  if (link_ && link_->query(&now) == 0) stack_changed_locked(now);
  return op_.admin_up();
}

void NetDevice::stack_changed_locked(const LinkEvent& e) {
  LinkState before = state_locked();
  op_.set_admin_up(e.up);
  if (e.carrier) {
    medium_carrier_ = *e.carrier;
    op_.set_carrier(driver_carrier_ && medium_carrier_);
  }
  if (e.mtu) mtu_ = e.mtu;
  if (!e.name.empty()) name_ = e.name;
  commit(before);
  // The stack runs its policy later than we do (linkwatch), so a userspace
  // DORMANT/UP mirrored onto it can arrive while it still sees the carrier
  // down, and be refused there. Once it settles on the other one of the
  // two, it gets ours again.
  const uint8_t ours = op_.reported();
  const auto userspace_state = [](uint8_t s) { return s == IF_OPER_UP || s == IF_OPER_DORMANT; };
  if (link_ && e.up && userspace_state(ours) && userspace_state(e.operstate) && ours != e.operstate) {
    LinkRequest again;
    again.operstate = ours;
    link_->set_link(again);
  }
}

int NetDevice::setlink(const LinkRequest& r) {
  std::lock_guard lock(mu_);
  if (!link_) return -ENODEV;
  // The stack's interface first, so that it refuses what it would refuse
  // (an MTU out of range) and its own operstate follows ours. A backend with
  // no stack behind it leaves the whole state to us.
  int err = link_->set_link(r);
  if (err < 0 && err != -EOPNOTSUPP) return err;
  LinkState before = state_locked();
  if (r.mtu) mtu_ = *r.mtu;
  if (r.up) op_.set_admin_up(*r.up);
  if (r.operstate) op_.set_operstate(*r.operstate);
  if (r.linkmode) op_.set_linkmode(*r.linkmode);
  commit(before);
  return 0;
}

std::string NetDevice::name() const {
  std::lock_guard lock(mu_);
  return name_;
}

LinkState NetDevice::state() const {
  std::lock_guard lock(mu_);
  return state_locked();
}

LinkState NetDevice::state_locked() const {
  LinkState s;
  s.ifindex = id_.ifindex;
  s.netns = id_.netns;
  s.name = name_;
  s.kind = id_.kind;
  s.type = id_.type;
  s.flags = op_.flags();
  s.operstate = op_.reported();
  s.linkmode = op_.linkmode();
  s.carrier = op_.carrier();
  s.mtu = mtu_;
  s.stats = stats_ ? stats_() : last_stats_;
  return s;
}

void NetDevice::commit(const LinkState& before) {
  LinkState after = state_locked();
  const bool up = after.flags & IFF_UP;
  capture_.set_up(up);
  up_.store(up, std::memory_order_release);
  if (((before.flags ^ after.flags) & IFF_UP) && open_) open_(up);
  const bool always = ((before.flags ^ after.flags) & IFF_UP) || before.mtu != after.mtu ||
                      before.name != after.name;
  const bool state_changed = before.flags != after.flags || before.operstate != after.operstate ||
                             before.linkmode != after.linkmode || before.carrier != after.carrier;
  if (!always && !(state_changed && (after.flags & IFF_UP))) return;
  CN_LOG(netdev, debug) << after.name << ": flags 0x" << std::hex << after.flags << std::dec
                        << " operstate " << operstate_name(after.operstate) << " linkmode "
                        << int{after.linkmode} << " mtu " << after.mtu;
  if (table_) table_->announce(RTM_NEWLINK, after, before.flags ^ after.flags);
}

void publish_netdev(const std::shared_ptr<NetDevice>& dev, Link& link, LinkTable* table) {
  dev->bind(&link);
  link.watch([dev](const LinkEvent& e) { dev->stack_changed(e); });
  if (table) table->add(dev);
}

void withdraw_netdev(NetDevice& dev, Link& link, LinkTable* table) {
  if (table) table->remove(dev);
  dev.bind(nullptr);
  link.watch({});
}

void LinkTable::add(std::shared_ptr<NetDevice> dev) {
  {
    std::lock_guard lock(mu_);
    devices_.push_back(dev);
  }
  std::lock_guard lock(dev->mu_);
  dev->table_ = this;
  announce(RTM_NEWLINK, dev->state_locked(), ~0u);
}

void LinkTable::remove(NetDevice& dev) {
  // Gone from queries before anyone hears it is gone.
  {
    std::lock_guard lock(mu_);
    std::erase_if(devices_, [&dev](const auto& d) { return d.get() == &dev; });
  }
  std::lock_guard lock(dev.mu_);
  announce(RTM_DELLINK, dev.state_locked(), ~0u);
  dev.table_ = nullptr;
}

std::vector<std::shared_ptr<NetDevice>> LinkTable::in_netns(uint64_t netns) const {
  std::vector<std::shared_ptr<NetDevice>> out;
  {
    std::lock_guard lock(mu_);
    for (const auto& d : devices_)
      if (d->netns() == netns) out.push_back(d);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a->ifindex() < b->ifindex(); });
  return out;
}

std::shared_ptr<NetDevice> LinkTable::by_index(uint64_t netns, int ifindex) const {
  std::lock_guard lock(mu_);
  for (const auto& d : devices_)
    if (d->netns() == netns && d->ifindex() == ifindex) return d;
  return nullptr;
}

std::shared_ptr<NetDevice> LinkTable::by_name(uint64_t netns, const std::string& name) const {
  std::lock_guard lock(mu_);
  for (const auto& d : devices_)
    if (d->netns() == netns && d->name() == name) return d;
  return nullptr;
}

int LinkTable::subscribe(Listener listener) {
  std::lock_guard lock(listeners_mu_);
  int id = next_id_++;
  listeners_.emplace(id, std::move(listener));
  return id;
}

void LinkTable::unsubscribe(int id) {
  std::lock_guard lock(listeners_mu_);
  listeners_.erase(id);
}

void LinkTable::announce(uint16_t type, const LinkState& state, unsigned change) {
  std::lock_guard lock(listeners_mu_);
  for (auto& [id, listener] : listeners_) listener(type, state, change);
}

}  // namespace cusenet
