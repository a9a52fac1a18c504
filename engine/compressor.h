#pragma once
// CCP compression methods, one state per direction, as the kernel's struct
// compressor (include/linux/ppp-comp.h) but on this layer's frames: a 2-byte
// protocol followed by the payload. A unit holds one transmit and one receive
// state, set by PPPIOCSCOMPRESS and enabled by SC_COMP_RUN/SC_DECOMP_RUN.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace cusenet {

constexpr uint16_t kPppCompressed = 0x00fd;  // PPP_COMP: a CCP-compressed frame
constexpr uint16_t kPppCcp = 0x80fd;

// As struct compstat: what pppd's `ppp_comp_stats` would show.
struct CompStats {
  uint64_t unc_bytes = 0, unc_packets = 0;    // sent or received uncompressed
  uint64_t comp_bytes = 0, comp_packets = 0;  // after compression / before decompression
  uint64_t inc_bytes = 0, inc_packets = 0;    // incompressible
  uint64_t in_count = 0, bytes_out = 0;
};

class Compressor {
 public:
  virtual ~Compressor() = default;
  // options: the CCP configuration option as pppd passes it (type, length,
  // data); unit: the PPP unit, for logs. false when the options are refused.
  virtual bool init(std::span<const uint8_t> options, int unit, int debug) = 0;
  virtual void reset() = 0;
  // frame: protocol + payload. Writes a PPP_COMP frame (0x00fd + compressed
  // data) into out and returns its length; 0 when the frame should go out
  // uncompressed (incompressible or too large); never more than out.size().
  virtual size_t compress(std::span<const std::byte> frame, std::span<std::byte> out) = 0;
  virtual CompStats stats() const = 0;
};

class Decompressor {
 public:
  virtual ~Decompressor() = default;
  static constexpr int kError = -1;       // DECOMP_ERROR: recoverable, send CCP Reset-Request
  static constexpr int kFatalError = -2;  // DECOMP_FATALERROR: take CCP down

  virtual bool init(std::span<const uint8_t> options, int unit, int mru, int debug) = 0;
  virtual void reset() = 0;
  // frame: 0x00fd + compressed data. Writes protocol + payload into out and
  // returns its length, or kError / kFatalError.
  virtual int decompress(std::span<const std::byte> frame, std::span<std::byte> out) = 0;
  // An uncompressed frame received while decompressing: update the history.
  virtual void incomp(std::span<const std::byte> frame) = 0;
  virtual CompStats stats() const = 0;
};

// The methods this engine knows, selected by the CCP option type in
// options[0] (CI_DEFLATE 26, CI_DEFLATE_DRAFT 24, CI_BSD_COMPRESS 21).
// nullptr when the type is unknown or the options are not acceptable, which
// PPPIOCSCOMPRESS reports as EINVAL so pppd disables that method.
std::unique_ptr<Compressor> make_compressor(std::span<const uint8_t> options);
std::unique_ptr<Decompressor> make_decompressor(std::span<const uint8_t> options);

}  // namespace cusenet
