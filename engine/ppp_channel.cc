#include "engine/ppp_channel.h"

#include <cassert>
#include <mutex>

#include "engine/channel.h"
#include "engine/ppp_registry.h"
#include "engine/serializer.h"

namespace cusenet {

PppChannel::PppChannel(std::shared_ptr<PppRegistry> registry, std::shared_ptr<Channel> channel)
    : registry_(std::move(registry)), channel_(std::move(channel)) {}

PppChannel::~PppChannel() { unregister(); }

int PppChannel::index() const { return channel_->index(); }

int PppChannel::unit_number() const { return channel_->unit_number(); }

void PppChannel::input(FramePtr frame) { channel_->input(std::move(frame)); }

void PppChannel::input_error() { channel_->input_error(); }

void PppChannel::output_wakeup() { channel_->output_wakeup(); }

void PppChannel::unregister() {
  // It waits for the packet path, which would then be waiting for itself.
  assert(!PacketScope::active() && "unregister() from inside a channel callback");
  std::lock_guard lock(registry_->mu);
  channel_->unregister();
}

}  // namespace cusenet
