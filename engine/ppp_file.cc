#include "engine/ppp_file.h"

#include <cerrno>
#include <cstring>

#include "engine/channel.h"
#include "engine/ppp_registry.h"
#include "engine/unit.h"

namespace cusenet {

PppFile::PppFile(std::shared_ptr<PppRegistry> registry, Notify notify)
    : registry_(std::move(registry)), notify_(std::move(notify)) {
  registry_->files.fetch_add(1, std::memory_order_relaxed);
}

PppFile::~PppFile() {
  {
    std::lock_guard lock(registry_->mu);
    release_locked();
  }
  // The unit or channel may go with these, outside the mutex: nothing it
  // tears down needs it.
  unit_.reset();
  channel_.reset();
  registry_->files.fetch_sub(1, std::memory_order_relaxed);
}

ReadQueue& PppFile::read_queue() const {
  return kind_.load(std::memory_order_acquire) == Kind::unit ? unit_->read_queue()
                                                              : channel_->read_queue();
}

bool PppFile::reads_eof() const {
  return kind_.load(std::memory_order_acquire) == Kind::unit && unit_->reads_eof();
}

ssize_t PppFile::read(std::span<std::byte> buf) {
  if (kind_.load(std::memory_order_acquire) == Kind::none) return -ENXIO;
  ReadQueue& rq = read_queue();
  FramePtr frame = rq.pop();
  if (!frame) return rq.dead() || reads_eof() ? 0 : -EAGAIN;
  if (frame->size() > buf.size()) return -EOVERFLOW;
  std::memcpy(buf.data(), frame->data(), frame->size());
  return static_cast<ssize_t>(frame->size());
}

ssize_t PppFile::write(std::span<const std::byte> frame) {
  const Kind kind = kind_.load(std::memory_order_acquire);
  if (kind == Kind::none) return -ENXIO;
  if (frame.size() < 2) return -EINVAL;  // every frame starts with its protocol
  if (frame.size() > Frame::kMax) return -ENOMEM;
  if (kind == Kind::unit)
    unit_->write(make_frame(frame));
  else
    channel_->write(make_frame(frame));
  return static_cast<ssize_t>(frame.size());
}

PollMask PppFile::poll() {
  if (kind_.load(std::memory_order_acquire) == Kind::none) return 0;
  const ReadQueue& rq = read_queue();
  PollMask mask = POLLOUT | POLLWRNORM;
  if (!rq.empty()) mask |= POLLIN | POLLRDNORM;
  if (rq.dead())
    mask |= POLLHUP;
  else if (reads_eof())
    mask |= POLLIN | POLLRDNORM;
  return mask;
}

void PppFile::attach(std::shared_ptr<Unit> unit) {
  unit_ = std::move(unit);
  unit_->read_queue().attach(registry_->grace, &notify_);
  kind_.store(Kind::unit, std::memory_order_release);
}

void PppFile::attach(std::shared_ptr<Channel> channel) {
  channel_ = std::move(channel);
  channel_->read_queue().attach(registry_->grace, &notify_);
  kind_.store(Kind::channel, std::memory_order_release);
}

void PppFile::release() {
  std::lock_guard lock(registry_->mu);
  release_locked();
}

void PppFile::release_locked() {
  if (released_) return;
  released_ = true;
  switch (kind_.load(std::memory_order_acquire)) {
    case Kind::none:
      break;
    case Kind::unit:
      unit_->read_queue().detach(registry_->grace, &notify_);
      if (unit_->owner == this) unit_->shutdown();
      break;
    case Kind::channel:
      channel_->read_queue().detach(registry_->grace, &notify_);
      break;
  }
}

}  // namespace cusenet
