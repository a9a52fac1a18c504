#include "engine/ccp.h"

#include <linux/ppp-comp.h>
#include <linux/ppp-ioctl.h>

#include <algorithm>
#include <cerrno>

#include "engine/ppp_proto.h"

namespace cusenet {
namespace {

// The methods this engine has (find_compressor): anything else is unknown.
bool known_method(uint8_t type) {
  return type == CI_BSD_COMPRESS || type == CI_DEFLATE || type == CI_DEFLATE_DRAFT;
}

// Room a compressed frame may take beyond the original before the method
// gives up and the frame goes out as it was.
constexpr size_t kCompressSlack = 128;

}  // namespace

int Ccp::set(std::span<const uint8_t> option, bool transmit, const PppHooks& hooks, TunGrace& grace) {
  if (option.size() < 2 || option[1] < 2 || option[1] > option.size()) return -EINVAL;
  if (!known_method(option[0])) return -EINVAL;
  if (transmit) {
    auto method = hooks.compressor(option);
    if (!method) return -ENOBUFS;
    auto tx = std::make_unique<Tx>();
    tx->method = std::move(method);
    tx_.set(grace, std::move(tx));
  } else {
    auto method = hooks.decompressor(option);
    if (!method) return -ENOBUFS;
    auto rx = std::make_unique<Rx>();
    rx->method = std::move(method);
    rx_.set(grace, std::move(rx));
  }
  return 0;
}

void Ccp::closed(TunGrace& grace) {
  tx_.set(grace, nullptr);
  rx_.set(grace, nullptr);
}

unsigned Ccp::state() const {
  unsigned s = 0;
  if (const Tx* tx = tx_.get().get()) s |= tx->state.load(std::memory_order_acquire);
  if (const Rx* rx = rx_.get().get()) s |= rx->state.load(std::memory_order_acquire);
  return s;
}

bool Ccp::tx_stats(CompStats* out) const {
  const Tx* tx = tx_.get().get();
  if (!tx) return false;
  *out = tx->method->stats();
  return true;
}

bool Ccp::rx_stats(CompStats* out) const {
  const Rx* rx = rx_.get().get();
  if (!rx) return false;
  *out = rx->method->stats();
  return true;
}

bool Ccp::compressing() const {
  const Tx* tx = tx_.get().get();
  return tx && (tx->state.load(std::memory_order_acquire) & SC_COMP_RUN);
}

bool Ccp::decompressing() const {
  const Rx* rx = rx_.get().get();
  return rx && (rx->state.load(std::memory_order_acquire) &
                (SC_DECOMP_RUN | SC_DC_ERROR | SC_DC_FERROR)) == SC_DECOMP_RUN;
}

void Ccp::peek(const Frame& frame, bool inbound, unsigned flags, int unit, int mru, int debug) {
  if (frame.size() < 2 + CCP_HDRLEN) return;
  const auto* dp = reinterpret_cast<const uint8_t*>(frame.data()) + 2;
  Tx* tx = tx_.get().get();
  Rx* rx = rx_.get().get();
  switch (CCP_CODE(dp)) {
    case CCP_CONFREQ:
      // A ConfReq lists what its sender wants to receive: it restarts the
      // negotiation of the other direction.
      if (inbound) {
        if (tx) tx->state.fetch_and(~unsigned{SC_COMP_RUN});
      } else if (rx) {
        rx->state.fetch_and(~unsigned{SC_DECOMP_RUN});
      }
      break;
    case CCP_TERMREQ:
    case CCP_TERMACK:
      if (tx) tx->state.fetch_and(~unsigned{SC_COMP_RUN});
      if (rx) rx->state.fetch_and(~unsigned{SC_DECOMP_RUN});
      break;
    case CCP_CONFACK: {
      if ((flags & (SC_CCP_OPEN | SC_CCP_UP)) != SC_CCP_OPEN) break;
      const size_t len = CCP_LENGTH(dp);
      if (frame.size() < len + 2) return;
      if (len < CCP_HDRLEN + CCP_OPT_MINLEN) break;
      std::span<const uint8_t> opts(dp + CCP_HDRLEN, len - CCP_HDRLEN);
      if (opts.size() < CCP_OPT_LENGTH(opts.data())) break;
      if (inbound) {
        // The peer acked what we receive: start decompressing.
        if (rx && rx->method->init(opts, unit, mru, debug)) {
          rx->state.fetch_or(SC_DECOMP_RUN);
          rx->state.fetch_and(~unsigned{SC_DC_ERROR | SC_DC_FERROR});
        }
      } else if (tx && tx->method->init(opts, unit, debug)) {
        tx->state.fetch_or(SC_COMP_RUN);
      }
      break;
    }
    case CCP_RESETACK:
      if (!(flags & SC_CCP_UP)) break;
      if (inbound) {
        if (rx && (rx->state.load() & SC_DECOMP_RUN)) {
          rx->method->reset();
          rx->state.fetch_and(~unsigned{SC_DC_ERROR});
        }
      } else if (tx && (tx->state.load() & SC_COMP_RUN)) {
        tx->method->reset();
      }
      break;
  }
}

FramePtr Ccp::compress(FramePtr frame, bool ccp_up) {
  Tx* tx = tx_.get().get();
  FramePtr out = make_frame(std::min(frame->size() + kCompressSlack, Frame::kMax));
  const size_t len = tx->method->compress(frame->bytes(), {out->data(), out->size()});
  if (len == 0) return frame;  // incompressible: it goes out as it is
  // The method's history now holds a frame the peer will never see
  // decompressed, so it cannot go out uncompressed either.
  if (!ccp_up) return nullptr;
  out->resize(len);
  return out;
}

FramePtr Ccp::decompress(FramePtr frame, int mru, bool* error) {
  Rx* rx = rx_.get().get();
  *error = false;
  if (ppp_protocol(*frame) != PPP_COMP) {
    rx->method->incomp(frame->bytes());
    return frame;
  }
  // The kernel's buffer: mru + PPP_HDRLEN, the address and control bytes
  // included, which this layer's frames do not carry.
  int n = Decompressor::kError;
  if (mru >= 0) {
    FramePtr out = make_frame(std::min(static_cast<size_t>(mru) + 2, Frame::kMax));
    n = rx->method->decompress(frame->bytes(), {out->data(), out->size()});
    if (n >= 2) {
      out->resize(static_cast<size_t>(n));
      return out;
    }
  }
  // The compressed frame goes on to pppd as the error indication. (A
  // result too short to hold a protocol counts as an error too.)
  if (n == Decompressor::kFatalError) rx->state.fetch_or(SC_DC_FERROR);
  rx->state.fetch_or(SC_DC_ERROR);
  *error = true;
  return frame;
}

}  // namespace cusenet
