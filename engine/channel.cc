#include "engine/channel.h"

#include <cerrno>

#include "core/heap_trim.h"
#include "core/log.h"
#include "engine/ppp_proto.h"
#include "engine/ppp_registry.h"
#include "engine/unit.h"

namespace cusenet {
namespace {

constexpr int kPushBatch = 64;  // start_xmit calls per grace Reader

}  // namespace

Channel::Channel(PppRegistry& registry, PppChannelOps& ops, int index, uint64_t netns, int mtu)
    : registry_(registry), index_(index), netns_(netns), mtu_(mtu), ops_(&ops) {}

Channel::~Channel() {
  push_serial_.wait_idle();
  heap_trim::note_teardown();
}

int Channel::connect(std::shared_ptr<Unit> unit) {
  if (unit_ref_ || bridge_ref_) return -EINVAL;
  if (!registered_) return -ENOTCONN;
  // The channel knows its unit before the unit sends on it, so a drained
  // channel always has a unit to wake.
  unit_number_.store(unit->index(), std::memory_order_release);
  unit_.store(unit.get(), std::memory_order_release);
  unit->add_channel(this);
  unit_ref_ = std::move(unit);
  return 0;
}

int Channel::disconnect() {
  if (!unit_ref_) return -EINVAL;
  unit_.store(nullptr, std::memory_order_release);
  unit_number_.store(-1, std::memory_order_release);
  // Waits out the packet path: nobody still holds either pointer after it.
  unit_ref_->remove_channel(this);
  unit_ref_.reset();
  return 0;
}

int Channel::bridge(Channel& other) {
  // Bridging a channel to itself fails too: the second check sees the
  // first side already set, as in ppp_bridge_channels.
  if (unit_ref_ || bridge_ref_ || &other == this) return -EALREADY;
  if (other.unit_ref_ || other.bridge_ref_) return -EALREADY;
  bridge_ref_ = other.shared_from_this();
  bridge_.store(&other, std::memory_order_release);
  other.bridge_ref_ = shared_from_this();
  other.bridge_.store(this, std::memory_order_release);
  return 0;
}

int Channel::unbridge() {
  if (!bridge_ref_) return -EINVAL;
  std::shared_ptr<Channel> other = std::move(bridge_ref_);
  bridge_.store(nullptr, std::memory_order_release);
  std::shared_ptr<Channel> self;
  if (other->bridge_ref_.get() == this) {
    other->bridge_.store(nullptr, std::memory_order_release);
    self = std::move(other->bridge_ref_);
  }
  registry_.grace.synchronize();
  return 0;  // the references go last, with the frames no longer crossing
}

void Channel::unregister() {
  if (!registered_) return;
  registered_ = false;
  {
    // A running ops ioctl finishes first; none starts afterwards.
    std::lock_guard lock(ioctl_mu_);
    ops_.store(nullptr, std::memory_order_release);
  }
  // Every start_xmit runs inside a Reader with the pointer it loaded there.
  registry_.grace.synchronize();
  disconnect();
  unbridge();
  rq_.kill();
  registry_.channels.erase({netns_, index_});
  CN_LOG(ppp, info) << "channel " << index_ << " unregistered";
}

void Channel::fill(PppDevice::ChannelInfo* info) const {
  info->index = index_;
  info->netns = netns_;
  info->unit = unit_number();
  info->unit_dead = unit_ref_ && unit_ref_->dead();
  info->bridge = bridge_ref_ ? bridge_ref_->index_ : -1;
  info->mtu = mtu_;
  info->files = rq_.files();
  info->xmit_queue = queued_.load(std::memory_order_relaxed);
  info->read_queue = rq_.size();
}

long Channel::ops_ioctl(const Caller& caller, unsigned cmd, uint64_t arg, UserMemory& mem) {
  std::lock_guard lock(ioctl_mu_);
  PppChannelOps* ops = ops_.load(std::memory_order_acquire);
  return ops ? ops->ioctl(caller, cmd, arg, mem) : -ENOTTY;
}

void Channel::input(FramePtr frame) {
  PacketScope scope;
  TunGrace::Reader reader(registry_.grace);
  if (!usable()) return;
  if (Channel* b = bridge_.load(std::memory_order_acquire)) {
    b->transmit(std::move(frame));
    return;
  }
  if (frame->size() >= 1 && frame->size() < Frame::kMax &&
      (static_cast<uint8_t>(frame->data()[0]) & 1))
    frame = expand_protocol(*frame);
  Unit* unit = unit_.load(std::memory_order_acquire);
  if (frame->size() < 2) {
    if (unit) unit->receive_length_error();
    return;
  }
  const uint16_t proto = ppp_protocol(*frame);
  if (!unit || proto >= 0xc000 || proto == PPP_CCPFRAG) {
    rq_.push(std::move(frame));
    return;
  }
  unit->receive(std::move(frame), index_);
}

void Channel::input_error() {
  PacketScope scope;
  TunGrace::Reader reader(registry_.grace);
  if (!usable()) return;
  // A zero-length frame: the unit's receive side counts it as an error.
  if (Unit* unit = unit_.load(std::memory_order_acquire)) unit->receive(make_frame(size_t{0}), index_);
}

void Channel::output_wakeup() {
  PacketScope scope;
  TunGrace::Reader reader(registry_.grace);
  push_serial_.request(registry_.grace, this, &Channel::push_body);
}

void Channel::write(FramePtr frame) {
  PacketScope scope;
  TunGrace::Reader reader(registry_.grace);
  transmit(std::move(frame));
}

void Channel::transmit(FramePtr frame) {
  queued_.fetch_add(1, std::memory_order_acq_rel);
  if (xq_.push(std::move(frame))) queued_.fetch_sub(1, std::memory_order_acq_rel);
  push_serial_.request(registry_.grace, this, &Channel::push_body);
}

bool Channel::push_body(void* self) { return static_cast<Channel*>(self)->push(); }

bool Channel::push() {
  PppChannelOps* ops = ops_.load(std::memory_order_acquire);
  if (!ops) {
    purge();
    return false;
  }
  int sent = 0;
  bool refused = false;
  while (sent < kPushBatch) {
    FramePtr f = refused_ ? std::move(refused_) : xq_.pop();
    if (!f) break;
    if (FramePtr back = ops->start_xmit(std::move(f))) {
      refused_ = std::move(back);  // offered again first, after output_wakeup
      refused = true;
      break;
    }
    queued_.fetch_sub(1, std::memory_order_acq_rel);
    ++sent;
  }
  // Drained: the unit may have a frame waiting for this channel.
  if (tx_idle())
    if (Unit* unit = unit_.load(std::memory_order_acquire)) unit->kick_xmit();
  return !refused && sent == kPushBatch && !xq_.empty();
}

void Channel::purge() {
  size_t n = refused_ ? 1 : 0;
  refused_.reset();
  while (xq_.pop()) ++n;
  queued_.fetch_sub(n, std::memory_order_acq_rel);
}

}  // namespace cusenet
