#pragma once
// A PACKET_MMAP receive ring (TPACKET_V1) as packet_mmap.txt describes it
// and net/packet/af_packet.c fills it, held in a memfd that the capture
// client maps (CUSE cannot mmap): tp_block_nr blocks of tp_block_size bytes,
// each holding tp_block_size / tp_frame_size frames of
//   struct tpacket_hdr | pad | struct sockaddr_ll | gap | frame data
// with the status word as the only hand-over: the daemon fills frames whose
// status is TP_STATUS_KERNEL and sets TP_STATUS_USER (with TP_STATUS_LOSING
// while drops were counted since the last statistics read, TP_STATUS_COPY
// when the frame was cut to the slot's snaplen); the client reads them in
// order and writes TP_STATUS_KERNEL back.
//
// Waking the client: an eventfd, for poll(), is signalled when a frame is
// handed over that the client may be waiting for, i.e. unless the frame
// before it (same lap) is still TP_STATUS_USER; a write per frame would cost
// a system call each (about 2 us, 20 times the rest of put()). For that to
// lose no wake-up, both sides store and then load with sequential
// consistency: the daemon its frame's status, then the previous frame's; the
// client the status it gives back, then the next frame's. A client drains
// the eventfd before it looks at statuses, and sleeps in poll() only after
// it found the next frame TP_STATUS_KERNEL.
//
// put() is lock-free and may run on several threads at once (the interface
// I/O thread and frontend threads): a frame slot is claimed with CAS, like
// the kernel's rx_owner_map keeps a slot owned while it is being written.
#include <linux/if_packet.h>
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "core/fd.h"

namespace cusenet {

// The checks of packet_set_ring for a TPACKET_V1 receive ring: 0 or -EINVAL.
// A request with tp_block_nr == 0 asks for no ring (0 when tp_frame_nr is 0).
int check_ring(const tpacket_req& req, size_t page_size);

// What the capture shows of one frame besides its bytes (struct sockaddr_ll).
struct CapturedFrame {
  std::span<const std::byte> bytes;  // from the link-layer header (tap) or IP header (tun, ppp)
  uint16_t protocol = 0;             // sll_protocol, network byte order
  uint16_t hatype = 0;               // ARPHRD_*
  uint8_t pkttype = 0;               // PACKET_HOST, PACKET_OUTGOING, ...
  int ifindex = 0;
  uint8_t halen = 0;  // source hardware address (Ethernet), as header_ops->parse gives it
  uint8_t addr[8] = {};
};

// Where the frame's headers and data go in a slot (tpacket_rcv, SOCK_RAW):
// the network header 16-aligned after the headers and at least 16 bytes of
// room for the link-layer header, which sits right before it.
struct FrameLayout {
  unsigned mac;  // tp_mac
  unsigned net;  // tp_net
};
FrameLayout frame_layout(size_t link_header_len);

class CaptureRing {
 public:
  // Limits what a client may make the daemon allocate.
  static constexpr size_t kMaxBytes = 256u << 20;

  // A ring with req's geometry (already checked), all frames
  // TP_STATUS_KERNEL; nullptr with -errno in *err (ENOMEM past kMaxBytes).
  // Its memfd is sealed against resizing (F_SEAL_SHRINK, F_SEAL_GROW,
  // F_SEAL_SEAL): a client's ftruncate fails with EPERM.
  static std::unique_ptr<CaptureRing> create(const tpacket_req& req, int* err);
  ~CaptureRing();
  CaptureRing(const CaptureRing&) = delete;
  CaptureRing& operator=(const CaptureRing&) = delete;

  const tpacket_req& geometry() const { return req_; }
  size_t size() const { return size_; }
  int memfd() const { return memfd_.get(); }
  int eventfd() const { return eventfd_.get(); }

  // tpacket_rcv: into the slot at the head, or counted as a drop when that
  // slot is not TP_STATUS_KERNEL.
  void put(const CapturedFrame& frame);

  // PACKET_STATISTICS: frames seen (delivered and dropped) and dropped since
  // the last call, which resets both and with them TP_STATUS_LOSING.
  tpacket_stats statistics();

  // Slot i (0 .. tp_frame_nr - 1) in this mapping.
  std::byte* frame(unsigned i) const;

 private:
  CaptureRing(const tpacket_req& req, UniqueFd memfd, UniqueFd eventfd, std::byte* base);

  const tpacket_req req_;
  const unsigned frames_per_block_;
  const size_t size_;
  const UniqueFd memfd_, eventfd_;
  std::byte* const base_;
  std::unique_ptr<std::atomic<bool>[]> owned_;  // a producer is writing the slot
  std::unique_ptr<std::atomic<uint64_t>[]> seq_;  // the head value of the slot's last frame
  std::atomic<uint64_t> head_{0};               // frames claimed so far; the slot is head % frame_nr
  std::atomic<unsigned> packets_{0}, drops_{0};
};

// The client's side: the ring mapped from the memfd, read in order.
class RingReader {
 public:
  // nullptr with -errno in *err when the memfd cannot be mapped.
  static std::unique_ptr<RingReader> map(int memfd, const tpacket_req& req, int* err);
  ~RingReader();
  RingReader(const RingReader&) = delete;
  RingReader& operator=(const RingReader&) = delete;

  // The next frame the daemon handed over, or nullptr while it is still
  // TP_STATUS_KERNEL. Stays valid until release().
  const tpacket_hdr* next() const;
  // Gives the current frame back (TP_STATUS_KERNEL, sequentially consistent:
  // see the wake-up rule above) and moves on.
  void release();
  // Its sockaddr_ll and first captured byte (tp_mac).
  static const sockaddr_ll* address(const tpacket_hdr* h);
  static std::span<const std::byte> data(const tpacket_hdr* h);

 private:
  RingReader(const tpacket_req& req, std::byte* base, size_t size);
  std::byte* slot(unsigned i) const;

  const tpacket_req req_;
  const unsigned frames_per_block_;
  std::byte* const base_;
  const size_t size_;
  unsigned current_ = 0;
};

}  // namespace cusenet
