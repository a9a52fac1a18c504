// CCP Deflate (RFC 1979) as the kernel's ppp_deflate: a 2-byte sequence
// number, then the frame's protocol (one byte when its high byte is 0) and
// payload deflated with a sync flush whose empty stored block's LEN/NLEN
// (00 00 ff ff) is not sent. That is the kernel's Z_PACKET_FLUSH, which only
// its own zlib has; the receiver puts the four bytes back.
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "core/log.h"
#include "engine/ccp_methods.h"

namespace cusenet {
namespace {

constexpr size_t kCiLenDeflate = 4;
constexpr int kMethodDeflated = 8;
constexpr int kMinWindow = 9, kMaxWindow = 15;  // ppp_deflate refuses 8, which zlib turns into 9
constexpr uint8_t kCheckSequence = 0;
constexpr int kMemLevel = 8;
constexpr size_t kHeader = 4;  // PPP_COMP protocol + sequence number
// The kernel's frames keep the address and control bytes, and its
// statistics count them.
constexpr uint64_t kAddressControl = 2;
constexpr std::array<Bytef, 4> kSyncTail = {0x00, 0x00, 0xff, 0xff};

int window_bits(uint8_t opt) { return (opt >> 4) + 8; }

// The option as z_comp_alloc/z_decomp_alloc (exact length) or
// z_comp_init/z_decomp_init (at least that long, same window) accept it.
bool option_fits(std::span<const uint8_t> o, bool exact, int window) {
  if (exact ? o.size() != kCiLenDeflate : o.size() < kCiLenDeflate) return false;
  if (o[0] != kCiDeflate && o[0] != kCiDeflateDraft) return false;
  if (o[1] != kCiLenDeflate || (o[2] & 0x0f) != kMethodDeflated || o[3] != kCheckSequence)
    return false;
  const int w = window_bits(o[2]);
  return window == 0 ? (w >= kMinWindow && w <= kMaxWindow) : w == window;
}

uint16_t protocol(std::span<const std::byte> frame) {
  return static_cast<uint16_t>(std::to_integer<unsigned>(frame[0]) << 8 |
                               std::to_integer<unsigned>(frame[1]));
}

// Protocols ppp_deflate leaves alone: control protocols and compressed ones.
bool handled(uint16_t proto) { return proto <= 0x3fff && proto != 0xfd && proto != 0xfb; }

// The bytes that go into the history: the protocol's leading zero is left out.
std::span<const std::byte> history_bytes(std::span<const std::byte> frame) {
  return frame.subspan(protocol(frame) > 0xff ? 0 : 1);
}

class DeflateCompressor final : public Compressor {
 public:
  explicit DeflateCompressor(int window) : window_(window) {}
  ~DeflateCompressor() override {
    if (ready_) deflateEnd(&strm_);
  }

  bool start() {
    ready_ = deflateInit2(&strm_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -window_, kMemLevel,
                          Z_DEFAULT_STRATEGY) == Z_OK;
    return ready_;
  }

  bool init(std::span<const uint8_t> options, int unit, int) override {
    if (!option_fits(options, false, window_)) {
      CN_LOG(ppp, debug) << "unit " << unit << ": deflate compressor options do not match";
      return false;
    }
    unit_ = unit;
    reset();
    return true;
  }

  void reset() override {
    seqno_ = 0;
    deflateReset(&strm_);
  }

  size_t compress(std::span<const std::byte> frame, std::span<std::byte> out) override {
    if (frame.size() < 2 || !handled(protocol(frame))) return 0;
    const uint16_t seq = seqno_++;
    const auto in = history_bytes(frame);
    // The whole frame goes through deflate even when the result is not
    // sent: the peer's incomp() adds it to its history all the same.
    size_t produced = 0;
    if (!run_deflate(in, &produced)) return 0;
    const size_t len = kHeader + produced - kSyncTail.size();
    const uint64_t isize = frame.size() + kAddressControl;
    CompCounters::add(stats_.unc_bytes, isize);
    CompCounters::add(stats_.unc_packets, 1);
    if (len >= frame.size() || len > out.size()) {
      CompCounters::add(stats_.inc_bytes, isize);
      CompCounters::add(stats_.inc_packets, 1);
      return 0;
    }
    CompCounters::add(stats_.comp_bytes, len + kAddressControl);
    CompCounters::add(stats_.comp_packets, 1);
    auto* o = reinterpret_cast<uint8_t*>(out.data());
    o[0] = kPppCompressed >> 8;
    o[1] = kPppCompressed & 0xff;
    o[2] = static_cast<uint8_t>(seq >> 8);
    o[3] = static_cast<uint8_t>(seq);
    std::memcpy(o + kHeader, scratch_.data(), len - kHeader);
    return len;
  }

  CompStats stats() const override { return stats_.snapshot(); }

 private:
  // Deflates in with a sync flush into scratch_; *produced includes the
  // 00 00 ff ff tail, which is checked.
  bool run_deflate(std::span<const std::byte> in, size_t* produced) {
    strm_.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
    strm_.avail_in = static_cast<uInt>(in.size());
    // Room for all of it at once: a second call after the output filled up
    // exactly would add another, redundant flush marker.
    const size_t bound = deflateBound(&strm_, static_cast<uLong>(in.size())) + 64;
    if (scratch_.size() < bound) scratch_.resize(bound);
    for (;;) {
      strm_.next_out = scratch_.data() + *produced;
      strm_.avail_out = static_cast<uInt>(scratch_.size() - *produced);
      const int r = deflate(&strm_, Z_SYNC_FLUSH);
      *produced = scratch_.size() - strm_.avail_out;
      if (r != Z_OK) {
        CN_LOG_LIMITED(ppp, warning, unit_) << "unit " << unit_ << ": deflate returned " << r;
        return false;
      }
      if (strm_.avail_out != 0) break;
      scratch_.resize(scratch_.size() * 2);
    }
    if (*produced < kSyncTail.size() ||
        !std::equal(kSyncTail.begin(), kSyncTail.end(),
                    scratch_.begin() + static_cast<ptrdiff_t>(*produced - kSyncTail.size()))) {
      CN_LOG_LIMITED(ppp, warning, unit_) << "unit " << unit_ << ": deflate output does not end in a sync flush";
      return false;
    }
    return true;
  }

  const int window_;
  bool ready_ = false;
  int unit_ = -1;
  uint16_t seqno_ = 0;
  z_stream strm_{};
  std::vector<Bytef> scratch_;
  CompCounters stats_;
};

class DeflateDecompressor final : public Decompressor {
 public:
  explicit DeflateDecompressor(int window) : window_(window) {}
  ~DeflateDecompressor() override {
    if (ready_) inflateEnd(&strm_);
  }

  bool start() {
    ready_ = inflateInit2(&strm_, -window_) == Z_OK;
    return ready_;
  }

  bool init(std::span<const uint8_t> options, int unit, int, int) override {
    if (!option_fits(options, false, window_)) {
      CN_LOG(ppp, debug) << "unit " << unit << ": deflate decompressor options do not match";
      return false;
    }
    unit_ = unit;
    reset();
    return true;
  }

  void reset() override {
    seqno_ = 0;
    inflateReset(&strm_);
    at_block_start_ = true;
  }

  // out.size() bounds protocol + payload, as the kernel's mru + PPP_HDRLEN
  // buffer bounds the frame with its address and control bytes.
  int decompress(std::span<const std::byte> frame, std::span<std::byte> out) override {
    if (frame.size() <= kHeader || out.size() < 2) {
      CN_LOG(ppp, debug) << "unit " << unit_ << ": deflate: short packet (" << frame.size() << ")";
      return kError;
    }
    const auto* in = reinterpret_cast<const uint8_t*>(frame.data());
    const uint16_t seq = static_cast<uint16_t>(in[2] << 8 | in[3]);
    if (seq != seqno_) {
      CN_LOG(ppp, debug) << "unit " << unit_ << ": deflate: bad seq # " << seq << ", expected "
                         << seqno_;
      return kError;
    }
    ++seqno_;

    auto* o = reinterpret_cast<Bytef*>(out.data());
    strm_.next_in = const_cast<Bytef*>(in + kHeader);
    strm_.avail_in = static_cast<uInt>(frame.size() - kHeader);
    // One byte first: its low bit tells a 1-byte protocol from the first
    // byte of a 2-byte one.
    o[0] = 0;
    strm_.next_out = o + 1;
    strm_.avail_out = 1;
    if (!inflate_step()) return fatal();
    size_t len = 0;
    if (strm_.avail_out == 0) {
      if ((o[1] & 1) == 0) {
        o[0] = o[1];
        strm_.next_out = o + 1;
      } else {
        strm_.next_out = o + 2;
      }
      strm_.avail_out = static_cast<uInt>(out.size() - static_cast<size_t>(strm_.next_out - o));
      if (!inflate_step()) return fatal();
      len = static_cast<size_t>(strm_.next_out - o);
      if (strm_.avail_out == 0) {
        // Full: one more byte of room tells whether there is more.
        Bytef overflow = 0;
        strm_.next_out = &overflow;
        strm_.avail_out = 1;
        if (!inflate_step()) return fatal();
        if (strm_.avail_out == 0) {
          CN_LOG(ppp, debug) << "unit " << unit_ << ": deflate: ran out of mru";
          return fatal();
        }
      }
    }
    if (!ends_at_flush()) return fatal();
    if (len < 2) {
      CN_LOG(ppp, debug) << "unit " << unit_ << ": deflate: didn't get proto";
      return kError;
    }
    CompCounters::add(stats_.unc_bytes, len + kAddressControl);
    CompCounters::add(stats_.unc_packets, 1);
    CompCounters::add(stats_.comp_bytes, frame.size() + kAddressControl);
    CompCounters::add(stats_.comp_packets, 1);
    return static_cast<int>(len);
  }

  void incomp(std::span<const std::byte> frame) override {
    if (frame.size() < 2 || !handled(protocol(frame))) return;
    ++seqno_;
    // zlib_inflateIncomp only works between blocks, where every good packet
    // leaves the stream.
    if (!at_block_start_) {
      CN_LOG(ppp, debug) << "unit " << unit_ << ": deflate: incomp in the middle of a block";
      return;
    }
    const auto in = history_bytes(frame);
    const int r = inflateSetDictionary(&strm_, reinterpret_cast<const Bytef*>(in.data()),
                                       static_cast<uInt>(in.size()));
    if (r != Z_OK) {
      CN_LOG(ppp, debug) << "unit " << unit_ << ": deflate: adding to the history returned " << r;
      return;
    }
    const uint64_t icnt = frame.size() + kAddressControl;
    CompCounters::add(stats_.inc_bytes, icnt);
    CompCounters::add(stats_.inc_packets, 1);
    CompCounters::add(stats_.unc_bytes, icnt);
    CompCounters::add(stats_.unc_packets, 1);
  }

  CompStats stats() const override { return stats_.snapshot(); }

 private:
  // Z_BUF_ERROR only says no progress was possible, which is not an error
  // here.
  bool inflate_step() {
    const int r = inflate(&strm_, Z_SYNC_FLUSH);
    if (r == Z_OK || r == Z_BUF_ERROR) return true;
    CN_LOG(ppp, debug) << "unit " << unit_ << ": deflate: inflate returned " << r << " ("
                       << (strm_.msg ? strm_.msg : "") << ")";
    return false;
  }

  // The kernel's inflate insists that a packet ends just after the header
  // of the stripped empty stored block. Feeding it the missing LEN/NLEN
  // must then consume them, produce nothing and leave the stream between
  // blocks on a byte boundary.
  bool ends_at_flush() {
    if (strm_.avail_in != 0) return false;
    Bytef sink = 0;
    strm_.next_in = const_cast<Bytef*>(kSyncTail.data());
    strm_.avail_in = kSyncTail.size();
    strm_.next_out = &sink;
    strm_.avail_out = 1;
    const int r = inflate(&strm_, Z_SYNC_FLUSH);
    constexpr int kBetweenBlocks = 128;  // data_type: mode TYPE, no bits held
    if (r == Z_OK && strm_.avail_in == 0 && strm_.avail_out == 1 &&
        strm_.data_type == kBetweenBlocks)
      return true;
    CN_LOG(ppp, debug) << "unit " << unit_ << ": deflate: packet does not end at a flush point";
    return false;
  }

  int fatal() {
    at_block_start_ = false;
    return kFatalError;
  }

  const int window_;
  bool ready_ = false;
  bool at_block_start_ = true;
  int unit_ = -1;
  uint16_t seqno_ = 0;
  z_stream strm_{};
  CompCounters stats_;
};

template <typename T>
std::unique_ptr<T> started(std::unique_ptr<T> s) {
  if (s->start()) return s;
  CN_LOG(ppp, warning) << "deflate: zlib could not allocate its state";
  return nullptr;
}

}  // namespace

std::unique_ptr<Compressor> make_deflate_compressor(std::span<const uint8_t> options) {
  if (!option_fits(options, true, 0)) {
    CN_LOG(ppp, debug) << "deflate: option refused";
    return nullptr;
  }
  return started(std::make_unique<DeflateCompressor>(window_bits(options[2])));
}

std::unique_ptr<Decompressor> make_deflate_decompressor(std::span<const uint8_t> options) {
  if (!option_fits(options, true, 0)) {
    CN_LOG(ppp, debug) << "deflate: option refused";
    return nullptr;
  }
  return started(std::make_unique<DeflateDecompressor>(window_bits(options[2])));
}

}  // namespace cusenet
