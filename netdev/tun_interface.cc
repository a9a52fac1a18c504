#include "netdev/tun_interface.h"

#include <linux/capability.h>
#include <net/if_arp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/capability.h"
#include "core/heap_trim.h"
#include "core/log.h"
#include "netdev/tun_frame.h"

namespace cusenet {
namespace {
// The queue whose reader is pulling on this thread, if it takes the frame
// itself (deliver runs inside the pull).
thread_local const TunQueue* t_pulling_for = nullptr;
}  // namespace

TunInterface::TunInterface(unsigned flags)
    : flags_(flags), vnet_hdr_sz_(sizeof(TunVnetHeader)), published_(new QueueSet),
      flows_(flags & IFF_MULTI_QUEUE ? std::make_unique<TunFlowTable>() : nullptr) {
  link_type = (flags & TUN_TYPE_MASK) == IFF_TAP ? ARPHRD_ETHER : ARPHRD_NONE;
}

std::shared_ptr<TunInterface> TunInterface::create(LinkFactory& factory, const Caller& caller,
                                                   const std::string& name, unsigned flags,
                                                   int* err) {
  std::shared_ptr<TunInterface> t(new TunInterface(flags));
  TunInterface* raw = t.get();
  int e = 0;
  std::unique_ptr<Link> link = factory.create(
      caller, name, (flags & TUN_TYPE_MASK) == IFF_TAP,
      [raw](FramePtr frame) { raw->deliver(std::move(frame)); }, &e);
  if (!link) {
    *err = e < 0 ? e : -EIO;
    return nullptr;
  }
  t->name_ = link->name();
  t->netns_ = link->netns();
  if (caller.net_ns) t->user_ns_ = caller.net_ns->owner(&e);
  // "tun" for tun and tap alike, as the kernel's IFLA_INFO_KIND. The
  // counters are read until unpublish(), which runs before this object goes.
  auto netdev = std::make_shared<NetDevice>(
      NetDevice::Identity{"tun", t->link_type, t->netns_, link->ifindex(), t->name_},
      [raw] {
        LinkStats st;
        st.rx_packets = raw->rx_packets_.load(std::memory_order_relaxed);
        st.rx_bytes = raw->rx_bytes_.load(std::memory_order_relaxed);
        st.rx_dropped = raw->rx_dropped_.load(std::memory_order_relaxed);
        st.tx_packets = raw->tx_packets_.load(std::memory_order_relaxed);
        st.tx_bytes = raw->tx_bytes_.load(std::memory_order_relaxed);
        st.tx_dropped = raw->tx_dropped_.load(std::memory_order_relaxed);
        return st;
      },
      [raw](bool up) {
        if (up) raw->wake_writers();
      });
  t->iface_.adopt(std::move(link), std::move(netdev));
  t->iface_.publish(factory.table());
  CN_LOG(tun, debug) << t->name_ << " is ifindex " << t->iface_.netdev().ifindex();
  return t;
}

TunInterface::~TunInterface() {
  // The Link's destructor waits for its Deliver callbacks; only then can
  // the queue set go. After destroy() the Link is already gone.
  iface_.shutdown(grace_);
  delete published_.load(std::memory_order_acquire);
  heap_trim::note_teardown();
}

std::string TunInterface::name() const {
  const Link* link = iface_.link();
  return link ? link->name() : name_;
}

void TunInterface::set_flags(unsigned clear, unsigned set) {
  flags_.store((flags() & ~clear) | set, std::memory_order_relaxed);
}

bool TunInterface::not_capable(const Caller& caller) const {
  const bool owner_differs = owner != static_cast<uid_t>(-1) && caller.euid != owner;
  const bool group_differs = group != static_cast<gid_t>(-1) && !caller.in_group(group);
  return (owner_differs || group_differs) &&
         !ns_capable(caller, user_ns_ ? *user_ns_ : initial_user_ns(), CAP_NET_ADMIN);
}

int TunInterface::set_carrier(bool on) {
  if (int err = iface_.link()->set_carrier(on); err < 0) {
    CN_LOG(tun, warning) << name() << ": the link refused carrier " << (on ? "on" : "off") << ": "
                         << std::strerror(-err);
    return err;
  }
  carrier_ = on;
  iface_.netdev().set_carrier(on);
  return 0;
}

void TunInterface::publish() {
  const QueueSet* old = published_.exchange(new QueueSet{queues_}, std::memory_order_acq_rel);
  grace_.synchronize();
  delete old;
  if (flows_) flows_->clear();
}

void TunInterface::remove_enabled(TunQueue* q) {
  // As __tun_detach: the last queue takes the leaving one's index.
  unsigned i = q->index.load(std::memory_order_relaxed);
  queues_[i] = queues_.back();
  queues_[i]->index.store(i, std::memory_order_relaxed);
  queues_.pop_back();
}

int TunInterface::attach(TunQueue* q) {
  if (!multi_queue() && queues_.size() == 1) return -EBUSY;
  if (attached_files() == kTunMaxQueues) return -E2BIG;
  q->keep = shared_from_this();
  q->disabled.store(false, std::memory_order_relaxed);
  q->index.store(static_cast<unsigned>(queues_.size()), std::memory_order_relaxed);
  queues_.push_back(q);
  publish();
  q->iface.store(this, std::memory_order_release);
  return 0;
}

void TunInterface::enable(TunQueue* q) {
  disabled_.erase(std::find(disabled_.begin(), disabled_.end(), q));
  q->disabled.store(false, std::memory_order_relaxed);
  q->index.store(static_cast<unsigned>(queues_.size()), std::memory_order_relaxed);
  queues_.push_back(q);
  publish();
}

void TunInterface::disable(TunQueue* q) {
  remove_enabled(q);
  disabled_.push_back(q);
  q->disabled.store(true, std::memory_order_relaxed);
  publish();
  q->ring.clear();
}

bool TunInterface::detach(TunQueue* q) {
  if (q->disabled.load(std::memory_order_relaxed)) {
    disabled_.erase(std::find(disabled_.begin(), disabled_.end(), q));
    q->disabled.store(false, std::memory_order_relaxed);
  } else {
    remove_enabled(q);
    publish();
    q->ring.clear();
  }
  q->iface.store(nullptr, std::memory_order_release);
  return attached_files() == 0;
}

void TunInterface::destroy() {
  const std::string last_name = name();
  std::vector<TunQueue*> orphans = queues_;
  orphans.insert(orphans.end(), disabled_.begin(), disabled_.end());
  queues_.clear();
  disabled_.clear();
  for (TunQueue* q : orphans) {
    q->iface.store(nullptr, std::memory_order_release);
    q->disabled.store(false, std::memory_order_relaxed);
  }
  // RTM_DELLINK first; the queue set and the Link then retire in one grace
  // period.
  iface_.unpublish();
  const QueueSet* old = published_.exchange(new QueueSet, std::memory_order_acq_rel);
  iface_.shutdown(grace_);
  delete old;
  for (TunQueue* q : orphans) {
    q->ring.clear();
    q->notify();
  }
  CN_LOG(tun, info) << last_name << " destroyed";
}

void TunInterface::fill(TunCharDevice::InterfaceInfo* info) const {
  info->name = name();
  info->netns = netns_;
  info->flags = flags() & (kTunFeatures | IFF_PERSIST | IFF_TUN | IFF_TAP);
  info->persist = flags() & IFF_PERSIST;
  info->carrier = carrier_;
  info->queues = static_cast<int>(attached_files());
  info->owner = owner;
  info->group = group;
  info->rx_packets = rx_packets_.load(std::memory_order_relaxed);
  info->rx_bytes = rx_bytes_.load(std::memory_order_relaxed);
  info->rx_dropped = rx_dropped_.load(std::memory_order_relaxed);
  info->tx_packets = tx_packets_.load(std::memory_order_relaxed);
  info->tx_bytes = tx_bytes_.load(std::memory_order_relaxed);
  info->tx_dropped = tx_dropped_.load(std::memory_order_relaxed);
}

void TunInterface::wake_writers() {
  TunGrace::Reader reader(grace_);
  for (TunQueue* q : published_.load(std::memory_order_acquire)->queues) q->notify();
}

void TunInterface::deliver(FramePtr frame) {
  // Taps see what the stack sent before the driver may drop it.
  if (CaptureTap* ct = iface_.capture()) ct->transmitted(frame->bytes());
  TunGrace::Reader reader(grace_);
  const QueueSet* set = published_.load(std::memory_order_acquire);
  const size_t n = set->queues.size();
  if (n == 0) {  // no file attached: the kernel drops too
    tx_dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  size_t i = 0;
  if (n > 1 && flows_) {
    uint32_t hash = tun_flow_hash(frame->bytes(), tap());
    int recorded = flows_->lookup(hash, static_cast<unsigned>(n));
    i = recorded >= 0 ? static_cast<size_t>(recorded) : (uint64_t{hash} * n) >> 32;
  }
  TunQueue* q = set->queues[i];
  if (q->ring.push(std::move(frame))) {
    tx_dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (q != t_pulling_for) q->notify();
}

ssize_t TunInterface::write(std::span<const std::byte> in, const TunQueue& from) {
  TunGrace::Reader reader(grace_);
  Link* link = iface_.packet_link();
  if (!link) return -EBADFD;
  const bool is_tap = tap();
  TunWrite w;
  if (int err = tun_get_frame({flags(), static_cast<size_t>(vnet_hdr_sz())}, in, &w)) {
    if (w.dropped) rx_dropped_.fetch_add(1, std::memory_order_relaxed);
    CN_LOG(tun, debug) << name_ << ": write of " << in.size() << " bytes refused: " << w.why;
    return err;
  }
  if (CaptureTap* ct = iface_.capture()) ct->received(w.payload);
  int err;
  if (w.needs_csum) {
    std::vector<std::byte> copy(w.payload.begin(), w.payload.end());
    tun_complete_checksum(copy, w.vnet.csum_start, w.vnet.csum_offset);
    err = link->receive(copy);
  } else {
    err = link->receive(w.payload);
  }
  if (err < 0) {
    if (err != -EAGAIN) rx_dropped_.fetch_add(1, std::memory_order_relaxed);
    CN_LOG(tun, debug) << name_ << ": the stack refused a frame: " << std::strerror(-err);
    return err;
  }
  rx_packets_.fetch_add(1, std::memory_order_relaxed);
  rx_bytes_.fetch_add(w.payload.size(), std::memory_order_relaxed);
  // Remember the queue of this flow so that replies come back to it.
  if (flows_ && published_.load(std::memory_order_acquire)->queues.size() > 1 &&
      !from.disabled.load(std::memory_order_relaxed))
    flows_->update(tun_flow_hash(w.payload, is_tap), from.index.load(std::memory_order_relaxed));
  return static_cast<ssize_t>(in.size());
}

bool TunInterface::pull(const TunQueue* reader) {
  TunGrace::Reader section(grace_);
  Link* link = iface_.packet_link();
  if (!link) return false;
  t_pulling_for = reader;
  const bool pulled = link->pull();
  t_pulling_for = nullptr;
  return pulled;
}

ssize_t TunInterface::read(const Frame& frame, std::span<std::byte> buf) {
  ssize_t n = tun_put_frame({flags(), static_cast<size_t>(vnet_hdr_sz())}, frame.bytes(), buf);
  if (n < 0) {
    CN_LOG(tun, debug) << name_ << ": a read of " << buf.size()
                       << " bytes cannot hold the frame headers; frame dropped";
    return n;
  }
  tx_packets_.fetch_add(1, std::memory_order_relaxed);
  tx_bytes_.fetch_add(frame.size(), std::memory_order_relaxed);
  return n;
}

}  // namespace cusenet
