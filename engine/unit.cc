#include "engine/unit.h"

#include <linux/ppp-ioctl.h>
#include <net/if_arp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/heap_trim.h"
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
  // The counters are read until unpublish(), which runs before this unit goes.
  auto netdev = std::make_shared<NetDevice>(
      NetDevice::Identity{"ppp", ARPHRD_PPP, netns, link->ifindex(), link->name()}, [raw] {
        // ppp_get_stats64.
        LinkStats st;
        st.rx_packets = raw->rx_packets_.load(std::memory_order_relaxed);
        st.rx_bytes = raw->rx_bytes_.load(std::memory_order_relaxed);
        st.rx_dropped = raw->rx_dropped_.load(std::memory_order_relaxed) + raw->mp_rx_.dropped();
        st.tx_packets = raw->tx_packets_.load(std::memory_order_relaxed);
        st.tx_bytes = raw->tx_bytes_.load(std::memory_order_relaxed);
        st.tx_dropped = raw->tx_dropped_.load(std::memory_order_relaxed);
        return st;
      });
  u->iface_.adopt(std::move(link), std::move(netdev));
  // No channel yet: the first RTM_NEWLINK already shows no carrier.
  u->update_carrier();
  u->iface_.publish(registry.factory.table());
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
  iface_.unpublish();
  closing_.store(true, std::memory_order_release);
  xmit_serial_.wait_idle();
  recv_serial_.wait_idle();
  heap_trim::note_teardown();
}

int64_t Unit::now_ns() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(registry_.hooks.now().time_since_epoch())
      .count();
}

std::string Unit::name() const {
  const Link* link = iface_.link();
  return link ? link->name() : created_name_;
}

void Unit::shutdown() {
  if (closing_.exchange(true, std::memory_order_acq_rel)) return;
  const std::string last_name = name();
  registry_.units.erase({netns_, index_});
  owner = nullptr;
  // The attached files hang up first: whoever sees the interface gone
  // (ppp_shutdown_interface has done both by the time close() returns)
  // finds them hung up too.
  rq_.kill();
  // RTM_DELLINK before the interface goes from the stack.
  iface_.shutdown(registry_.grace);
  CN_LOG(ppp, info) << "unit " << index_ << " (" << last_name << ") destroyed";
}

void Unit::add_channel(Channel* channel) {
  channel_list_.push_back(channel);
  channels_.set(registry_.grace, channel_list_);
  update_carrier();
}

void Unit::remove_channel(Channel* channel) {
  std::erase(channel_list_, channel);
  channels_.set(registry_.grace, channel_list_);
  update_carrier();
}

// The kernel differs here: ppp_generic never calls netif_carrier_on/off, so
// a kernel pppN keeps the carrier alloc_netdev gave it (IFF_LOWER_UP always)
// and its operstate stays IF_OPER_UNKNOWN for its whole life; `ip link` shows
// "state UNKNOWN". The unit instead reports what the interface can carry,
// as issue 5 asks (a monitor sees the link come and go with its channels):
// carrier on while at least one channel is connected (PPPIOCCONNECT; off on
// PPPIOCDISCONN and when the channel is unregistered by a tty hangup or the
// N_PPP close), so the operstate is DOWN without one and UP with one.
// SC_LOOP_TRAFFIC counts as connected, as it does for ppp_read's EOF: in
// demand mode pppd brings the interface up with no channel and waits for the
// stack to send on it, which a kernel interface without carrier would not
// do (its qdisc is deactivated), so demand dialling would never start.
void Unit::update_carrier() {
  const bool on = !channel_list_.empty() || (flags_.load(std::memory_order_relaxed) & SC_LOOP_TRAFFIC);
  // ppp_disconnect_channel wakes the readers when the last channel goes.
  if (reads_eof_.exchange(!on, std::memory_order_acq_rel) != !on && !on) rq_.wake();
  Link* link = iface_.link();
  if (!link) return;  // shut down: the interface has left the stack
  if (on == iface_.netdev().carrier()) return;
  // TUNSETCARRIER on a kernel interface. Our state follows the channels
  // even if the stack refuses, so that the table says what the unit does.
  if (int err = link->set_carrier(on); err < 0)
    CN_LOG(ppp, warning) << name() << ": the link refused carrier " << (on ? "on" : "off") << ": "
                         << std::strerror(-err);
  iface_.netdev().set_carrier(on);
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

void Unit::get_stats(ppp_stats* st) const {
  // The kernel's fields are 32 bits: the counters wrap there as here.
  std::memset(st, 0, sizeof *st);
  st->p.ppp_ipackets = static_cast<uint32_t>(rx_packets_.load(std::memory_order_relaxed));
  st->p.ppp_ierrors = static_cast<uint32_t>(rx_errors_.load(std::memory_order_relaxed));
  st->p.ppp_ibytes = static_cast<uint32_t>(rx_bytes_.load(std::memory_order_relaxed));
  st->p.ppp_opackets = static_cast<uint32_t>(tx_packets_.load(std::memory_order_relaxed));
  st->p.ppp_oerrors = static_cast<uint32_t>(tx_errors_.load(std::memory_order_relaxed));
  st->p.ppp_obytes = static_cast<uint32_t>(tx_bytes_.load(std::memory_order_relaxed));
  const VjCompression* vj = vj_.get().get();
  if (!vj) return;
  const VjCompression::Stats v = vj->stats();
  st->vj.vjs_packets = static_cast<uint32_t>(v.out_packets);
  st->vj.vjs_compressed = static_cast<uint32_t>(v.out_compressed);
  st->vj.vjs_searches = static_cast<uint32_t>(v.out_searches);
  st->vj.vjs_misses = static_cast<uint32_t>(v.out_misses);
  st->vj.vjs_errorin = static_cast<uint32_t>(v.in_errors);
  st->vj.vjs_tossed = static_cast<uint32_t>(v.in_tossed);
  st->vj.vjs_uncompressedin = static_cast<uint32_t>(v.in_uncompressed);
  st->vj.vjs_compressedin = static_cast<uint32_t>(v.in_compressed);
}

namespace {

void to_compstat(const CompStats& c, compstat* out) {
  out->unc_bytes = static_cast<uint32_t>(c.unc_bytes);
  out->unc_packets = static_cast<uint32_t>(c.unc_packets);
  out->comp_bytes = static_cast<uint32_t>(c.comp_bytes);
  out->comp_packets = static_cast<uint32_t>(c.comp_packets);
  out->inc_bytes = static_cast<uint32_t>(c.inc_bytes);
  out->inc_packets = static_cast<uint32_t>(c.inc_packets);
  out->in_count = static_cast<uint32_t>(c.in_count);
  out->bytes_out = static_cast<uint32_t>(c.bytes_out);
}

}  // namespace

void Unit::get_comp_stats(ppp_comp_stats* st) const {
  std::memset(st, 0, sizeof *st);
  CompStats c;
  if (ccp_.tx_stats(&c)) to_compstat(c, &st->c);
  if (ccp_.rx_stats(&c)) to_compstat(c, &st->d);
}

}  // namespace cusenet
