#include "ldisc/hdlc.h"

#include <algorithm>
#include <cstring>

#include "ldisc/fcs16.h"
#include "ldisc/hdlc_avx2.h"

namespace cusenet {

namespace {

constexpr uint8_t kAddress = PPP_ALLSTATIONS, kControl = PPP_UI;
// 0x7d and 0x7e in word 3 of a 256-bit map.
constexpr uint32_t kFlagAndEscape = 0x60000000u;

size_t escape_portable(const uint8_t* in, size_t n, uint8_t* out, const ByteSet& esc) {
  uint8_t* o = out;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t c = in[i];
    if (esc.contains(c)) {
      *o++ = PPP_ESCAPE;
      *o++ = c ^ PPP_TRANS;
    } else {
      *o++ = c;
    }
  }
  return static_cast<size_t>(o - out);
}

// Same contract as hdlc_avx2::unescape, a byte at a time.
size_t unescape_portable(const uint8_t* in, size_t n, uint8_t* out, size_t room,
                         const ByteSet& special, size_t* produced) {
  size_t i = 0, o = 0;
  while (i < n && o < room) {
    const uint8_t c = in[i];
    if (!special.contains(c)) {
      out[o++] = c;
      i += 1;
    } else if (c == PPP_ESCAPE && i + 1 < n && !special.contains(in[i + 1])) {
      out[o++] = in[i + 1] ^ PPP_TRANS;
      i += 2;
    } else {
      break;
    }
  }
  *produced = o;
  return i;
}

std::array<uint32_t, 8> receive_specials(uint32_t raccm) {
  return {raccm, 0, 0, kFlagAndEscape, 0, 0, 0, 0};
}

// The SC_RCV_* bits one received byte sets: its bit 7 and its parity.
constexpr auto kRbitsOf = [] {
  std::array<uint32_t, 256> t{};
  for (unsigned c = 0; c < 256; ++c)
    t[c] = ((c & 0x80) ? SC_RCV_B7_1 : SC_RCV_B7_0) |
           (__builtin_parity(c) ? SC_RCV_ODDP : SC_RCV_EVNP);
  return t;
}();

}  // namespace

void TxAccm::set_async_map(uint32_t map) {
  words_[0] = map;
  rebuild();
}

void TxAccm::set_extended_map(const std::array<uint32_t, 8>& map) {
  words_ = map;
  words_[2] &= ~0x40000000u;
  words_[3] |= kFlagAndEscape;
  rebuild();
}

void TxAccm::rebuild() {
  escaped_ = ByteSet(words_);
  escaped_lcp_ = ByteSet(with_controls(words_));
}

bool FlagTime::opening_flag(Clock::time_point now) {
  const bool idle =
      flag_time_ <= Clock::duration::zero() || !last_xmit_ || now - *last_xmit_ >= flag_time_;
  last_xmit_ = now;
  return idle;
}

size_t hdlc_encode(std::span<const std::byte> frame, const TxConfig& config, bool opening_flag,
                   std::span<std::byte> out, Simd simd) {
  const size_t n = frame.size();
  if (out.size() < hdlc_max_encoded(n)) return 0;
  simd = simd_usable(simd);
  const auto* data = reinterpret_cast<const uint8_t*>(frame.data());
  auto* o = reinterpret_cast<uint8_t*>(out.data());
  // LCP Configure-Request .. Code-Reject go out as though nothing had been
  // negotiated, so a peer that lost its state can still read them.
  const bool lcp = n >= 3 && (data[0] << 8 | data[1]) == PPP_LCP && data[2] >= 1 && data[2] <= 7;
  const ByteSet& esc = lcp ? config.accm.escaped_lcp() : config.accm.escaped();
  auto put = [&](uint8_t c) {
    if (esc.contains(c)) {
      *o++ = PPP_ESCAPE;
      *o++ = c ^ PPP_TRANS;
    } else {
      *o++ = c;
    }
  };

  if (opening_flag || lcp) *o++ = PPP_FLAG;
  uint16_t fcs = PPP_INITFCS;
  if (!(config.flags & SC_COMP_AC) || lcp) {
    static const std::byte kAddressControl[2] = {std::byte{kAddress}, std::byte{kControl}};
    put(kAddress);
    put(kControl);
    fcs = fcs16(fcs, kAddressControl, Simd::portable);
  }
  // A protocol below 0x100 loses its leading zero.
  const size_t skip = (n > 0 && data[0] == 0 && (config.flags & SC_COMP_PROT)) ? 1 : 0;
  fcs = static_cast<uint16_t>(~fcs16(fcs, frame.subspan(skip), simd));
#if defined(__x86_64__)
  if (simd == Simd::avx2)
    o += hdlc_avx2::escape(data + skip, n - skip, o, esc);
  else
#endif
    o += escape_portable(data + skip, n - skip, o, esc);
  put(static_cast<uint8_t>(fcs & 0xff));
  put(static_cast<uint8_t>(fcs >> 8));
  *o++ = PPP_FLAG;
  return static_cast<size_t>(o - reinterpret_cast<uint8_t*>(out.data()));
}

const char* hdlc_error_name(HdlcError error) {
  switch (error) {
    case HdlcError::aborted:
      return "aborted";
    case HdlcError::oversized:
      return "longer than the MRU";
    case HdlcError::too_short:
      return "too short";
    case HdlcError::bad_fcs:
      return "bad FCS";
    case HdlcError::bad_control:
      return "bad control field";
  }
  return "?";
}

HdlcDecoder::HdlcDecoder(Simd simd)
    : simd_(simd_usable(simd)),
      special_(receive_specials(raccm_)),
      // Sized once for the largest MRU: a frame handed to a callback stays
      // where it is even if the callback raises the MRU.
      buf_(kHead + kMaxMru + PPP_HDRLEN + PPP_FCSLEN + kSlack) {}

void HdlcDecoder::set_mru(int mru) { mru_ = std::clamp(mru, 0, kMaxMru); }

void HdlcDecoder::set_raccm(uint32_t raccm) {
  raccm_ = raccm;
  special_ = ByteSet(receive_specials(raccm));
}

void HdlcDecoder::note_rbits(const uint8_t* p, size_t n) {
  // Once all four are seen there is nothing left to learn.
  constexpr size_t kBlock = 64;
  uint32_t seen = rbits_;
  for (size_t i = 0; i < n && seen != kRcvBits; i += kBlock) {
    const size_t end = std::min(n, i + kBlock);
    for (size_t j = i; j < end; ++j) seen |= kRbitsOf[p[j]];
  }
  rbits_ = seen;
}

void HdlcDecoder::feed(std::span<const std::byte> bytes, const Sink& sink) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const uint8_t* const end = p + bytes.size();
  if (rbits_ != kRcvBits) note_rbits(p, bytes.size());
  while (p < end) {
    if (toss_) {
      // Nothing of a tossed frame matters but where it ends.
      const auto* flag =
          static_cast<const uint8_t*>(std::memchr(p, PPP_FLAG, static_cast<size_t>(end - p)));
      if (!flag) break;
      p = flag + 1;
      end_frame(sink);
      continue;
    }
    // Bulk copy inside a frame; its first byte and every byte the state
    // machine must see go through step().
    if (len_ > 0 && !escape_) {
      const size_t room = limit_ + kSlack - len_;
      const auto n = static_cast<size_t>(end - p);
      size_t produced;
      size_t used;
#if defined(__x86_64__)
      if (simd_ == Simd::avx2)
        used = hdlc_avx2::unescape(p, n, tail(), room, special_, &produced);
      else
#endif
        used = unescape_portable(p, n, tail(), room, special_, &produced);
      p += used;
      len_ += produced;
      if (len_ > limit_) {
        toss_ = true;
        continue;
      }
      if (p == end) break;
    }
    step(*p++, sink);
  }
}

void HdlcDecoder::step(uint8_t c, const Sink& sink) {
  if (escape_ && c == PPP_ESCAPE) {
    // As the kernel: an escape right after an escape is data.
    stuff(c ^ PPP_TRANS);
  } else if (c == PPP_FLAG) {
    end_frame(sink);
  } else if (c == PPP_ESCAPE) {
    escape_ = true;
  } else if (c < 0x20 && ((raccm_ >> c) & 1)) {
    // Inserted by the line (flow control, modem noise); an escape before it
    // still applies to the byte after.
  } else {
    stuff(escape_ ? c ^ PPP_TRANS : c);
  }
}

void HdlcDecoder::stuff(uint8_t c) {
  if (len_ == 0) {
    // The kernel allocates mru + PPP_HDRLEN + 2 bytes per frame and reserves
    // 2 or 3 of them when the first byte is not the address, so the
    // information field may be mru bytes whatever the header (mru + 1 with
    // address/control and a compressed protocol). The kernel looks at the
    // first byte before unescaping it, and its allocator rounds the buffer
    // up; here the byte is the unescaped one and the size exact.
    const size_t reserve = c == kAddress ? 0 : 2 + (c & 1);
    limit_ = static_cast<size_t>(mru_) + PPP_HDRLEN + PPP_FCSLEN - reserve;
  }
  if (len_ >= limit_) {
    toss_ = true;
    return;
  }
  buf_[kHead + len_++] = c;
  escape_ = false;
}

void HdlcDecoder::drop(HdlcError error, const Sink& sink) {
  len_ = 0;
  toss_ = escape_ = false;
  prev_error_ = true;
  switch (error) {
    case HdlcError::aborted:
      ++stats_.aborted;
      break;
    case HdlcError::oversized:
      ++stats_.oversized;
      break;
    case HdlcError::too_short:
      ++stats_.too_short;
      break;
    case HdlcError::bad_fcs:
      ++stats_.bad_fcs;
      break;
    case HdlcError::bad_control:
      ++stats_.bad_control;
      break;
  }
  sink.error(sink.error_ctx, error);
}

void HdlcDecoder::end_frame(const Sink& sink) {
  if (toss_ || escape_) return drop(toss_ ? HdlcError::oversized : HdlcError::aborted, sink);
  if (len_ == 0) return;  // back-to-back flags, or only ignored characters
  uint8_t* p = buf_.data() + kHead;
  size_t n = len_;
  if (n < 3) return drop(HdlcError::too_short, sink);
  if (fcs16(PPP_INITFCS, std::as_bytes(std::span(p, n)), simd_) != PPP_GOODFCS)
    return drop(HdlcError::bad_fcs, sink);
  n -= PPP_FCSLEN;
  // Address/control may be absent (negotiated away, or a peer that omits
  // it anyway): accepted either way, as the kernel does.
  if (p[0] == kAddress) {
    if (n < 3) return drop(HdlcError::too_short, sink);
    if (p[1] != kControl) return drop(HdlcError::bad_control, sink);
    p += 2;
    n -= 2;
  }
  // A protocol field's last byte is odd, its first even: an odd first byte
  // is a compressed protocol, which regains its zero.
  if (p[0] & 1) {
    *--p = 0;
    ++n;
  } else if (n < 2) {
    return drop(HdlcError::too_short, sink);
  }
  const bool after_error = prev_error_;
  prev_error_ = false;
  len_ = 0;
  ++stats_.frames;
  sink.frame(sink.frame_ctx, std::as_bytes(std::span(p, n)), after_error);
}

}  // namespace cusenet
