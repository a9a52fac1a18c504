// A unit's receive side: ppp_do_recv, ppp_receive_frame,
// ppp_receive_nonmp_frame and the multilink hand-off.
#include <linux/ppp-ioctl.h>

#include <algorithm>
#include <cstring>

#include "core/log.h"
#include "engine/channel.h"
#include "engine/ppp_registry.h"
#include "engine/unit.h"

namespace cusenet {
namespace {

constexpr int kRecvBatch = 64;  // frames received per grace Reader
// Room a VJ-compressed header may grow by (the kernel wants 124 bytes of
// tailroom): a full TCP/IP header in place of a few bytes.
constexpr size_t kVjGrowth = 128;

}  // namespace

void Unit::receive(FramePtr frame, int channel) {
  if (closing_.load(std::memory_order_acquire)) return;
  if (rxq_.push(std::move(frame), channel)) {
    rx_dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  recv_serial_.request(registry_.grace, this, &Unit::recv_body);
}

void Unit::receive_length_error() {
  rx_length_errors_.fetch_add(1, std::memory_order_relaxed);
  receive(make_frame(size_t{0}), -1);
}

bool Unit::recv_body(void* self) { return static_cast<Unit*>(self)->recv(); }

bool Unit::recv() {
  if (mp_restart_.exchange(false, std::memory_order_acq_rel)) mp_rx_.restart();
  int n = 0;
  for (; n < kRecvBatch; ++n) {
    int channel;
    FramePtr frame = rxq_.pop(&channel);
    if (!frame) break;
    if (closing_.load(std::memory_order_acquire)) continue;
    if (frame->size() == 0) {  // the error indication
      receive_error();
    } else if (ppp_protocol(*frame) == PPP_MP) {
      const std::vector<Channel*>& channels = channels_.get();
      auto from = std::find_if(channels.begin(), channels.end(),
                               [channel](const Channel* c) { return c->index() == channel; });
      const unsigned flags = flags_.load(std::memory_order_relaxed);
      mp_rx_.input(std::move(frame), from == channels.end() ? nullptr : *from, channels,
                   flags & SC_MP_SHORTSEQ, mrru_.load(std::memory_order_relaxed),
                   debug_.load(std::memory_order_relaxed), *this);
    } else {
      receive_nonmp(std::move(frame));
    }
  }
  return n == kRecvBatch && rxq_.size() > 0;
}

void Unit::frame(FramePtr frame) {
  if (frame->size() < 2) {
    rx_length_errors_.fetch_add(1, std::memory_order_relaxed);
    receive_error();
    return;
  }
  receive_nonmp(std::move(frame));
}

void Unit::error() { receive_error(); }

void Unit::receive_error() {
  rx_errors_.fetch_add(1, std::memory_order_relaxed);
  if (VjCompression* vj = vj_.get().get()) vj->toss();
}

void Unit::receive_nonmp(FramePtr frame) {
  const unsigned flags = flags_.load(std::memory_order_acquire);
  const int mru = mru_.load(std::memory_order_relaxed);
  const int debug = debug_.load(std::memory_order_relaxed);
  // Some methods need to see the uncompressed frames too (their history).
  if (ccp_.decompressing()) {
    bool failed;
    frame = ccp_.decompress(std::move(frame), mru, &failed);
    if (failed) receive_error();
  }
  if ((flags & SC_MUST_COMP) && (ccp_.state() & SC_DC_FERROR)) {
    receive_error();
    return;
  }

  uint16_t proto = ppp_protocol(*frame);
  switch (proto) {
    case PPP_VJC_COMP:
    case PPP_VJC_UNCOMP: {
      VjCompression* vj = vj_.get().get();
      if (!vj || (flags & SC_REJ_COMP_TCP)) {
        receive_error();
        return;
      }
      frame = vj_uncompress(std::move(frame), *vj, proto == PPP_VJC_COMP);
      if (!frame) {
        if (debug & 1) CN_LOG(ppp, debug) << created_name_ << ": VJ decompression error";
        receive_error();
        return;
      }
      proto = PPP_IP;
      break;
    }
    case PPP_CCP:
      ccp_.peek(*frame, true, flags, index_, mru, debug);
      break;
  }
  rx_packets_.fetch_add(1, std::memory_order_relaxed);
  rx_bytes_.fetch_add(frame->size() - 2, std::memory_order_relaxed);

  const int npi = proto_to_npindex(proto);
  if (npi < 0) {  // control or unknown protocol: pppd's
    rq_.push(std::move(frame));
    return;
  }
  // The filters see the frame with its protocol as received (VJ frames
  // keep 0x2d/0x2f there), behind the inbound pseudo header.
  const PppFilter* pass = pass_filter_.get().get();
  const PppFilter* active = active_filter_.get().get();
  bool is_active = true;
  if (pass || active) {
    FramePtr pseudo = PppFilter::with_pseudo_header(frame->bytes(), false);
    if (pass && !pass->accepts(*pseudo)) {
      if (debug & 1) CN_LOG(ppp, debug) << created_name_ << ": inbound frame not passed";
      return;
    }
    is_active = !active || active->accepts(*pseudo);
  }
  if (is_active) last_recv_.store(now_ns(), std::memory_order_relaxed);

  if (npmode_[npi].load(std::memory_order_relaxed) != NPMODE_PASS) return;
  Link* link = iface_.packet_link();
  if (!link) return;
  if (npi != kNpIp && npi != kNpIpv6) {  // nothing a raw-IP Link can carry
    rx_dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const std::span<const std::byte> ip = frame->bytes().subspan(2);
  // The protocol field goes as the kernel's receive path chops it off: taps
  // see the network header first, the protocol in sll_protocol.
  if (CaptureTap* ct = iface_.capture()) ct->received(ip);
  if (link->receive(ip) < 0) rx_dropped_.fetch_add(1, std::memory_order_relaxed);
}

FramePtr Unit::vj_uncompress(FramePtr frame, VjCompression& vj, bool compressed) {
  const std::span<const std::byte> in = frame->bytes().subspan(2);
  FramePtr out = make_frame(std::min(frame->size() + kVjGrowth, Frame::kMax));
  const std::span<std::byte> room(out->data() + 2, out->size() - 2);
  const int len = compressed ? vj.uncompress(in, room) : vj.remember(in, room);
  if (len <= 0) return nullptr;
  std::memcpy(out->data(), frame->data(), 2);  // the protocol as received
  out->resize(static_cast<size_t>(len) + 2);
  return out;
}

}  // namespace cusenet
