#pragma once
// A unit's CCP state: the transmit compressor and receive decompressor that
// PPPIOCSCOMPRESS installs, started, reset and stopped by watching the CCP
// packets that pass (ppp_ccp_peek), and the run/error bits PPPIOCGFLAGS
// reports (SC_COMP_RUN, SC_DECOMP_RUN, SC_DC_ERROR, SC_DC_FERROR).
//
// Concurrency: set() and closed() run on the control plane (registry mutex)
// and swap whole states, waiting out the packet path before freeing the old
// ones. The compressor is used only by the unit's transmit side (compress,
// outbound peek), the decompressor only by its receive side (decompress,
// inbound peek); the run and error bits live with each state as atomics,
// since either side may clear the other's run bit.
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>

#include "core/frame.h"
#include "engine/compressor.h"
#include "engine/ppp_hooks.h"
#include "engine/published.h"
#include "netdev/tun_grace.h"

namespace cusenet {

class Ccp {
 public:
  // ---- Control plane. ----
  // PPPIOCSCOMPRESS with the option already read: -EINVAL for a malformed
  // option or an unknown method, -ENOBUFS when the method refuses the
  // option (pppd then tries other parameters), as ppp_set_compress.
  int set(std::span<const uint8_t> option, bool transmit, const PppHooks& hooks, TunGrace& grace);
  // ppp_ccp_closed: both states freed, every run and error bit cleared.
  void closed(TunGrace& grace);
  // The run and error bits.
  unsigned state() const;
  // SIOCGPPPCSTATS: the transmit (compressor) and receive (decompressor)
  // methods' counters, false where PPPIOCSCOMPRESS set none (the kernel's
  // xc_state / rc_state), running or not.
  bool tx_stats(CompStats* out) const;
  bool rx_stats(CompStats* out) const;

  // ---- Packet path, inside a grace Reader. ----
  // Whether a frame passes the compressor (SC_COMP_RUN).
  bool compressing() const;
  // Whether received frames go through the decompressor (SC_DECOMP_RUN and
  // no error reported since the last reset).
  bool decompressing() const;
  // A CCP packet (protocol + CCP header) seen going out or coming in.
  // flags: the unit's SC_* settings.
  void peek(const Frame& frame, bool inbound, unsigned flags, int unit, int mru, int debug);
  // Transmit side, pad_compress_skb: the frame compressed when the method
  // made it smaller and CCP is up, as it was when the method could not
  // shrink it, and null (drop it: a tx error) when the method compressed it
  // but CCP is not up yet.
  FramePtr compress(FramePtr frame, bool ccp_up);
  // Receive side: a PPP_COMP frame decompressed, another shown to the
  // decompressor for its history. On failure the frame comes back as it
  // was, the error bits are set and *error is true.
  FramePtr decompress(FramePtr frame, int mru, bool* error);

 private:
  struct Tx {
    std::unique_ptr<Compressor> method;
    std::atomic<unsigned> state{0};  // SC_COMP_RUN
  };
  struct Rx {
    std::unique_ptr<Decompressor> method;
    std::atomic<unsigned> state{0};  // SC_DECOMP_RUN, SC_DC_ERROR, SC_DC_FERROR
  };
  Published<std::unique_ptr<Tx>> tx_;
  Published<std::unique_ptr<Rx>> rx_;
};

}  // namespace cusenet
