#pragma once
// Queue selection on a multi-queue interface, as tun_automq_select_queue:
// a symmetric flow hash of each frame (both directions of a connection hash
// alike), a flow table remembering which queue the application last wrote a
// flow on (so replies go back to that queue), and otherwise
// (hash * numqueues) >> 32. Lock-free: the table is an array of atomics,
// written on the write path and read on the Deliver path.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

namespace cusenet {

// Over addresses, ports and protocol of IPv4/IPv6 (behind an Ethernet header
// and one VLAN tag on tap); other frames hash by their protocol alone.
uint32_t tun_flow_hash(std::span<const std::byte> frame, bool tap);

class TunFlowTable {
 public:
  // The queue recorded for the flow, or -1 (none, expired, or the queue
  // index no longer exists).
  int lookup(uint32_t hash, unsigned numqueues) const;
  void update(uint32_t hash, unsigned queue);
  // Queue indexes move when queues attach and detach: forget every flow.
  void clear();

 private:
  // TUN_NUM_FLOW_ENTRIES and TUN_FLOW_EXPIRE. One entry per bucket: a
  // colliding flow replaces the older one, which then falls back to the hash.
  static constexpr size_t kEntries = 1024;
  static constexpr unsigned kExpireMs = 3000;
  std::array<std::atomic<uint64_t>, kEntries> entries_{};
};

}  // namespace cusenet
