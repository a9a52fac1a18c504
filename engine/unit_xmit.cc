// A unit's transmit side: ppp_start_xmit, ppp_xmit_process, ppp_send_frame
// and ppp_push.
#include <linux/ppp-ioctl.h>

#include <cstring>

#include "core/log.h"
#include "engine/channel.h"
#include "engine/ppp_registry.h"
#include "engine/unit.h"

namespace cusenet {
namespace {

constexpr int kXmitBatch = 64;  // frames sent per grace Reader

}  // namespace

void Unit::deliver(FramePtr ip) {
  // Taps see what the stack sent before the unit may drop it (dev_queue_xmit_nit
  // runs ahead of ppp_start_xmit).
  if (CaptureTap* ct = iface_.capture()) ct->transmitted(ip->bytes());
  PacketScope scope;
  TunGrace::Reader reader(registry_.grace);
  // A raw-IP Link carries IPv4 and IPv6; the version nibble says which.
  int npi = -1;
  if (ip->size() > 0) {
    const unsigned version = static_cast<uint8_t>(ip->data()[0]) >> 4;
    npi = version == 4 ? kNpIp : version == 6 ? kNpIpv6 : -1;
  }
  if (npi < 0) {
    tx_dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  switch (npmode_[npi].load(std::memory_order_relaxed)) {
    case NPMODE_QUEUE:  // the kernel has no way to hold them either
    case NPMODE_DROP:
    case NPMODE_ERROR:
      tx_dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    default:  // NPMODE_PASS, and values no case names, as the kernel's switch
      break;
  }
  FramePtr frame = make_frame(ip->size() + 2);
  put_protocol(frame->data(), kNpindexToProto[npi]);
  std::memcpy(frame->data() + 2, ip->data(), ip->size());
  queue_xmit(std::move(frame));
}

void Unit::write(FramePtr frame) {
  PacketScope scope;
  TunGrace::Reader reader(registry_.grace);
  queue_xmit(std::move(frame));
}

void Unit::queue_xmit(FramePtr frame) {
  if (closing_.load(std::memory_order_acquire)) return;
  if (xq_.push(std::move(frame))) {
    tx_dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  xmit_serial_.request(registry_.grace, this, &Unit::xmit_body);
}

void Unit::kick_xmit() { xmit_serial_.request(registry_.grace, this, &Unit::xmit_body); }

bool Unit::xmit_body(void* self) { return static_cast<Unit*>(self)->xmit(); }

bool Unit::xmit() {
  if (closing_.load(std::memory_order_acquire)) {
    pending_.reset();
    while (xq_.pop()) {
    }
    return false;
  }
  push_pending();
  int sent = 0;
  while (!pending_ && sent < kXmitBatch) {
    FramePtr f = xq_.pop();
    if (!f) break;
    send_frame(std::move(f));
    ++sent;
  }
  return !pending_ && sent == kXmitBatch && !xq_.empty();
}

void Unit::send_frame(FramePtr frame) {
  const unsigned flags = flags_.load(std::memory_order_acquire);
  uint16_t proto = ppp_protocol(*frame);
  if (proto < 0x8000) {
    // Data frames: the pass filter may drop them, and those the active
    // filter accepts (all, without one) count as activity for PPPIOCGIDLE.
    const PppFilter* pass = pass_filter_.get().get();
    const PppFilter* active = active_filter_.get().get();
    bool is_active = true;
    if (pass || active) {
      FramePtr pseudo = PppFilter::with_pseudo_header(frame->bytes(), true);
      if (pass && !pass->accepts(*pseudo)) {
        if (debug_.load(std::memory_order_relaxed) & 1)
          CN_LOG(ppp, debug) << created_name_ << ": outbound frame not passed";
        return;
      }
      is_active = !active || active->accepts(*pseudo);
    }
    if (is_active) last_xmit_.store(now_ns(), std::memory_order_relaxed);
  }
  tx_packets_.fetch_add(1, std::memory_order_relaxed);
  tx_bytes_.fetch_add(frame->size() - 2, std::memory_order_relaxed);

  if (proto == PPP_IP) {
    VjCompression* vj = vj_.get().get();
    if (vj && (flags & SC_COMP_TCP)) {
      frame = vj_compress(std::move(frame), *vj, flags);
      proto = ppp_protocol(*frame);
    }
  } else if (proto == PPP_CCP) {
    ccp_.peek(*frame, false, flags, index_, mru_.load(std::memory_order_relaxed),
              debug_.load(std::memory_order_relaxed));
  }

  if (ccp_.compressing() && proto != PPP_LCP && proto != PPP_CCP) {
    if (!(flags & SC_CCP_UP) && (flags & SC_MUST_COMP)) {
      if (debug_.load(std::memory_order_relaxed) & 1)
        CN_LOG(ppp, debug) << created_name_ << ": compression required but down, frame dropped";
      tx_errors_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    frame = ccp_.compress(std::move(frame), flags & SC_CCP_UP);
    if (!frame) {
      if (debug_.load(std::memory_order_relaxed) & 1)
        CN_LOG(ppp, debug) << created_name_ << ": compressed before CCP is up, frame dropped";
      tx_errors_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }

  // Demand dialling: pppd sees the traffic that would bring the link up.
  if (flags & SC_LOOP_TRAFFIC) {
    if (!rq_.push_unless_full(std::move(frame))) tx_errors_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  pending_ = std::move(frame);
  push_pending();
}

void Unit::push_pending() {
  if (!pending_) return;
  const std::vector<Channel*>& channels = channels_.get();
  if (channels.empty()) {  // nowhere to send it
    pending_.reset();
    return;
  }
  if (!(flags_.load(std::memory_order_relaxed) & SC_MULTILINK)) {
    Channel* ch = channels.front();
    if (!ch->usable())
      pending_.reset();
    else if (ch->tx_idle())  // else it waits for the channel to drain
      ch->transmit(std::move(pending_));
    return;
  }
  if (mp_tx_.explode(*pending_, channels, flags_.load(std::memory_order_relaxed) & SC_MP_XSHORTSEQ))
    pending_.reset();
}

FramePtr Unit::vj_compress(FramePtr frame, VjCompression& vj, unsigned flags) {
  const std::span<const std::byte> ip = frame->bytes().subspan(2);
  FramePtr out = make_frame(frame->size());
  size_t len = 0;
  const uint16_t proto =
      vj.compress(ip, {out->data() + 2, ip.size()}, &len, !(flags & SC_NO_TCP_CCID));
  if (proto == PPP_IP) return frame;
  put_protocol(out->data(), proto);
  out->resize(len + 2);
  return out;
}

}  // namespace cusenet
