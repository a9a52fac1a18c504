#pragma once
// The bare device: every frame written to an open file is queued and read
// back unchanged from that same file. No engine behind it, so benchmarks
// through it measure the transport's own ceiling.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/file.h"

namespace cusenet {

class EchoDevice final : public Device {
 public:
  // queue_len: frames an open file holds before it drops writes, as the
  // kernel's tun drops at tx_queue_len (500).
  explicit EchoDevice(size_t queue_len = 500) : queue_len_(queue_len) {}

  const char* name() const override { return "cusenet-echo"; }
  unsigned mode() const override { return 0666; }
  std::shared_ptr<OpenFile> open(const Caller& caller, int flags, Notify notify,
                                 int* err) override;

  // Frames refused because their file's queue was full.
  uint64_t dropped() const { return dropped_->load(std::memory_order_relaxed); }

 private:
  size_t queue_len_;
  std::shared_ptr<std::atomic<uint64_t>> dropped_ = std::make_shared<std::atomic<uint64_t>>(0);
};

}  // namespace cusenet
