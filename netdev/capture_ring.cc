#include "netdev/capture_ring.h"

#include <fcntl.h>
#include <net/if_arp.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

namespace cusenet {
namespace {

constexpr size_t kSockaddrOffset = TPACKET_ALIGN(sizeof(tpacket_hdr));

std::atomic_ref<unsigned long> status_of(std::byte* slot) {
  return std::atomic_ref<unsigned long>(reinterpret_cast<tpacket_hdr*>(slot)->tp_status);
}

}  // namespace

int check_ring(const tpacket_req& req, size_t page_size) {
  if (req.tp_block_nr == 0) return req.tp_frame_nr == 0 ? 0 : -EINVAL;
  if (static_cast<int>(req.tp_block_size) <= 0) return -EINVAL;
  if (req.tp_block_size % page_size != 0) return -EINVAL;
  if (req.tp_frame_size < TPACKET_HDRLEN) return -EINVAL;
  if (req.tp_frame_size & (TPACKET_ALIGNMENT - 1)) return -EINVAL;
  const unsigned frames_per_block = req.tp_block_size / req.tp_frame_size;
  if (frames_per_block == 0) return -EINVAL;
  if (frames_per_block > UINT_MAX / req.tp_block_nr) return -EINVAL;
  if (frames_per_block * req.tp_block_nr != req.tp_frame_nr) return -EINVAL;
  return 0;
}

FrameLayout frame_layout(size_t link_header_len) {
  const size_t net = TPACKET_ALIGN(TPACKET_HDRLEN + std::max<size_t>(link_header_len, 16));
  return {static_cast<unsigned>(net - link_header_len), static_cast<unsigned>(net)};
}

std::unique_ptr<CaptureRing> CaptureRing::create(const tpacket_req& req, int* err) {
  const size_t size = size_t{req.tp_block_size} * req.tp_block_nr;
  if (size == 0 || size > kMaxBytes) {
    *err = -ENOMEM;
    return nullptr;
  }
  // The client maps the same memfd: sealed at its size, so that no client
  // can shrink it under the daemon's mapping (SIGBUS in put()) nor grow it.
  UniqueFd memfd(::memfd_create("cusenet-capture-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!memfd || ::ftruncate(memfd.get(), static_cast<off_t>(size)) != 0 ||
      ::fcntl(memfd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    *err = -errno;
    return nullptr;
  }
  UniqueFd efd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!efd) {
    *err = -errno;
    return nullptr;
  }
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd.get(), 0);
  if (base == MAP_FAILED) {
    *err = -errno;
    return nullptr;
  }
  // A fresh memfd reads as zeros: every status is TP_STATUS_KERNEL already.
  return std::unique_ptr<CaptureRing>(
      new CaptureRing(req, std::move(memfd), std::move(efd), static_cast<std::byte*>(base)));
}

CaptureRing::CaptureRing(const tpacket_req& req, UniqueFd memfd, UniqueFd eventfd, std::byte* base)
    : req_(req), frames_per_block_(req.tp_block_size / req.tp_frame_size),
      size_(size_t{req.tp_block_size} * req.tp_block_nr), memfd_(std::move(memfd)),
      eventfd_(std::move(eventfd)), base_(base),
      owned_(new std::atomic<bool>[req.tp_frame_nr]), seq_(new std::atomic<uint64_t>[req.tp_frame_nr]) {
  for (unsigned i = 0; i < req.tp_frame_nr; ++i) {
    owned_[i].store(false, std::memory_order_relaxed);
    seq_[i].store(~uint64_t{0}, std::memory_order_relaxed);
  }
}

CaptureRing::~CaptureRing() { ::munmap(base_, size_); }

std::byte* CaptureRing::frame(unsigned i) const {
  return base_ + size_t{i / frames_per_block_} * req_.tp_block_size +
         size_t{i % frames_per_block_} * req_.tp_frame_size;
}

void CaptureRing::put(const CapturedFrame& f) {
  // Claim the slot at the head: it must be free in the ring (the client gave
  // it back) and owned by no other producer. One that owns it either takes
  // the head or lets go at once; one a lap ahead still writing it holds it
  // only for its copy, after which the slot says TP_STATUS_USER: a drop.
  unsigned slot;
  uint64_t head;
  for (head = head_.load(std::memory_order_acquire);; head = head_.load(std::memory_order_acquire)) {
    slot = static_cast<unsigned>(head % req_.tp_frame_nr);
    if (status_of(frame(slot)).load(std::memory_order_acquire) != TP_STATUS_KERNEL) {
      // Handed over since this head was read: the head has moved on.
      if (head_.load(std::memory_order_acquire) != head) continue;
      drops_.fetch_add(1, std::memory_order_relaxed);
      packets_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (owned_[slot].exchange(true, std::memory_order_acquire)) continue;
    if (head_.compare_exchange_strong(head, head + 1, std::memory_order_acq_rel)) break;
    owned_[slot].store(false, std::memory_order_release);  // another producer took the head
  }
  packets_.fetch_add(1, std::memory_order_relaxed);

  std::byte* h = frame(slot);
  const size_t link_header = f.hatype == ARPHRD_ETHER ? 14 : 0;
  const FrameLayout at = frame_layout(link_header);
  unsigned long status = TP_STATUS_USER;
  size_t snaplen = f.bytes.size();
  if (at.mac + snaplen > req_.tp_frame_size) {
    snaplen = req_.tp_frame_size > at.mac ? req_.tp_frame_size - at.mac : 0;
    status |= TP_STATUS_COPY;
  }
  if (drops_.load(std::memory_order_relaxed) != 0) status |= TP_STATUS_LOSING;

  timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  auto* hdr = reinterpret_cast<tpacket_hdr*>(h);
  hdr->tp_len = static_cast<unsigned>(f.bytes.size());
  hdr->tp_snaplen = static_cast<unsigned>(snaplen);
  hdr->tp_mac = static_cast<unsigned short>(at.mac);
  hdr->tp_net = static_cast<unsigned short>(at.net);
  hdr->tp_sec = static_cast<unsigned>(ts.tv_sec);
  hdr->tp_usec = static_cast<unsigned>(ts.tv_nsec / 1000);
  sockaddr_ll ll{};
  ll.sll_family = AF_PACKET;
  ll.sll_protocol = f.protocol;
  ll.sll_ifindex = f.ifindex;
  ll.sll_hatype = f.hatype;
  ll.sll_pkttype = f.pkttype;
  ll.sll_halen = f.halen;
  std::memcpy(ll.sll_addr, f.addr, sizeof ll.sll_addr);
  std::memcpy(h + kSockaddrOffset, &ll, sizeof ll);
  std::memcpy(h + at.mac, f.bytes.data(), snaplen);

  seq_[slot].store(head, std::memory_order_relaxed);
  status_of(h).store(status, std::memory_order_seq_cst);
  owned_[slot].store(false, std::memory_order_release);
  // The client is busy with the frame before this one when it is still
  // handed over, and of this lap: it will come here without sleeping.
  const unsigned prev = slot == 0 ? req_.tp_frame_nr - 1 : slot - 1;
  const bool client_behind = prev != slot &&
                             (status_of(frame(prev)).load(std::memory_order_seq_cst) & TP_STATUS_USER) &&
                             seq_[prev].load(std::memory_order_relaxed) == head - 1;
  if (client_behind) return;
  uint64_t one = 1;
  (void)!::write(eventfd_.get(), &one, sizeof one);
}

tpacket_stats CaptureRing::statistics() {
  tpacket_stats st{};
  st.tp_drops = drops_.exchange(0, std::memory_order_relaxed);
  st.tp_packets = packets_.exchange(0, std::memory_order_relaxed);
  return st;
}

std::unique_ptr<RingReader> RingReader::map(int memfd, const tpacket_req& req, int* err) {
  if (check_ring(req, static_cast<size_t>(::sysconf(_SC_PAGESIZE))) != 0 || req.tp_block_nr == 0) {
    *err = -EINVAL;
    return nullptr;
  }
  const size_t size = size_t{req.tp_block_size} * req.tp_block_nr;
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
  if (base == MAP_FAILED) {
    *err = -errno;
    return nullptr;
  }
  return std::unique_ptr<RingReader>(new RingReader(req, static_cast<std::byte*>(base), size));
}

RingReader::RingReader(const tpacket_req& req, std::byte* base, size_t size)
    : req_(req), frames_per_block_(req.tp_block_size / req.tp_frame_size), base_(base), size_(size) {}

RingReader::~RingReader() { ::munmap(base_, size_); }

std::byte* RingReader::slot(unsigned i) const {
  return base_ + size_t{i / frames_per_block_} * req_.tp_block_size +
         size_t{i % frames_per_block_} * req_.tp_frame_size;
}

const tpacket_hdr* RingReader::next() const {
  std::byte* s = slot(current_);
  if (!(status_of(s).load(std::memory_order_seq_cst) & TP_STATUS_USER)) return nullptr;
  return reinterpret_cast<const tpacket_hdr*>(s);
}

void RingReader::release() {
  status_of(slot(current_)).store(TP_STATUS_KERNEL, std::memory_order_seq_cst);
  current_ = (current_ + 1) % req_.tp_frame_nr;
}

const sockaddr_ll* RingReader::address(const tpacket_hdr* h) {
  return reinterpret_cast<const sockaddr_ll*>(reinterpret_cast<const std::byte*>(h) + kSockaddrOffset);
}

std::span<const std::byte> RingReader::data(const tpacket_hdr* h) {
  return {reinterpret_cast<const std::byte*>(h) + h->tp_mac, h->tp_snaplen};
}

}  // namespace cusenet
