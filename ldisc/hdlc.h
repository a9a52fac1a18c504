#pragma once
// Asynchronous HDLC-like framing (RFC 1662) as the kernel's N_PPP line
// discipline does it (drivers/net/ppp/ppp_async.c): frames at the channel
// interface are the 2-byte protocol + payload; on the tty they are
// address/control, protocol, payload and FCS-16, byte-stuffed under an ACCM
// and delimited by flags.
#include <linux/ppp-ioctl.h>  // SC_COMP_AC, SC_COMP_PROT, SC_RCV_*
#include <linux/ppp_defs.h>   // PPP_FLAG, PPP_ESCAPE, PPP_TRANS, PPP_MRU, PPP_LCP

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

#include "ldisc/byte_set.h"
#include "ldisc/simd.h"

namespace cusenet {

// The transmit ACCM: which byte values go out escaped (0x7d, value ^ 0x20).
class TxAccm {
 public:
  // PPPIOCSASYNCMAP: the 32 control characters (word 0 of the extended map).
  void set_async_map(uint32_t map);
  // PPPIOCSXASYNCMAP: all 256 values. As the kernel, forces 0x7d and 0x7e in
  // and 0x5e out (escaped it would read 7d 7e, the abort sequence).
  void set_extended_map(const std::array<uint32_t, 8>& map);

  // PPPIOCGXASYNCMAP; word 0 is PPPIOCGASYNCMAP.
  const std::array<uint32_t, 8>& words() const { return words_; }
  // The bytes escaped in ordinary frames, and in LCP configuration frames,
  // which escape every control character whatever was negotiated.
  const ByteSet& escaped() const { return escaped_; }
  const ByteSet& escaped_lcp() const { return escaped_lcp_; }

 private:
  static std::array<uint32_t, 8> with_controls(std::array<uint32_t, 8> words) {
    words[0] = ~0u;
    return words;
  }
  void rebuild();

  // The kernel's initial map: every control character, 0x7d and 0x7e.
  std::array<uint32_t, 8> words_{~0u, 0, 0, 0x60000000u, 0, 0, 0, 0};
  ByteSet escaped_{words_}, escaped_lcp_{with_controls(words_)};
};

struct TxConfig {
  TxAccm accm;
  // PPPIOCSFLAGS; SC_COMP_AC and SC_COMP_PROT matter here.
  uint32_t flags = 0;
};

// The kernel's flag_time (module parameter, default one second): a frame
// opens with its own flag only when the line has been idle that long;
// otherwise it shares the previous frame's closing flag. Zero: always.
class FlagTime {
 public:
  using Clock = std::chrono::steady_clock;
  explicit FlagTime(Clock::duration flag_time = std::chrono::seconds(1)) : flag_time_(flag_time) {}

  // Whether a frame sent at now needs an opening flag; records now as the
  // last transmission either way.
  bool opening_flag(Clock::time_point now);

 private:
  Clock::duration flag_time_;
  std::optional<Clock::time_point> last_xmit_;
};

// Bytes an encoded frame of frame_len bytes can take at most: two flags,
// and every other byte (address, control, frame, FCS) escaped.
constexpr size_t hdlc_max_encoded(size_t frame_len) { return 2 * (2 + frame_len + 2) + 2; }

// Encodes frame (protocol + payload) into out as ppp_async_encode does and
// returns the bytes written; 0 if out is smaller than
// hdlc_max_encoded(frame.size()). opening_flag: the line has been idle (see
// FlagTime); LCP configuration frames (codes 1-7) always get one, and are
// sent with address/control and every control character escaped.
size_t hdlc_encode(std::span<const std::byte> frame, const TxConfig& config, bool opening_flag,
                   std::span<std::byte> out, Simd simd = simd_best());

// Why a received frame was dropped.
enum class HdlcError {
  aborted,      // 0x7d then the closing flag (RFC 1662 abort sequence)
  oversized,    // longer than the MRU allows
  too_short,    // fewer than 3 bytes, or no protocol after address/control
  bad_fcs,      // FCS check failed
  bad_control,  // address 0xff not followed by control 0x03
};
const char* hdlc_error_name(HdlcError error);

struct HdlcRxStats {
  uint64_t frames = 0;  // delivered
  uint64_t aborted = 0, oversized = 0, too_short = 0, bad_fcs = 0, bad_control = 0;
  uint64_t errors() const { return aborted + oversized + too_short + bad_fcs + bad_control; }
};

// Receives bytes from the tty in whatever chunks they arrive and hands back
// whole frames as ppp_async_input and process_input_packet do.
class HdlcDecoder {
 public:
  // The kernel asks for an MRU-sized buffer; far larger values could not be
  // allocated there and are held to this here.
  static constexpr int kMaxMru = 65535;

  explicit HdlcDecoder(Simd simd = simd_best());

  // PPPIOCSMRU (after its clamp to >= PPP_MRU, which is the ioctl's) or the
  // LCP peek: the information field a frame may carry. Held to
  // [0, kMaxMru]; a frame already being received keeps its limit.
  void set_mru(int mru);
  int mru() const { return mru_; }
  // PPPIOCSRASYNCMAP: control characters received unescaped are dropped
  // when their bit is set (they were inserted by the line, not the peer).
  void set_raccm(uint32_t raccm);
  uint32_t raccm() const { return raccm_; }
  // The SC_RCV_B7_0/B7_1/EVNP/ODDP bits seen on received bytes, for
  // PPPIOCGFLAGS; PPPIOCSFLAGS sets them (to clear them, typically).
  uint32_t rbits() const { return rbits_; }
  void set_rbits(uint32_t rbits) { rbits_ = rbits & kRcvBits; }

  const HdlcRxStats& stats() const { return stats_; }

  // Feeds bytes read from the tty. Calls on_frame(std::span<const std::byte>
  // frame, bool after_error) for each good frame (protocol + payload,
  // address/control removed, a compressed protocol expanded; valid during
  // the call), and on_error(HdlcError) for each dropped frame. after_error:
  // frames were dropped since the last good one; the kernel calls
  // ppp_input_error once, just before delivering this frame. Setters may be
  // called from the callbacks and apply from the next byte on; feed may not.
  template <class OnFrame, class OnError>
  void feed(std::span<const std::byte> bytes, OnFrame&& on_frame, OnError&& on_error) {
    using F = std::remove_reference_t<OnFrame>;
    using E = std::remove_reference_t<OnError>;
    Sink sink{const_cast<void*>(static_cast<const void*>(std::addressof(on_frame))),
              const_cast<void*>(static_cast<const void*>(std::addressof(on_error))),
              [](void* f, std::span<const std::byte> frame, bool after_error) {
                (*static_cast<F*>(f))(frame, after_error);
              },
              [](void* e, HdlcError error) { (*static_cast<E*>(e))(error); }};
    feed(bytes, sink);
  }

 private:
  static constexpr uint32_t kRcvBits = SC_RCV_B7_0 | SC_RCV_B7_1 | SC_RCV_EVNP | SC_RCV_ODDP;
  // Room after the frame's limit for the SIMD path's whole-block stores.
  static constexpr size_t kSlack = 32;
  // One byte before the frame for the 0x00 of a compressed protocol.
  static constexpr size_t kHead = 1;

  struct Sink {
    void* frame_ctx;
    void* error_ctx;
    void (*frame)(void*, std::span<const std::byte>, bool);
    void (*error)(void*, HdlcError);
  };

  void feed(std::span<const std::byte> bytes, const Sink& sink);
  void note_rbits(const uint8_t* p, size_t n);
  void step(uint8_t c, const Sink& sink);
  void stuff(uint8_t c);
  void end_frame(const Sink& sink);
  void drop(HdlcError error, const Sink& sink);
  uint8_t* tail() { return buf_.data() + kHead + len_; }

  Simd simd_;
  int mru_ = PPP_MRU;
  uint32_t raccm_ = ~0u;
  uint32_t rbits_ = 0;
  // The bytes the receiver acts on: flag, escape and the ignored controls.
  ByteSet special_;
  std::vector<uint8_t> buf_;
  size_t len_ = 0;    // unescaped bytes of the frame so far
  size_t limit_ = 0;  // most bytes this frame may have, fixed at its first
  bool escape_ = false, toss_ = false, prev_error_ = false;
  HdlcRxStats stats_;
};

}  // namespace cusenet
