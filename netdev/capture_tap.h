#pragma once
// Where an interface's packet path hands frames to the capture rings bound
// to it, both directions (the kernel's ptype_all taps: dev_queue_xmit_nit
// for frames the stack sends, __netif_receive_skb for frames it receives).
//
// The packet path is lock-free: with no ring attached it costs one relaxed
// load; otherwise the ring set is read inside a TunGrace read section.
// attach/detach publish a new set and wait out the readers of the old one,
// so a ring is never written after detach() returned.
#include <atomic>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "netdev/capture_ring.h"
#include "netdev/tun_grace.h"

namespace cusenet {

class CaptureTap {
 public:
  // hatype: ARPHRD_* of the interface (ARPHRD_ETHER frames carry a
  // link-layer header; others start at the network header).
  CaptureTap(unsigned short hatype, int ifindex);
  ~CaptureTap();
  CaptureTap(const CaptureTap&) = delete;
  CaptureTap& operator=(const CaptureTap&) = delete;

  void attach(std::shared_ptr<CaptureRing> ring);
  void detach(const CaptureRing* ring);
  unsigned short hatype() const { return hatype_; }
  // Whether the interface is up: a down interface receives nothing.
  void set_up(bool up) { up_.store(up, std::memory_order_relaxed); }

  // ---- Packet path: lock-free, any thread. ----
  // A frame the interface received (written by the application into the
  // stack): PACKET_HOST, or the broadcast/multicast class of its Ethernet
  // destination. Called before the stack sees it, so that it comes before
  // the answers to it, as in the kernel where taps run ahead of the protocols.
  void received(std::span<const std::byte> frame) {
    if (up_.load(std::memory_order_relaxed)) put(frame, false);
  }
  // A frame the stack transmitted on the interface: PACKET_OUTGOING.
  void transmitted(std::span<const std::byte> frame) { put(frame, true); }

 private:
  struct RingSet {
    std::vector<std::shared_ptr<CaptureRing>> rings;
  };
  void put(std::span<const std::byte> frame, bool outgoing);
  void publish(std::vector<std::shared_ptr<CaptureRing>> rings);

  const unsigned short hatype_;
  const int ifindex_;
  std::mutex mu_;  // attach and detach
  std::vector<std::shared_ptr<CaptureRing>> rings_;
  std::atomic<bool> active_{false};
  std::atomic<bool> up_{false};
  std::atomic<const RingSet*> published_;
  TunGrace grace_;
};

}  // namespace cusenet
